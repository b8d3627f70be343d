/* place.c: pass `place{packing=none|dense|balanced}`, blocks onto tiles.
 *
 * docs/crossbar.md section 6, docs/mapping.md.  Every block of every xbar op
 * (copies of a replicated op included, numbered replica-major) gets
 * `place` = [tile, row offset, column offset] per block.
 *
 * - none (the default): every block on its own tile at (0, 0), tiles numbered
 *   consecutively across the graph in op order.  Obviously right; it wastes
 *   the tile space small blocks leave.
 * - dense: the fewest tiles; blocks of any layers and copies share tiles
 *   (pack.c), groups of one layer block-diagonally.  Blocks that share rows or
 *   ADCs then take turns, which may slow stages: the mapping statistics
 *   (timing.c) report by how much.
 * - balanced: pack too, but only where no block's period grows past the
 *   slowest stage of the unpacked mapping (blocks of faster layers may take
 *   turns within their slack), so the pipeline's throughput is that of
 *   `none`.
 *
 * Packed tiles are renumbered in order of their first block, so tile numbers
 * still grow through the graph.  The pass checks that each block fits a
 * crossbar (split guarantees it, a hand-written .xir may not) and that the
 * graph stays within the architecture's tile budget when it has one. */
#include "passes/mapping.h"
#include "passes/passes.h"

/* Checks every block of `op` against the crossbar; false after an error. */
static bool blocks_fit(const Op *op, const Arch *arch, Diags *diags)
{
    SignMapping sign;
    if (!mapping_sign(op, "place", &sign, diags))
        return false;
    const Attr *slices = mapping_need(op, "place", "slices", ATTR_INT, diags);
    const Attr *rows = mapping_need(op, "place", "row_splits", ATTR_INTS, diags);
    const Attr *cols = mapping_need(op, "place", "col_splits", ATTR_INTS, diags);
    if (!slices || !rows || !cols)
        return false;
    int S = (int)slices->i;
    for (int rb = 0; rb + 1 < rows->count; rb++) {
        for (int cb = 0; cb + 1 < cols->count; cb++) {
            int64_t r = rows->ints[rb + 1] - rows->ints[rb];
            int64_t c = (cols->ints[cb + 1] - cols->ints[cb]) * S * cell_polarities(sign) +
                        cell_ref_cols(sign, S);
            if (r > arch->rows || c > arch->cols) {
                diag_error(diags, &op->loc, "place: xbar %%%s: row block %d x column block %d is %lld rows x "
                           "%lld physical columns, larger than the %d x %d crossbar (rerun split)",
                           ir_name_text(diags->arena, op->result->name), rb, cb, (long long)r, (long long)c,
                           arch->rows, arch->cols);
                return false;
            }
        }
    }
    return true;
}

/* Tile numbers in order of first use along the block order. */
static void renumber_tiles(Arena *arena, PackSpot *spots, int n, int64_t tiles)
{
    int64_t *number = arena_array(arena, (size_t)tiles + 1, sizeof(int64_t));
    for (int64_t t = 0; t < tiles; t++)
        number[t] = -1;
    int64_t next = 0;
    for (int b = 0; b < n; b++) {
        if (number[spots[b].tile] < 0)
            number[spots[b].tile] = next++;
        spots[b].tile = number[spots[b].tile];
    }
}

bool pass_place(Graph *g, const PassArgs *args, Diags *diags)
{
    const Arch *arch = mapping_arch(g, "place", diags);
    if (!arch)
        return false;
    PackMode mode = PACK_NONE;
    const char *packing = pass_arg(args, "packing");
    if (packing && !pack_mode_from_name(packing, &mode)) {
        diag_error(diags, NULL, "place: packing must be none, dense or balanced, not '%s'", packing);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < g->n_ops; i++)
        if (!g->ops[i]->dead && g->ops[i]->kind == OP_XBAR)
            ok &= blocks_fit(g->ops[i], arch, diags);
    if (!ok)
        return false;

    Arena *scratch = arena_new();
    MapBlocks mb;
    if (!mapping_blocks(scratch, g, "place", &mb, diags)) {
        arena_free(scratch);
        return false;
    }
    /* Balanced packing may slow a block up to the pipeline's period, the
     * slowest stage: crossbar or digital (timing.c). */
    PackParams params = {.rows = arch->rows, .cols = arch->cols, .cols_per_adc = arch->cols_per_adc, .mode = mode,
                         .period_budget = mode == PACK_BALANCED ? mapping_period_free(&mb) : 0};
    PackSpot *spots = arena_array(scratch, (size_t)mb.n_blocks + 1, sizeof(PackSpot));
    int64_t tiles = pack_blocks(&params, mb.blocks, mb.n_blocks, spots);
    renumber_tiles(scratch, spots, mb.n_blocks, tiles);
    for (int l = 0; l < mb.n_layers; l++) {
        const MapLayer *L = &mb.layers[l];
        int count = (int)(L->replicas * L->n_blocks);
        int64_t *place = arena_array(g->arena, (size_t)(3 * count) + 1, sizeof(int64_t));
        for (int b = 0; b < count; b++) {
            const PackSpot *s = &spots[L->first_block + b];
            place[3 * b] = s->tile;
            place[3 * b + 1] = s->row;
            place[3 * b + 2] = s->col;
        }
        mapping_set_ints(g, L->op, "place", place, 3 * count);
    }
    arena_free(scratch);
    if (arch->tiles > 0 && tiles > arch->tiles) {
        diag_error(diags, NULL, "place: graph @%s needs %lld tiles (%s), more than the architecture's budget of %d",
                   ir_name_text(diags->arena, g->name), (long long)tiles,
                   mode == PACK_NONE ? "one per block" : mode == PACK_DENSE ? "packed dense" : "packed balanced",
                   arch->tiles);
        return false;
    }
    return true;
}
