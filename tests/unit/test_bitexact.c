/* test_bitexact.c: the whole crossbar chain against the integer reference.
 *
 * Property test over random layers and architectures (issue 3): a small graph
 * is built here (conv 1-D or 2-D with strides, pads, dilations, groups and
 * depthwise; gemm with transB, alpha, beta and bias; matmul with batch dims; a
 * gemm -> relu -> gemm chain), given a random architecture (crossbars 32 to
 * 512, cell bits 1 to 4, DAC bits 1 to 8, every sign mapping, weights per
 * channel or per layer), lowered, calibrated on random inputs, quantized,
 * mapped (blocks one per tile, or packed dense or balanced into shared tiles;
 * a third of the cases with every layer in 2 or 3 copies that split the
 * output pixels), emitted as a program and run in the simulator.  The reference
 * interpreter runs the same quantized graph, whose xbar ops it executes as
 * the integer reference (no tiles, no slices, no cycles); the two outputs must
 * be equal bit for bit.  Run inputs differ from calibration inputs, so some
 * codes clip at the activation range, which both sides must do alike.  Some
 * cases force the simulator's read-by-read path (no fast path) so that DAC
 * cycles, slices, pairs, reference columns and ADCs are exercised one read at
 * a time; those cases are kept small. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "passes/passes.h"
#include "runtime/runtime.h"
#include "test_support.h"

/* ---- random layers ---- */

typedef struct {
    const char *kind;       /* for the failure message */
    bool small;             /* fit for the read-by-read path */
} CaseInfo;

/* conv of random shape: 1 or 2 spatial axes, groups or depthwise. */
static void build_conv(Graph *g, bool small, CaseInfo *info)
{
    int spatial = test_uniform(0, 3) == 0 ? 1 : 2;
    int64_t groups = 1, per_group_in, out_channels;
    int shape = (int)test_uniform(0, 2);
    if (shape == 0) {                       /* depthwise */
        groups = test_uniform(1, small ? 6 : 40);
        per_group_in = 1;
        out_channels = groups * test_uniform(1, 2);
        info->kind = "depthwise conv";
    } else if (shape == 1) {                /* grouped */
        groups = test_uniform(2, 4);
        per_group_in = test_uniform(1, small ? 3 : 24);
        out_channels = groups * test_uniform(1, small ? 3 : 40);
        info->kind = "grouped conv";
    } else {
        per_group_in = test_uniform(1, small ? 4 : 70);
        out_channels = test_uniform(1, small ? 6 : 300);
        info->kind = "conv";
    }
    int64_t x_dims[4] = {test_uniform(1, 2), groups * per_group_in, 1, 1};
    int64_t w_dims[4] = {out_channels, per_group_in, 1, 1};
    int64_t y_dims[4] = {x_dims[0], out_channels, 1, 1};
    int64_t strides[2], pads[4], dilations[2];
    for (int i = 0; i < spatial; i++) {
        int64_t in = test_uniform(1, small ? 6 : (spatial == 1 ? 24 : 10));
        int64_t kernel = test_uniform(1, 5), dilation = test_uniform(1, 2);
        int64_t begin = test_uniform(0, 2), end = test_uniform(0, 2);
        int64_t span = (kernel - 1) * dilation + 1;
        while (in + begin + end < span) {   /* make the window fit */
            begin++;
            end++;
        }
        strides[i] = test_uniform(1, 3);
        dilations[i] = dilation;
        pads[i] = begin;
        pads[spatial + i] = end;
        x_dims[2 + i] = in;
        w_dims[2 + i] = kernel;
        y_dims[2 + i] = (in + begin + end - span) / strides[i] + 1;
    }
    Value *x = ir_add_input(g, "x", type_make(2 + spatial, x_dims));
    Value *in[3] = {x, test_random_const(g, 2 + spatial, w_dims), NULL};
    int n_in = 2;
    if (test_uniform(0, 2) != 0) {
        in[2] = test_random_const(g, 1, &out_channels);
        n_in = 3;
    }
    Op *op = ir_add_op(g, OP_CONV, in, n_in, "y", type_make(2 + spatial, y_dims), (Loc){0});
    ir_set_ints(g, op, "strides", strides, spatial);
    ir_set_ints(g, op, "pads", pads, 2 * spatial);
    ir_set_ints(g, op, "dilations", dilations, spatial);
    ir_set_int(g, op, "group", groups);
    ir_add_output(g, op->result);
}

/* gemm y = alpha * x w + beta * c, with K and N from 1 to 2000. */
static Value *add_gemm(Graph *g, Value *x, int64_t n, const char *name)
{
    int64_t m = x->type.dims[0], k = x->type.dims[1];
    bool trans_b = test_uniform(0, 1);
    int64_t w_dims[2] = {trans_b ? n : k, trans_b ? k : n};
    Value *in[3] = {x, test_random_const(g, 2, w_dims), test_random_const(g, 1, &n)};
    int64_t y_dims[2] = {m, n};
    Op *op = ir_add_op(g, OP_GEMM, in, 3, name, type_make(2, y_dims), (Loc){0});
    ir_set_int(g, op, "transB", trans_b);
    ir_set_float(g, op, "alpha", test_uniform(0, 1) ? 1.0f : 0.75f);
    ir_set_float(g, op, "beta", test_uniform(0, 1) ? 1.0f : -0.5f);
    return op->result;
}

static void build_gemm(Graph *g, bool small, CaseInfo *info)
{
    int64_t dims[2] = {test_uniform(1, 3), small ? test_uniform(1, 40) : test_uniform(1, 2000)};
    Value *x = ir_add_input(g, "x", type_make(2, dims));
    ir_add_output(g, add_gemm(g, x, small ? test_uniform(1, 20) : test_uniform(1, 2000), "y"));
    info->kind = "gemm";
}

static void build_matmul(Graph *g, bool small, CaseInfo *info)
{
    int64_t k = test_uniform(1, small ? 30 : 600), n = test_uniform(1, small ? 20 : 600);
    int64_t x_dims[3] = {test_uniform(1, 2), test_uniform(1, 3), k}, w_dims[2] = {k, n},
            y_dims[3] = {x_dims[0], x_dims[1], n};
    Value *in[2] = {ir_add_input(g, "x", type_make(3, x_dims)), test_random_const(g, 2, w_dims)};
    Op *op = ir_add_op(g, OP_MATMUL, in, 2, "y", type_make(3, y_dims), (Loc){0});
    ir_add_output(g, op->result);
    info->kind = "matmul";
}

/* gemm -> relu -> gemm: the second layer sees unsigned codes. */
static void build_chain(Graph *g, bool small, CaseInfo *info)
{
    int64_t dims[2] = {test_uniform(1, 2), test_uniform(1, small ? 20 : 400)};
    Value *x = ir_add_input(g, "x", type_make(2, dims));
    Value *h = add_gemm(g, x, test_uniform(1, small ? 20 : 400), "h");
    Op *relu = ir_add_op(g, OP_RELU, &h, 1, "r", h->type, (Loc){0});
    ir_add_output(g, add_gemm(g, relu->result, test_uniform(1, small ? 10 : 300), "y"));
    info->kind = "gemm-relu-gemm";
}

static void random_arch(Arch *a)
{
    *a = arch_default();
    a->rows = (int)test_uniform(32, 512);
    a->cols = (int)test_uniform(32, 512);
    a->cell_bits = (int)test_uniform(1, 4);
    a->dac_bits = (int)test_uniform(1, 8);
    a->input_bits = (int)test_uniform(a->dac_bits > 2 ? a->dac_bits : 2, 8);
    a->weight_bits = (int)test_uniform(2, 8);
    a->weight_per_layer = test_uniform(0, 1);
    a->sign = (SignMapping)test_uniform(0, 2);
    a->tiles = 0;
}

/* ---- one case ---- */

static bool run_pipeline(Graph *g, const char *pipeline, Diags *d)
{
    PassOptions options = {0};
    bool ok = pass_run_pipeline(g, pipeline, &options, d);
    if (!ok)
        diags_print(d, stderr);
    return ok;
}

/* Gives every xbar op r copies (docs/crossbar.md 6), each with the ADCs of
 * the blocks it copies, then places them again: the copies share the
 * output pixels and must compute what one copy did.  (adc-lossless does not
 * repeat its lists per copy yet, so the copies are made after it.) */
static bool replicate_all(Graph *g, const char *place, int64_t r, Diags *d)
{
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->kind != OP_XBAR || op->dead)
            continue;
        const Attr *bits = ir_attr(op, "adc_bits"), *full = ir_attr(op, "adc_max");
        int n = bits->count;
        int64_t *b = arena_array(g->arena, (size_t)(n * r), sizeof(int64_t));
        float *f = arena_array(g->arena, (size_t)(n * r), sizeof(float));
        for (int64_t j = 0; j < r; j++) {
            memcpy(b + j * n, bits->ints, (size_t)n * sizeof(int64_t));
            memcpy(f + j * n, full->floats, (size_t)n * sizeof(float));
        }
        ir_set_int(g, op, "replicas", r);
        ir_set_ints(g, op, "adc_bits", b, (int)(n * r));
        ir_set_floats(g, op, "adc_max", f, (int)(n * r));
    }
    return run_pipeline(g, place, d);
}

/* Builds, compiles and runs case `c`, asserting bit-identical outputs. */
static void run_case(int c, bool slow)
{
    Arena *arena = arena_new();
    Diags d;
    diags_init(&d, arena);
    Graph *g = ir_graph_new(arena, "case");
    g->arch = arena_alloc(arena, sizeof *g->arch);
    random_arch(g->arch);
    CaseInfo info = {0};
    switch (test_uniform(0, 4)) {
    case 0: case 1: build_conv(g, slow, &info); break;
    case 2: build_gemm(g, slow, &info); break;
    case 3: build_matmul(g, slow, &info); break;
    default: build_chain(g, slow, &info); break;
    }
    const Arch *a = g->arch;
    /* Blocks packed into shared tiles must compute the same (docs/mapping.md). */
    static const char *const packings[] = {"none", "dense", "balanced"};
    const char *packing = packings[test_uniform(0, 2)];
    const char *mapping = strcmp(packing, "none") == 0 ? mapping_pipeline :
                          strcmp(packing, "dense") == 0 ?
                          "sign-map,bit-slice,split{mode=full},replicate,place{packing=dense},adc-lossless" :
                          "sign-map,bit-slice,split{mode=full},replicate,place{packing=balanced},adc-lossless";
    int64_t copies = test_uniform(0, 2) == 0 ? test_uniform(2, 3) : 1;
    char what[256];
    snprintf(what, sizeof what, "case %d (%s, %s path, packing %s, %lld copies): %dx%d crossbar, cell_bits %d, "
             "dac_bits %d, input_bits %d, weight_bits %d%s, %s", c, info.kind, slow ? "read-by-read" : "fast",
             packing, (long long)copies, a->rows, a->cols, a->cell_bits, a->dac_bits, a->input_bits, a->weight_bits,
             a->weight_per_layer ? " per layer" : "", sign_mapping_name(a->sign));
    cr_assert(ir_verify(g, &d), "%s: the test built an invalid graph", what);
    cr_assert(run_pipeline(g, lowering_pipeline, &d), "%s: lowering failed", what);

    /* Calibration on non-negative inputs (unsigned codes) or signed ones. */
    int64_t size = type_numel(&g->inputs[0]->type);
    bool non_negative = test_uniform(0, 1);
    float lo = non_negative ? 0.0f : -1.0f;
    int images = 3;
    float *calib = arena_array(arena, (size_t)(images * size), sizeof(float));
    test_fill(calib, images * size, lo, 1.0f);
    cr_assert(calibrate_xbar(g, calib, images, &d), "%s: calibration failed", what);
    cr_assert(run_pipeline(g, "quantize", &d), "%s: quantize failed", what);
    cr_assert(run_pipeline(g, mapping, &d), "%s: mapping failed", what);
    if (copies > 1)
        cr_assert(replicate_all(g, arena_printf(arena, "place{packing=%s}", packing), copies, &d),
                  "%s: placing the copies failed", what);
    Program *p = emit_program(arena, g, &d);
    if (!p)
        diags_print(&d, stderr);
    cr_assert(p, "%s: emit failed", what);

    /* The same inputs, a little wider than calibration: some codes clip. */
    float *input = arena_array(arena, (size_t)size, sizeof(float));
    test_fill(input, size, lo * 1.2f, 1.2f);
    Sim *sim = sim_new(p);
    sim_set_fast_path(sim, !slow);
    Interp *ref = interp_new(g);
    memcpy(interp_input(ref, 0), input, (size_t)size * sizeof(float));
    interp_run(ref);
    /* the fast path also with each layer's rows split over 2 and 3 threads
     * (sim_set_threads): the same bits as the reference for every count */
    int64_t n = type_numel(&g->outputs[0]->type), first = -1;
    float got_first = 0, want_first = 0;
    int threads = 1;
    for (; threads <= (slow ? 1 : 3) && first < 0; threads++) {
        cr_assert(sim_set_threads(sim, threads));
        memcpy(sim_input(sim, 0), input, (size_t)size * sizeof(float));
        sim_run(sim);
        const float *got = sim_output(sim, 0), *want = interp_output(ref, 0);
        for (int64_t i = 0; i < n && first < 0; i++)
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
                first = i;
        got_first = first >= 0 ? got[first] : 0, want_first = first >= 0 ? want[first] : 0;
    }
    sim_free(sim);
    interp_free(ref);
    arena_free(arena);
    cr_assert(first < 0, "%s, %d threads: output %lld is %.9g in the simulator, %.9g in the integer reference", what,
              threads - 1, (long long)first, got_first, want_first);
}

/* Cases run until both counts are reached or a time budget is spent, so the
 * test stays within seconds under sanitizers; the counts reached are printed
 * and must pass a floor. */
Test(bitexact, random_layers, .timeout = 120)
{
    test_seed(0x2545f4914f6cdd1du);
    double start = test_seconds();
    int fast = 0, slow = 0;
    while ((fast < 200 || slow < 100) && test_seconds() - start < 12.0) {
        bool read_by_read = slow * 2 < fast;
        run_case(fast + slow, read_by_read);
        if (read_by_read)
            slow++;
        else
            fast++;
    }
    printf("test_bitexact: %d random layers bit-exact (%d on the fast path, %d read by read) in %.1f s\n",
           fast + slow, fast, slow, test_seconds() - start);
    cr_assert(fast >= 20 && slow >= 10, "only %d fast and %d read-by-read cases ran", fast, slow);
}
