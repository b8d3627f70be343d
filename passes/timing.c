/* timing.c: how long the reads of a placement take, and what it costs in tiles
 * (passes/pack.h, passes/mapping.h; docs/mapping.md "Timing").
 *
 * The one timing model of xbarc, used by the packer, the replication search
 * and the mapping report.  A step is one read of a tile with one DAC cycle of
 * inputs.  A block reads each of its input vectors in `cycles` steps, so its
 * work per run is (its copy's vectors) x cycles.  Blocks of one tile that
 * share a row, or a group of cols_per_adc columns (one ADC), cannot be read
 * together: they take turns, and each one's period is its own work plus the
 * work of every block it conflicts with (a conservative round: the tile serves
 * them one after another).  Blocks on disjoint rows and ADC groups read in the
 * same step, and tiles work in parallel.  A layer's stage time is the largest
 * period of its blocks; layers form a pipeline whose throughput is set by the
 * slowest stage (the period), and whose latency is the sum of the stages. */
#include "passes/mapping.h"

#include <stdlib.h>
#include <string.h>

static bool overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    return a0 < b1 && b0 < a1;
}

bool pack_conflict(const PackParams *params, const PackBlock *a, const PackSpot *sa, const PackBlock *b,
                   const PackSpot *sb)
{
    if (sa->tile != sb->tile)
        return false;
    if (overlap(sa->row, sa->row + a->rows, sb->row, sb->row + b->rows))
        return true;
    int per_adc = params->cols_per_adc > 0 ? params->cols_per_adc : 1;
    return overlap(sa->col / per_adc, (sa->col + a->cols - 1) / per_adc + 1, sb->col / per_adc,
                   (sb->col + b->cols - 1) / per_adc + 1);
}

static const PackSpot *sort_spots;

static int by_tile(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_spots[i].tile != sort_spots[j].tile)
        return sort_spots[i].tile < sort_spots[j].tile ? -1 : 1;
    return i - j;
}

void pack_periods(const PackParams *params, const PackBlock *blocks, const PackSpot *spots, int n, int64_t *period)
{
    Arena *scratch = arena_new();
    int *order = arena_array(scratch, (size_t)(n ? n : 1), sizeof(int));
    for (int i = 0; i < n; i++) {
        order[i] = i;
        period[i] = blocks[i].work;
    }
    sort_spots = spots;
    qsort(order, (size_t)n, sizeof(int), by_tile);
    for (int start = 0; start < n;) {
        int end = start;
        while (end < n && spots[order[end]].tile == spots[order[start]].tile)
            end++;
        for (int i = start; i < end; i++)
            for (int j = i + 1; j < end; j++)
                if (pack_conflict(params, &blocks[order[i]], &spots[order[i]], &blocks[order[j]], &spots[order[j]])) {
                    period[order[i]] += blocks[order[j]].work;
                    period[order[j]] += blocks[order[i]].work;
                }
        start = end;
    }
    arena_free(scratch);
}

/* ---- a placed graph ---- */

int64_t mapping_lower_bound(const Graph *g)
{
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    MapBlocks mb;
    int64_t cells = 0, bound = 0;
    if (mapping_blocks(arena, g, "lower bound", &mb, &diags)) {
        for (int l = 0; l < mb.n_layers; l++)
            cells += mb.layers[l].cells * mb.layers[l].replicas;
        int64_t tile = (int64_t)mb.arch->rows * mb.arch->cols;
        bound = (cells + tile - 1) / tile;
    }
    arena_free(arena);
    return bound;
}

bool mapping_stats(Arena *arena, const Graph *g, MappingStats *s, Diags *diags)
{
    memset(s, 0, sizeof *s);
    MapBlocks mb;
    if (!mapping_blocks(arena, g, "mapping stats", &mb, diags))
        return false;
    const Arch *arch = mb.arch;
    PackSpot *spots = arena_array(arena, (size_t)mb.n_blocks + 1, sizeof(PackSpot));
    for (int l = 0; l < mb.n_layers; l++) {
        const MapLayer *L = &mb.layers[l];
        const Attr *place = mapping_need(L->op, "mapping stats", "place", ATTR_INTS, diags);
        int64_t blocks = L->replicas * L->n_blocks;
        if (!place)
            return false;
        if (place->count != 3 * blocks) {
            diag_error(diags, &L->op->loc, "mapping stats: xbar %%%s has %lld blocks but 'place' holds %d values "
                       "(rerun place)", ir_name_text(diags->arena, L->op->result->name), (long long)blocks,
                       place->count);
            return false;
        }
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t *v = &place->ints[3 * b];
            if (v[0] < 0 || v[0] > 4 * (int64_t)mb.n_blocks + 1024 || v[1] < 0 || v[2] < 0 || v[1] > arch->rows ||
                v[2] > arch->cols) {
                diag_error(diags, &L->op->loc, "mapping stats: xbar %%%s: block %lld is placed at tile %lld (%lld, "
                           "%lld), outside the tiles a placement uses (rerun place)",
                           ir_name_text(diags->arena, L->op->result->name), (long long)b, (long long)v[0],
                           (long long)v[1], (long long)v[2]);
                return false;
            }
            spots[L->first_block + b] = (PackSpot){v[0], (int)v[1], (int)v[2]};
        }
    }
    PackParams params = {.rows = arch->rows, .cols = arch->cols, .cols_per_adc = arch->cols_per_adc};
    int64_t *period = arena_array(arena, (size_t)mb.n_blocks + 1, sizeof(int64_t));
    pack_periods(&params, mb.blocks, spots, mb.n_blocks, period);

    /* Tiles in use, overall and per layer (a tile counts once per layer). */
    int64_t max_tile = -1;
    for (int b = 0; b < mb.n_blocks; b++)
        max_tile = spots[b].tile > max_tile ? spots[b].tile : max_tile;
    int *seen = arena_array(arena, (size_t)(max_tile + 2), sizeof(int));   /* last layer + 1 seen on it */
    bool *used = arena_array(arena, (size_t)(max_tile + 2), sizeof(bool));

    s->n_layers = mb.n_layers;
    s->ops = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(Op *));
    s->replicas = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    s->stage = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    s->stage_free = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    s->layer_tiles = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    s->layer_cells = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    for (int l = 0; l < mb.n_layers; l++) {
        const MapLayer *L = &mb.layers[l];
        s->ops[l] = L->op;
        s->replicas[l] = L->replicas;
        s->layer_cells[l] = L->cells * L->replicas;
        s->cells += s->layer_cells[l];
        s->blocks += L->replicas * L->n_blocks;
        for (int64_t b = L->first_block; b < L->first_block + L->replicas * L->n_blocks; b++) {
            const PackSpot *sp = &spots[b];
            if (sp->tile >= 0 && seen[sp->tile] != l + 1) {
                seen[sp->tile] = l + 1;
                s->layer_tiles[l]++;
            }
            if (sp->tile >= 0 && !used[sp->tile]) {
                used[sp->tile] = true;
                s->tiles++;
            }
            s->stage[l] = period[b] > s->stage[l] ? period[b] : s->stage[l];
            s->stage_free[l] = mb.blocks[b].work > s->stage_free[l] ? mb.blocks[b].work : s->stage_free[l];
        }
        int64_t single = L->vectors * L->cycles;
        s->period_single = single > s->period_single ? single : s->period_single;
        s->period = s->stage[l] > s->period ? s->stage[l] : s->period;
        s->period_free = s->stage_free[l] > s->period_free ? s->stage_free[l] : s->period_free;
        s->latency += s->stage[l];
        s->latency_free += s->stage_free[l];
    }
    if (arch->tiles > 0) {
        ReplLayer *rl = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(ReplLayer));
        for (int l = 0; l < mb.n_layers; l++)
            rl[l] = (ReplLayer){mb.layers[l].vectors, mb.layers[l].cycles, mb.layers[l].n_blocks,
                                &mb.blocks[mb.layers[l].first_block]};
        s->period_bound = repl_turn_bound(arena, &params, rl, mb.n_layers, arch->tiles);
        s->speedup_bound = s->period_bound > 0 ? (double)s->period_single / (double)s->period_bound : 0.0;
    }
    int64_t tile_cells = (int64_t)arch->rows * arch->cols;
    s->lower_bound = (s->cells + tile_cells - 1) / tile_cells;
    s->utilization = s->tiles ? (double)s->cells / ((double)s->tiles * (double)tile_cells) : 0.0;
    s->speedup = s->period_free ? (double)s->period_single / (double)s->period_free : 1.0;
    s->speedup_placed = s->period ? (double)s->period_single / (double)s->period : 1.0;
    return true;
}
