/* test_mapping.c: the baseline mapping passes on random layers.
 *
 * Random xbar ops (K and N from 1 to 2000, groups, every sign mapping, cell
 * bits 1 to 4, crossbars from 1 x 8 to 512 x 512) go through the mapping
 * pipeline, and the result is checked against the contract's properties
 * (docs/crossbar.md sections 5 to 7) computed here from first principles: the
 * row and column blocks partition K x N exactly, every block fits the
 * crossbar, there are as few blocks as possible and they are balanced, each
 * block has its own tile, numbered across the graph, and the ADC bits are the
 * fewest that hold the largest column sum.  The tests also check the pipeline
 * is a fixed point and that passes run out of order name what is missing,
 * and that packed and replicated placements (docs/mapping.md) are sound. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/mapping.h"
#include "passes/passes.h"
#include "test_support.h"

/* A matrix dimension from 1 to `most`, small ones more often (big ones cost
 * time, mostly in the verifier's per-weight checks). */
static int64_t dimension(int64_t most)
{
    return test_uniform(0, 3) == 0 ? test_uniform(1, most) : test_uniform(1, most / 8);
}

/* ---- building layers ---- */

typedef struct {
    int64_t groups, k, n;
    bool quantized;
    int w_bits;
} LayerSpec;

/* An xbar op over a new graph input: conv form with 1 x 1 kernels when it has
 * groups (K = channels per group), matmul form otherwise.  Weights are zeros:
 * the mapping looks at shapes only. */
static Op *add_layer(Graph *g, const LayerSpec *s)
{
    int64_t w_dims[3] = {s->groups, s->k, s->n};
    Value *w = ir_add_const(g, NULL, type_make(3, w_dims), NULL);
    bool conv = s->groups > 1;
    int64_t x_dims[4] = {1, s->groups * s->k, 1, 1}, y_dims[4] = {1, s->groups * s->n, 1, 1};
    int64_t xm_dims[2] = {1, s->k}, ym_dims[2] = {1, s->n};
    Value *x = ir_add_input(g, ir_fresh_name(g, "x"), conv ? type_make(4, x_dims) : type_make(2, xm_dims));
    Value *in[2] = {x, w};
    Op *op = ir_add_op(g, OP_XBAR, in, 2, NULL, conv ? type_make(4, y_dims) : type_make(2, ym_dims), (Loc){0});
    ir_set_string(g, op, "form", conv ? "conv" : "matmul");
    if (conv) {
        int64_t ones[2] = {1, 1};
        ir_set_ints(g, op, "kernel", ones, 2);
    }
    if (s->quantized) {
        float *scales = arena_array(g->arena, (size_t)(s->groups * s->n), sizeof(float));
        for (int64_t i = 0; i < s->groups * s->n; i++)
            scales[i] = 0.01f;
        ir_set_int(g, op, "w_bits", s->w_bits);
        ir_set_floats(g, op, "w_scale", scales, (int)(s->groups * s->n));
        ir_set_int(g, op, "in_bits", 8);
        ir_set_float(g, op, "in_scale", 0.5f);
        ir_set_int(g, op, "in_signed", 0);
    }
    ir_add_output(g, op->result);
    return op;
}

static Arch *random_arch(Arena *arena)
{
    Arch *a = arena_alloc(arena, sizeof *a);
    *a = arch_default();
    a->rows = (int)test_uniform(1, 512);
    a->cols = (int)(test_uniform(0, 9) == 0 ? test_uniform(2, 16) : test_uniform(8, 512));
    a->cell_bits = (int)test_uniform(1, 4);
    a->dac_bits = (int)test_uniform(1, 8);
    a->sign = (SignMapping)test_uniform(0, 2);
    return a;
}

static bool run_mapping(Graph *g, Diags *d)
{
    PassOptions options = {0};
    return pass_run_pipeline(g, mapping_pipeline, &options, d);
}

/* ---- the properties ---- */

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* Splits of [0, total): every index covered once, the fewest parts of at most
 * max_part, sizes differing by at most one with the larger first. */
static void check_splits(const Attr *a, int64_t total, int64_t max_part, const char *what)
{
    cr_assert(a && a->kind == ATTR_INTS, "%s missing", what);
    int parts = a->count - 1;
    cr_assert_eq(parts, ceil_div(total, max_part), "%s: %d parts for %lld in parts of %lld", what, parts,
                 (long long)total, (long long)max_part);
    int *covered = calloc((size_t)total, sizeof(int));
    for (int p = 0; p < parts; p++)
        for (int64_t i = a->ints[p]; i < a->ints[p + 1]; i++) {
            cr_assert(i >= 0 && i < total, "%s: boundary out of range", what);
            covered[i]++;
        }
    for (int64_t i = 0; i < total; i++)
        cr_assert_eq(covered[i], 1, "%s: index %lld covered %d times", what, (long long)i, covered[i]);
    free(covered);
    for (int p = 0; p < parts; p++) {
        int64_t size = a->ints[p + 1] - a->ints[p];
        cr_assert(size >= 1 && size <= max_part, "%s: part %d has %lld", what, p, (long long)size);
        if (p > 0) {
            int64_t before = a->ints[p] - a->ints[p - 1];
            cr_assert(before == size || before == size + 1, "%s: parts %lld then %lld", what,
                      (long long)before, (long long)size);
        }
    }
}

/* Checks one mapped op; `first_tile` is where its tiles must start.  Returns
 * the number of blocks. */
static int64_t check_layer(const Op *op, const LayerSpec *s, const Arch *arch, int64_t first_tile)
{
    const Attr *sign_attr = ir_attr(op, "sign");
    cr_assert(sign_attr && strcmp(sign_attr->s, sign_mapping_name(arch->sign)) == 0);
    int S = (int)ir_attr_int(op, "slices", -1);
    cr_assert_eq(ir_attr_int(op, "cell_bits", -1), arch->cell_bits);
    int magnitude_bits = arch->sign == SIGN_OFFSET ? s->w_bits : s->w_bits - 1;
    int want_slices = s->quantized ? ceil_div(magnitude_bits, arch->cell_bits) : 1;
    cr_assert_eq(S, want_slices, "slices %d, expected %d", S, want_slices);
    /* every slice holds cell_bits of the magnitude, and no slice is empty */
    if (s->quantized)
        cr_assert(S * arch->cell_bits >= magnitude_bits && (S - 1) * arch->cell_bits < magnitude_bits);

    int P = arch->sign == SIGN_OFFSET ? 1 : 2, refs = arch->sign == SIGN_OFFSET ? S : 0;
    int64_t fit_columns = (arch->cols - refs) / (S * P);
    const Attr *rows = ir_attr(op, "row_splits"), *cols = ir_attr(op, "col_splits");
    check_splits(rows, s->k, arch->rows, "row_splits");
    check_splits(cols, s->n, fit_columns, "col_splits");

    int row_blocks = rows->count - 1, col_blocks = cols->count - 1;
    int64_t blocks = s->groups * row_blocks * col_blocks;
    const int64_t *place;
    cr_assert_eq(ir_attr_ints(op, "place", &place), 3 * blocks);
    const Attr *bits = ir_attr(op, "adc_bits"), *full = ir_attr(op, "adc_max");
    cr_assert(bits && full && bits->count == blocks && full->count == blocks);

    int64_t b = 0;
    for (int64_t g = 0; g < s->groups; g++) {
        for (int rb = 0; rb < row_blocks; rb++) {
            int64_t R = rows->ints[rb + 1] - rows->ints[rb];
            for (int cb = 0; cb < col_blocks; cb++, b++) {
                int64_t phys = (cols->ints[cb + 1] - cols->ints[cb]) * S * P + refs;
                cr_assert(R <= arch->rows && phys <= arch->cols, "block %lld: %lld x %lld on %d x %d",
                          (long long)b, (long long)R, (long long)phys, arch->rows, arch->cols);
                cr_assert_eq(place[3 * b], first_tile + b, "block %lld on tile %lld", (long long)b,
                             (long long)place[3 * b]);
                cr_assert(place[3 * b + 1] == 0 && place[3 * b + 2] == 0);
                if (!s->quantized) {
                    cr_assert(bits->ints[b] == 0 && full->floats[b] == 0.0f);
                    continue;
                }
                /* the largest sum fits the code range with a step of exactly 1, one bit fewer does not */
                int64_t v = R * ((1 << arch->dac_bits) - 1) * ((1 << arch->cell_bits) - 1);
                int magnitude = (int)bits->ints[b] - (arch->sign == SIGN_PAIR_ANALOG);
                double levels = (double)(((int64_t)1 << magnitude) - 1);
                cr_assert((double)full->floats[b] == levels, "block %lld: adc_max %g for %d bits",
                          (long long)b, full->floats[b], (int)bits->ints[b]);
                cr_assert(v <= ((int64_t)1 << magnitude) - 1, "block %lld: sum %lld over %d bits", (long long)b,
                          (long long)v, magnitude);
                cr_assert(v > ((int64_t)1 << (magnitude - 1)) - 1 || magnitude == 0, "block %lld: %d bits "
                          "for a sum of %lld: not the fewest", (long long)b, magnitude, (long long)v);
            }
        }
    }
    return blocks;
}

/* ---- tests ---- */

Test(mapping, random_layers)
{
    test_seed(0x9e3779b97f4a7c15u);
    int cases = 0, too_narrow = 0;
    for (int c = 0; c < 250; c++) {
        Arena *arena = arena_new();
        Diags d;
        diags_init(&d, arena);
        Graph *g = ir_graph_new(arena, "random");
        g->arch = random_arch(arena);
        int layers = (int)test_uniform(1, 3);
        LayerSpec specs[3];
        Op *ops[3];
        bool quantized = test_uniform(0, 4) != 0;     /* a program is all quantized or all float */
        for (int i = 0; i < layers; i++) {
            int64_t groups = test_uniform(0, 3) == 0 ? test_uniform(2, 8) : 1;
            specs[i] = (LayerSpec){.groups = groups, .k = dimension(groups > 1 ? 300 : 2000),
                                   .n = dimension(groups > 1 ? 300 : 2000), .quantized = quantized,
                                   .w_bits = (int)test_uniform(2, 8)};
            ops[i] = add_layer(g, &specs[i]);
        }
        bool ok = run_mapping(g, &d);

        /* The widest weight column must fit, else split must say so. */
        bool fits = true;
        for (int i = 0; i < layers; i++) {
            int mb = g->arch->sign == SIGN_OFFSET ? specs[i].w_bits : specs[i].w_bits - 1;
            int S = quantized ? (int)ceil_div(mb, g->arch->cell_bits) : 1;
            bool offset = g->arch->sign == SIGN_OFFSET;
            int width = offset ? S + S : 2 * S;      /* S columns + S references, or S pairs */
            fits &= width <= g->arch->cols;
        }
        if (!fits) {
            cr_assert(!ok && test_diags_contain(&d, "split: xbar"), "a too-wide weight column was not reported");
            too_narrow++;
        } else {
            if (!ok)
                diags_print(&d, stderr);
            cr_assert(ok, "case %d failed", c);
            int64_t tiles = 0;
            for (int i = 0; i < layers; i++)
                tiles += check_layer(ops[i], &specs[i], g->arch, tiles);
            cases++;
        }
        arena_free(arena);
    }
    printf("test_mapping: %d random graphs mapped and checked, %d refused as too narrow\n", cases, too_narrow);
    cr_assert(cases > 150);
}

/* Packed and replicated graphs: `place` holds one entry per block of every
 * copy, blocks fit their tiles and never share a cell (checked here with a
 * cell map), tiles are numbered 0.. in order of first use, the
 * statistics agree with the placement and the lower bound, and no placement
 * beats the optimum with turns for its own tile count. */
Test(mapping, packed_and_replicated_graphs)
{
    static const char *const packings[] = {"none", "dense", "balanced"};
    test_seed(0x51ed2701u);
    int cases = 0;
    for (int c = 0; c < 150; c++) {
        Arena *arena = arena_new();
        Diags d;
        diags_init(&d, arena);
        Graph *g = ir_graph_new(arena, "packed");
        g->arch = random_arch(arena);
        g->arch->rows = (int)test_uniform(8, 128);
        g->arch->cols = (int)test_uniform(32, 128);
        int layers = (int)test_uniform(1, 4);
        char copies[200] = "";
        for (int i = 0; i < layers; i++) {
            int64_t groups = test_uniform(0, 2) == 0 ? test_uniform(2, 12) : 1;
            LayerSpec spec = {.groups = groups, .k = test_uniform(1, 300), .n = test_uniform(1, 40), .quantized = true,
                              .w_bits = (int)test_uniform(2, 8)};
            Op *op = add_layer(g, &spec);
            size_t len = strlen(copies);
            snprintf(copies + len, sizeof copies - len, "%s%s:%d", len ? ";" : "", op->result->name,
                     (int)test_uniform(1, 3));
        }
        const char *packing = packings[c % 3];
        char pipeline[400];
        snprintf(pipeline, sizeof pipeline, "sign-map,bit-slice,split{mode=%s},replicate{layers=%s},place{packing=%s}",
                 test_uniform(0, 1) ? "full" : "balanced", copies, packing);
        PassOptions options = {0};
        if (!pass_run_pipeline(g, pipeline, &options, &d)) {
            cr_assert(test_diags_contain(&d, "split: xbar"), "case %d (%s) failed", c, pipeline);
            arena_free(arena);
            continue;
        }
        MapBlocks mb;
        MappingStats st;
        cr_assert(mapping_blocks(arena, g, "test", &mb, &d) && mapping_stats(arena, g, &st, &d));
        int rows = g->arch->rows, cols = g->arch->cols;
        uint8_t *used = calloc((size_t)mb.n_blocks * (size_t)(rows * cols) + 1, 1);
        int64_t next_tile = 0;
        for (int l = 0; l < mb.n_layers; l++) {
            const int64_t *place;
            int n = ir_attr_ints(mb.layers[l].op, "place", &place);
            cr_assert(n == 3 * mb.layers[l].replicas * mb.layers[l].n_blocks, "case %d: place holds %d values", c, n);
            for (int b = 0; b < n / 3; b++) {
                const PackBlock *blk = &mb.blocks[mb.layers[l].first_block + b];
                int64_t t = place[3 * b], y = place[3 * b + 1], x = place[3 * b + 2];
                cr_assert(t >= 0 && t <= next_tile && y >= 0 && x >= 0 && y + blk->rows <= rows &&
                          x + blk->cols <= cols, "case %d (%s): block %d at tile %lld (%lld, %lld) misplaced", c,
                          pipeline, b, (long long)t, (long long)y, (long long)x);
                next_tile = t == next_tile ? t + 1 : next_tile;
                for (int64_t r = y; r < y + blk->rows; r++) {
                    for (int64_t k = x; k < x + blk->cols; k++) {
                        uint8_t *cell = &used[(size_t)t * (size_t)(rows * cols) + (size_t)(r * cols + k)];
                        cr_assert(!*cell, "case %d (%s): two blocks on cell (%lld, %lld) of tile %lld", c, pipeline,
                                  (long long)r, (long long)k, (long long)t);
                        *cell = 1;
                    }
                }
            }
        }
        free(used);
        cr_assert(st.tiles == next_tile && st.lower_bound == mapping_lower_bound(g) && st.tiles >= st.lower_bound,
                  "case %d: %lld tiles (%lld used), lower bound %lld", c, (long long)st.tiles, (long long)next_tile,
                  (long long)st.lower_bound);
        if (strcmp(packing, "none") == 0)
            cr_assert(st.tiles == st.blocks && st.period == st.period_free);
        if (strcmp(packing, "balanced") == 0)
            cr_assert(st.period == st.period_free, "case %d: balanced packing slowed the pipeline", c);
        /* This placement fits its own tile count, so the optimum with turns
         * for that budget can be no slower than it. */
        MappingStats within;
        cr_assert(st.period_bound == 0, "case %d: a bound without a budget", c);
        g->arch->tiles = (int)st.tiles;
        cr_assert(mapping_stats(arena, g, &within, &d) && within.period_bound > 0 &&
                  within.period_bound <= within.period, "case %d (%s): a period of %lld in %lld tiles, below "
                  "the bound %lld", c, pipeline, (long long)within.period, (long long)within.tiles,
                  (long long)within.period_bound);
        cases++;
        arena_free(arena);
    }
    printf("test_mapping: %d packed and replicated graphs checked\n", cases);
    cr_assert(cases > 100);
}

Test(mapping, pipeline_is_a_fixed_point)
{
    Arena *arena = arena_new();
    Diags d;
    diags_init(&d, arena);
    Graph *g = ir_graph_new(arena, "fixed");
    g->arch = arena_alloc(arena, sizeof *g->arch);
    *g->arch = arch_default();
    LayerSpec a = {.groups = 1, .k = 260, .n = 40, .quantized = true, .w_bits = 8};
    LayerSpec b = {.groups = 4, .k = 9, .n = 3, .quantized = true, .w_bits = 8};
    Op *oa = add_layer(g, &a), *ob = add_layer(g, &b);
    cr_assert(run_mapping(g, &d));
    int n_attrs = oa->n_attrs;
    const Attr *place_before = ir_attr(ob, "place");
    int64_t *saved = malloc((size_t)place_before->count * sizeof(int64_t));
    memcpy(saved, place_before->ints, (size_t)place_before->count * sizeof(int64_t));
    int count = place_before->count;
    cr_assert(run_mapping(g, &d));
    cr_assert_eq(oa->n_attrs, n_attrs);
    const Attr *place_after = ir_attr(ob, "place");
    cr_assert_eq(place_after->count, count);
    cr_assert(memcmp(saved, place_after->ints, (size_t)count * sizeof(int64_t)) == 0);
    /* 87+87+86 rows x (14+13+13 pair columns) = 9 blocks on tiles 0..8, then 4 groups on 9..12 */
    const int64_t *rows;
    cr_assert_eq(ir_attr_ints(oa, "row_splits", &rows), 4);
    cr_assert(rows[1] == 87 && rows[2] == 174 && rows[3] == 260);
    cr_assert_eq(saved[0], 9);
    cr_assert_eq(saved[9], 12);
    free(saved);
    arena_free(arena);
}

Test(mapping, resign_drops_stale_blocks)
{
    Arena *arena = arena_new();
    Diags d;
    diags_init(&d, arena);
    Graph *g = ir_graph_new(arena, "resign");
    g->arch = arena_alloc(arena, sizeof *g->arch);
    *g->arch = arch_default();
    g->arch->cell_bits = 1;
    LayerSpec s = {.groups = 1, .k = 5, .n = 60, .quantized = true, .w_bits = 8};
    Op *op = add_layer(g, &s);
    cr_assert(run_mapping(g, &d));
    cr_assert_eq(ir_attr_int(op, "slices", 0), 7);     /* pair: 7 magnitude bits */
    g->arch->sign = SIGN_OFFSET;
    PassOptions options = {0};
    cr_assert(pass_run_pipeline(g, "sign-map", &options, &d));
    cr_assert(!ir_attr(op, "slices") && !ir_attr(op, "row_splits") && !ir_attr(op, "place") &&
              !ir_attr(op, "adc_bits") && ir_attr(op, "w_scale"));
    cr_assert(run_mapping(g, &d));
    cr_assert_eq(ir_attr_int(op, "slices", 0), 8);     /* offset: 8 */
    check_layer(op, &s, g->arch, 0);
    arena_free(arena);
}

Test(mapping, passes_out_of_order_name_what_is_missing)
{
    static const struct {
        const char *pipeline, *message;
    } cases[] = {
        {"bit-slice", "bit-slice: xbar %y has no attribute 'sign': run sign-map first"},
        {"sign-map,split", "split: xbar %y has no attribute 'slices': run bit-slice first"},
        {"sign-map,bit-slice,place", "place: xbar %y has no attribute 'row_splits': run split first"},
        {"sign-map,bit-slice,adc-lossless", "adc-lossless: xbar %y has no attribute 'row_splits': run split first"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Arena *arena = arena_new();
        Diags d;
        diags_init(&d, arena);
        Graph *g = ir_graph_new(arena, "order");
        g->arch = arena_alloc(arena, sizeof *g->arch);
        *g->arch = arch_default();
        LayerSpec s = {.groups = 1, .k = 3, .n = 2, .quantized = true, .w_bits = 8};
        Op *op = add_layer(g, &s);
        op->result->name = "y";
        PassOptions options = {0};
        cr_assert(!pass_run_pipeline(g, cases[i].pipeline, &options, &d), "%s ran", cases[i].pipeline);
        if (!test_diags_contain(&d, cases[i].message))
            diags_print(&d, stderr);
        cr_assert(test_diags_contain(&d, cases[i].message), "%s: no '%s'", cases[i].pipeline, cases[i].message);
        arena_free(arena);
    }
}

Test(mapping, no_architecture)
{
    Arena *arena = arena_new();
    Diags d;
    diags_init(&d, arena);
    Graph *g = ir_graph_new(arena, "bare");
    LayerSpec s = {.groups = 1, .k = 3, .n = 2, .quantized = false, .w_bits = 8};
    add_layer(g, &s);
    cr_assert(!run_mapping(g, &d));
    cr_assert(test_diags_contain(&d, "sign-map: graph @bare has no architecture"));
    arena_free(arena);
}
