/* test_packing.c: the packer, the timing model and the replication search.
 *
 * Placements of random block sets (every mode, tiles from 8 x 8 to 128 x 128,
 * grouped layers, copies) are checked here from first principles, with cell
 * maps and conflict rules written out again: every block inside its tile, no
 * cell used twice, every tile numbered 0 .. n - 1 used, groups of one layer
 * and copy on no common row or column, balanced packing never pushing a
 * block's period past the slowest unpacked stage, and never fewer tiles than
 * the cell count allows.  On ResNet-like layer shapes dense packing must come
 * within 3% of that lower bound.  The timing model gets hand-computed cases.
 * The replication search must find the same bottleneck as brute force over
 * every replication of small random pipelines, for every packing mode; no
 * placement of any replication, in any mode, may beat the optimum with turns
 * (repl_turn_bound) within the budget, balanced search must place exactly the
 * bottleneck it reports, and a hand-worked case fixes both optima. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/mapping.h"
#include "passes/passes.h"
#include "test_support.h"

static bool overlap(int a0, int a1, int b0, int b1)
{
    return a0 < b1 && b0 < a1;
}

/* Conflict, written out again: same tile, and a common row or ADC group. */
static bool conflict(const PackParams *pp, const PackBlock *a, const PackSpot *sa, const PackBlock *b,
                     const PackSpot *sb)
{
    int k = pp->cols_per_adc;
    return sa->tile == sb->tile && (overlap(sa->row, sa->row + a->rows, sb->row, sb->row + b->rows) ||
                                    overlap(sa->col / k, (sa->col + a->cols - 1) / k + 1, sb->col / k,
                                            (sb->col + b->cols - 1) / k + 1));
}

static int64_t lower_bound(const PackParams *pp, const PackBlock *blocks, int n)
{
    int64_t cells = 0, tile = (int64_t)pp->rows * pp->cols;
    for (int i = 0; i < n; i++)
        cells += (int64_t)blocks[i].rows * blocks[i].cols;
    return (cells + tile - 1) / tile;
}

/* Everything a placement must satisfy; `what` names the case. */
static void check_placement(const PackParams *pp, const PackBlock *blocks, int n, const PackSpot *spots,
                            int64_t tiles, const char *what)
{
    cr_assert(tiles >= lower_bound(pp, blocks, n), "%s: %lld tiles, below the lower bound %lld", what,
              (long long)tiles, (long long)lower_bound(pp, blocks, n));
    /* Blocks listed tile by tile (counting sort). */
    int *start = calloc((size_t)tiles + 2, sizeof(int)), *by_tile = calloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++)
        start[spots[i].tile + 2]++;
    for (int64_t t = 0; t < tiles; t++)
        start[t + 2] += start[t + 1];
    for (int i = 0; i < n; i++)
        by_tile[start[spots[i].tile + 1]++] = i;
    size_t cells = (size_t)pp->rows * (size_t)pp->cols;
    uint8_t *used = calloc((size_t)tiles * cells + 1, 1);
    bool *tile_used = calloc((size_t)tiles + 1, 1);
    for (int i = 0; i < n; i++) {
        const PackBlock *b = &blocks[i];
        const PackSpot *s = &spots[i];
        cr_assert(s->tile >= 0 && s->tile < tiles && s->row >= 0 && s->col >= 0 && s->row + b->rows <= pp->rows &&
                  s->col + b->cols <= pp->cols, "%s: block %d (%d x %d) at tile %lld (%d, %d) is outside the "
                  "%lld tiles of %d x %d", what, i, b->rows, b->cols, (long long)s->tile, s->row, s->col,
                  (long long)tiles, pp->rows, pp->cols);
        tile_used[s->tile] = true;
        if (b->rows == pp->rows && b->cols == pp->cols) {     /* a whole tile: nothing else may be there */
            cr_assert(start[s->tile + 1] - start[s->tile] == 1, "%s: block %d fills tile %lld, which holds %d "
                      "blocks", what, i, (long long)s->tile, start[s->tile + 1] - start[s->tile]);
            continue;
        }
        for (int r = s->row; r < s->row + b->rows; r++) {
            for (int c = s->col; c < s->col + b->cols; c++) {
                uint8_t *cell = &used[(size_t)s->tile * cells + (size_t)r * (size_t)pp->cols + (size_t)c];
                cr_assert(!*cell, "%s: block %d overlaps another on tile %lld at (%d, %d)", what, i,
                          (long long)s->tile, r, c);
                *cell = 1;
            }
        }
    }
    for (int64_t t = 0; t < tiles; t++)
        cr_assert(tile_used[t], "%s: tile %lld of %lld holds no block", what, (long long)t, (long long)tiles);
    free(used);
    free(tile_used);

    int64_t budget = pp->period_budget, *period = calloc((size_t)n + 1, sizeof(int64_t));
    for (int i = 0; i < n; i++) {
        period[i] = blocks[i].work;
        if (!pp->period_budget && blocks[i].work > budget)
            budget = blocks[i].work;
    }
    for (int u = 0; u < n; u++) {
        for (int v = u + 1; v < n && spots[by_tile[v]].tile == spots[by_tile[u]].tile; v++) {
            int i = by_tile[u], j = by_tile[v];
            const PackBlock *a = &blocks[i], *b = &blocks[j];
            if (a->layer == b->layer && a->replica == b->replica && a->group != b->group)
                cr_assert(!overlap(spots[i].row, spots[i].row + a->rows, spots[j].row, spots[j].row + b->rows) &&
                          !overlap(spots[i].col, spots[i].col + a->cols, spots[j].col, spots[j].col + b->cols),
                          "%s: groups %d and %d of layer %d share a row or column of tile %lld", what, a->group,
                          b->group, a->layer, (long long)spots[i].tile);
            if (conflict(pp, a, &spots[i], b, &spots[j])) {
                period[i] += b->work;
                period[j] += a->work;
            }
        }
    }
    free(start);
    free(by_tile);
    int64_t *model = calloc((size_t)n + 1, sizeof(int64_t));
    pack_periods(pp, blocks, spots, n, model);
    for (int i = 0; i < n; i++) {
        cr_assert(model[i] == period[i], "%s: pack_periods gives block %d a period of %lld, not %lld", what, i,
                  (long long)model[i], (long long)period[i]);
        if (pp->mode == PACK_BALANCED)
            cr_assert(period[i] <= budget, "%s: balanced packing gives block %d a period of %lld, over the "
                      "budget %lld", what, i, (long long)period[i], (long long)budget);
    }
    free(period);
    free(model);
}

/* ---- random placements ---- */

Test(packing, random_blocks_place_validly, .timeout = 60)
{
    test_seed(0x9e3779b97f4a7c15u);
    for (int c = 0; c < 400; c++) {
        PackParams pp = {.rows = (int)test_uniform(8, 128), .cols = (int)test_uniform(8, 128),
                         .cols_per_adc = (int)test_uniform(1, 16), .mode = (PackMode)test_uniform(0, 2)};
        int layers = (int)test_uniform(1, 6), n = 0;
        PackBlock blocks[600];
        for (int l = 0; l < layers && n < 500; l++) {
            int groups = test_uniform(0, 2) == 0 ? (int)test_uniform(2, 40) : 1;
            int copies = (int)test_uniform(1, 3), shapes = (int)test_uniform(1, 3);
            int64_t work = test_uniform(1, 50);
            for (int j = 0; j < copies; j++) {
                for (int g = 0; g < groups && n < 500; g++) {
                    for (int s = 0; s < shapes && n < 500; s++, n++) {
                        blocks[n] = (PackBlock){.rows = (int)test_uniform(1, pp.rows),
                                                .cols = (int)test_uniform(1, pp.cols),
                                                .layer = l, .replica = j, .group = g, .work = work + j};
                        if (groups > 1) {   /* groups are small, as in depthwise layers */
                            blocks[n].rows = (int)test_uniform(1, pp.rows / 4 + 1);
                            blocks[n].cols = (int)test_uniform(1, pp.cols / 4 + 1);
                        }
                    }
                }
            }
        }
        PackSpot spots[600];
        int64_t tiles = pack_blocks(&pp, blocks, n, spots);
        char what[160];
        snprintf(what, sizeof what, "case %d (%s, %d blocks, %d x %d tiles, %d columns per ADC)", c,
                 pack_mode_name(pp.mode), n, pp.rows, pp.cols, pp.cols_per_adc);
        check_placement(&pp, blocks, n, spots, tiles, what);
        if (pp.mode == PACK_NONE)
            cr_assert(tiles == n, "%s: one block per tile gives %lld tiles", what, (long long)tiles);
    }
}

/* ResNet-like layers at 128 x 128, 8-bit weights in a pair over 2-bit cells
 * (4 slices, 8 physical columns per weight column), full splits: dense
 * packing must come within 3% of the lower bound. */
Test(packing, dense_near_lower_bound_on_resnet_shapes, .timeout = 60)
{
    static const int ks[] = {27, 576, 1152, 2304, 4608, 64, 128, 256, 147};
    static const int ns[] = {64, 128, 256, 512};
    test_seed(0x2545f4914f6cdd1du);
    PackParams pp = {.rows = 128, .cols = 128, .cols_per_adc = 8, .mode = PACK_DENSE};
    int cap = 40000;
    PackBlock *blocks = calloc((size_t)cap, sizeof *blocks);
    PackSpot *spots = calloc((size_t)cap, sizeof *spots);
    double worst = 0;
    for (int c = 0; c < 40; c++) {
        int layers = (int)test_uniform(4, 20), n = 0;
        for (int l = 0; l < layers; l++) {
            int k = l == 0 ? 27 : ks[test_uniform(1, 8)], cols = 8 * ns[test_uniform(0, 3)];
            int copies = c % 2 ? (int)test_uniform(1, 4) : 1;
            for (int j = 0; j < copies; j++)
                for (int r0 = 0; r0 < k; r0 += 128)
                    for (int c0 = 0; c0 < cols && n < cap; c0 += 128, n++)
                        blocks[n] = (PackBlock){.rows = k - r0 < 128 ? k - r0 : 128,
                                                .cols = cols - c0 < 128 ? cols - c0 : 128, .layer = l, .replica = j,
                                                .work = 100};
        }
        int64_t tiles = pack_blocks(&pp, blocks, n, spots), bound = lower_bound(&pp, blocks, n);
        char what[64];
        snprintf(what, sizeof what, "resnet-like case %d", c);
        check_placement(&pp, blocks, n, spots, tiles, what);
        cr_assert(tiles <= 1.03 * (double)bound, "%s: %lld tiles, more than 1.03 x the lower bound %lld", what,
                  (long long)tiles, (long long)bound);
        worst = (double)tiles / (double)bound > worst ? (double)tiles / (double)bound : worst;
    }
    printf("test_packing: dense packing of ResNet-like layers within %.4f of the lower bound\n", worst);
    free(blocks);
    free(spots);
}

/* ---- timing by hand ---- */

Test(packing, timing_model_by_hand)
{
    PackParams pp = {.rows = 128, .cols = 128, .cols_per_adc = 8};
    PackBlock b[5] = {
        {.rows = 10, .cols = 16, .work = 100},          /* rows 0..9, ADCs 0-1 */
        {.rows = 10, .cols = 16, .work = 7},            /* rows 0..9, ADCs 4-5: shares rows with 0 */
        {.rows = 5, .cols = 4, .work = 30},             /* rows 20..24, columns 20..23: ADC 2 */
        {.rows = 5, .cols = 4, .work = 1000},           /* rows 40..44, columns 16..19: ADC 2 too */
        {.rows = 5, .cols = 8, .work = 9},              /* another tile */
    };
    PackSpot s[5] = {{0, 0, 0}, {0, 0, 32}, {0, 20, 20}, {0, 40, 16}, {1, 0, 0}};
    int64_t period[5];
    pack_periods(&pp, b, s, 5, period);
    cr_assert(period[0] == 107 && period[1] == 107, "rows shared: %lld, %lld", (long long)period[0],
              (long long)period[1]);
    cr_assert(period[2] == 1030 && period[3] == 1030, "one ADC shared: %lld, %lld", (long long)period[2],
              (long long)period[3]);
    cr_assert(period[4] == 9);
    cr_assert(!pack_conflict(&pp, &b[0], &s[0], &b[2], &s[2]), "disjoint rows and ADCs read together");
}

/* ---- replication against brute force ---- */

/* A layer's stage: the busiest copy's reads, or its share of the digital
 * time when that is longer (passes/pack.h). */
static int64_t stage(const ReplLayer *l, int64_t r)
{
    int64_t reads = (l->vectors + r - 1) / r * l->vector_time, digital = (l->digital + r - 1) / r;
    return reads > digital ? reads : digital;
}

/* Brute force: the smallest bottleneck over every replication r_l = 1..P_l
 * that fits the budget (balanced packing: over the cheapest replications of
 * each bottleneck only, the search's own claim; how often another one does
 * better is counted and printed).  A third of the cases give layers digital
 * time (shared by the copies) and the pipeline a floor no copy shortens. */
Test(packing, replication_search_is_optimal, .timeout = 120)
{
    test_seed(0x1234567887654321u);
    Arena *arena = arena_new();
    int checked = 0, balanced_beaten = 0, balanced = 0;
    for (int c = 0; c < 600; c++) {
        PackParams pp = {.rows = 16, .cols = 16, .cols_per_adc = (int)test_uniform(1, 4), .mode = (PackMode)(c % 3)};
        bool digital = c % 9 >= 6;
        pp.stage_floor = digital && test_uniform(0, 1) ? test_uniform(1, 12) : 0;
        int n_layers = (int)test_uniform(1, 3);
        ReplLayer layers[3];
        PackBlock blocks[3][3];
        for (int l = 0; l < n_layers; l++) {
            layers[l].vectors = test_uniform(1, 10);
            layers[l].vector_time = test_uniform(1, 3);
            layers[l].digital = digital ? test_uniform(0, 40) : 0;
            layers[l].n_blocks = (int)test_uniform(1, 3);
            layers[l].blocks = blocks[l];
            for (int b = 0; b < layers[l].n_blocks; b++)
                blocks[l][b] = (PackBlock){.rows = (int)test_uniform(1, 16), .cols = (int)test_uniform(1, 16)};
        }
        int64_t ones[3] = {1, 1, 1}, r[3] = {1, 1, 1}, best = -1, best_any = -1;
        int64_t minimum = repl_pack(arena, &pp, layers, n_layers, ones, NULL);
        int64_t budget = minimum + test_uniform(-1, 8);

        /* Every replication, r_l from 1 to P_l. */
        for (;;) {
            int64_t b = pp.stage_floor;
            bool cheapest = true;       /* no layer has a copy more than bottleneck b needs */
            for (int l = 0; l < n_layers; l++)
                b = stage(&layers[l], r[l]) > b ? stage(&layers[l], r[l]) : b;
            for (int l = 0; l < n_layers; l++)
                cheapest &= r[l] == 1 || stage(&layers[l], r[l] - 1) > b;
            PackParams p = pp;
            p.period_budget = b;
            bool fits = repl_pack(arena, &p, layers, n_layers, r, NULL) <= budget;
            if (fits && (best_any < 0 || b < best_any))
                best_any = b;
            if (fits && (cheapest || pp.mode != PACK_BALANCED) && (best < 0 || b < best))
                best = b;
            int l = 0;
            while (l < n_layers && r[l] == layers[l].vectors)
                r[l++] = 1;
            if (l == n_layers)
                break;
            r[l]++;
        }
        int64_t found[3];
        int64_t got = repl_search(arena, &pp, layers, n_layers, budget, found);
        if (got != best) {
            fprintf(stderr, "floor %lld adc %d\n", (long long)pp.stage_floor, pp.cols_per_adc);
            for (int l = 0; l < n_layers; l++) {
                fprintf(stderr, "layer P %lld vt %lld dig %lld:", (long long)layers[l].vectors, (long long)layers[l].vector_time, (long long)layers[l].digital);
                for (int b = 0; b < layers[l].n_blocks; b++) fprintf(stderr, " %dx%d", blocks[l][b].rows, blocks[l][b].cols);
                fprintf(stderr, "\n");
            }
        }
        cr_assert(got == best, "case %d (%s, %d layers, budget %lld): the search finds a bottleneck of %lld, "
                  "brute force %lld", c, pack_mode_name(pp.mode), n_layers, (long long)budget, (long long)got,
                  (long long)best);
        balanced += pp.mode == PACK_BALANCED;
        balanced_beaten += best_any != best;
        if (got >= 0) {
            int64_t b = pp.stage_floor;
            for (int l = 0; l < n_layers; l++)
                b = stage(&layers[l], found[l]) > b ? stage(&layers[l], found[l]) : b;
            PackParams p = pp;
            p.period_budget = b;
            cr_assert(b == got && repl_pack(arena, &p, layers, n_layers, found, NULL) <= budget,
                      "case %d: the replication found does not give its bottleneck within the budget", c);
            checked++;
        }
    }
    printf("test_packing: replication search equal to brute force in 600 cases (%d feasible); with balanced "
           "packing a replication beyond the cheapest did better in %d of %d cases\n", checked, balanced_beaten,
           balanced);
    arena_free(arena);
}

/* ---- the optimum with turns ---- */

/* Blocks of every copy, written out again: copy j of layer l takes vectors
 * [floor(jP/r), floor((j+1)P/r)). */
static int copy_blocks(const ReplLayer *layers, int n_layers, const int64_t *r, PackBlock *out)
{
    int n = 0;
    for (int l = 0; l < n_layers; l++)
        for (int64_t j = 0; j < r[l]; j++)
            for (int b = 0; b < layers[l].n_blocks; b++, n++) {
                out[n] = layers[l].blocks[b];
                out[n].layer = l;
                out[n].replica = (int)j;
                out[n].work = ((j + 1) * layers[l].vectors / r[l] - j * layers[l].vectors / r[l]) *
                              layers[l].vector_time;
            }
    return n;
}

/* The largest period of a placement, turns charged (conflict() above). */
static int64_t placed_period(const PackParams *pp, const PackBlock *blocks, const PackSpot *spots, int n)
{
    int64_t worst = 0;
    for (int i = 0; i < n; i++) {
        int64_t period = blocks[i].work;
        for (int j = 0; j < n; j++)
            if (j != i && conflict(pp, &blocks[i], &spots[i], &blocks[j], &spots[j]))
                period += blocks[j].work;
        worst = period > worst ? period : worst;
    }
    return worst;
}

/* repl_turn_bound claims that no placement in the budget has a shorter
 * period.  Every replication of small random pipelines, placed by every
 * packing mode, must respect it; and balanced packing searched for the
 * budget must place exactly the bottleneck it reports. */
Test(packing, turn_bound_below_every_placement, .timeout = 120)
{
    test_seed(0x5851f42d4c957f2du);
    Arena *arena = arena_new();
    int feasible = 0, tight = 0;
    for (int c = 0; c < 300; c++) {
        PackParams pp = {.rows = 16, .cols = 16, .cols_per_adc = (int)test_uniform(1, 4)};
        int n_layers = (int)test_uniform(1, 3);
        ReplLayer layers[3];
        PackBlock shapes[3][3];
        for (int l = 0; l < n_layers; l++) {
            layers[l] = (ReplLayer){test_uniform(1, 8), test_uniform(1, 3), (int)test_uniform(1, 3), shapes[l],
                                    c % 3 == 2 ? test_uniform(0, 30) : 0};
            for (int b = 0; b < layers[l].n_blocks; b++)      /* often a whole tile's height or width */
                shapes[l][b] = (PackBlock){.rows = test_uniform(0, 2) ? (int)test_uniform(1, 16) : 16,
                                           .cols = test_uniform(0, 2) ? (int)test_uniform(1, 16) : 16};
        }
        int64_t ones[3] = {1, 1, 1}, r[3] = {1, 1, 1};
        PackParams dense = pp;
        dense.mode = PACK_DENSE;
        int64_t budget = repl_pack(arena, &dense, layers, n_layers, ones, NULL) + test_uniform(0, 6);
        int64_t bound = repl_turn_bound(arena, &pp, layers, n_layers, budget);
        cr_assert(bound > 0, "case %d: one copy of each layer fits, yet the bound is %lld", c, (long long)bound);
        for (;;) {
            PackBlock blocks[64];
            PackSpot spots[64];
            int n = copy_blocks(layers, n_layers, r, blocks);
            for (int m = 0; m < 3; m++) {
                PackParams p = pp;
                p.mode = (PackMode)m;
                int64_t tiles = pack_blocks(&p, blocks, n, spots), period = placed_period(&pp, blocks, spots, n);
                for (int k = 0; k < n_layers; k++)      /* the digital stages count too */
                    period = (layers[k].digital + r[k] - 1) / r[k] > period ? (layers[k].digital + r[k] - 1) / r[k]
                                                                            : period;
                cr_assert(tiles > budget || period >= bound, "case %d: %s packing of copies (%lld, %lld, %lld) "
                          "has a period of %lld in %lld tiles, below the bound %lld for %lld tiles", c,
                          pack_mode_name(p.mode), (long long)r[0], (long long)r[1], (long long)r[2],
                          (long long)period, (long long)tiles, (long long)bound, (long long)budget);
            }
            int l = 0;
            while (l < n_layers && r[l] == layers[l].vectors)
                r[l++] = 1;
            if (l == n_layers)
                break;
            r[l]++;
        }
        PackParams balanced = pp;
        balanced.mode = PACK_BALANCED;
        int64_t found[3];
        int64_t got = repl_search(arena, &balanced, layers, n_layers, budget, found);
        if (got < 0)
            continue;
        PackBlock blocks[64];
        PackSpot spots[64];
        int n = copy_blocks(layers, n_layers, found, blocks);
        PackParams placing = balanced;      /* as `place` packs them: up to the slowest stage */
        placing.period_budget = got;
        int64_t tiles = pack_blocks(&placing, blocks, n, spots), placed = placed_period(&pp, blocks, spots, n);
        for (int k = 0; k < n_layers; k++)
            placed = (layers[k].digital + found[k] - 1) / found[k] > placed ? (layers[k].digital + found[k] - 1) / found[k]
                                                                         : placed;
        check_placement(&placing, blocks, n, spots, tiles, "balanced search");
        cr_assert(tiles <= budget && placed == got, "case %d: balanced search "
                  "reports %lld steps but places %lld in %lld tiles (budget %lld)", c, (long long)got,
                  (long long)placed, (long long)tiles, (long long)budget);
        feasible++;
        tight += got == bound;
    }
    printf("test_packing: the turn bound held for every placement of 300 random pipelines; balanced search "
           "reached it in %d of %d\n", tight, feasible);
    arena_free(arena);
}

/* By hand, 16 x 16 tiles, 4 columns per ADC, budget 6 tiles.  Layer A: 19 x 16
 * cells (a full block and a 3-row remainder), P = 8 vectors; layer B: 8 x 16,
 * P = 4; one step per vector.  Ignoring turns, r = (4, 2) fits (4 full tiles,
 * the four remainders stacked in one, B's copies in another): bottleneck 2.
 * With turns: remainders and B span the width, so two of them on one tile
 * wait w + w' on each other.  Period 3 needs r_A >= 3, each copy's full block
 * and heavy remainder a tile of its own (6), and the reads 8 x 8 + 4 x 4 ADC
 * steps > 3 steps x 4 ADCs x 6 tiles: impossible.  Period 4: r = (2, 1), five
 * blocks each alone: 5 tiles, optimal. */
Test(packing, turn_bound_by_hand)
{
    Arena *arena = arena_new();
    PackBlock a[2] = {{.rows = 16, .cols = 16}, {.rows = 3, .cols = 16}}, b[1] = {{.rows = 8, .cols = 16}};
    ReplLayer layers[2] = {{8, 1, 2, a, 0}, {4, 1, 1, b, 0}};
    PackParams pp = {.rows = 16, .cols = 16, .cols_per_adc = 4, .mode = PACK_DENSE};
    int64_t r[2];
    cr_assert_eq(repl_search(arena, &pp, layers, 2, 6, r), 2, "ignoring turns");
    cr_assert(r[0] == 4 && r[1] == 2, "copies (%lld, %lld)", (long long)r[0], (long long)r[1]);
    cr_assert_eq(repl_turn_bound(arena, &pp, layers, 2, 6), 4);
    pp.mode = PACK_BALANCED;
    cr_assert_eq(repl_search(arena, &pp, layers, 2, 6, r), 4, "with turns");
    cr_assert(r[0] == 2 && r[1] == 1, "copies (%lld, %lld)", (long long)r[0], (long long)r[1]);
    PackBlock blocks[8];
    PackSpot spots[8];
    int n = copy_blocks(layers, 2, r, blocks);
    cr_assert_eq(pack_blocks(&pp, blocks, n, spots), 5);
    cr_assert_eq(placed_period(&pp, blocks, spots, n), 4);
    cr_assert_eq(repl_turn_bound(arena, &pp, layers, 2, 1), -1, "one tile cannot hold A's full block and more");
    arena_free(arena);
}
