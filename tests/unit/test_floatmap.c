/* test_floatmap.c: the crossbar mapping in float weights against the original graph.
 *
 * docs/crossbar.md section 9: without quantization, the blocks, tiles and
 * instruction stream must compute what the network computed before it was
 * lowered.  A small graph is built here with random shapes and random float
 * weights (conv with 1 to 3 spatial axes, strides, asymmetric pads,
 * dilations, groups and depthwise; gemm with transB, alpha, beta and a bias;
 * matmul with batch dims; a gemm -> relu -> matmul chain of two layers), run
 * in the reference interpreter as it is, and then lowered, mapped in float
 * weights (no calibration, no quantize) onto a tiny crossbar (2 to 16 rows
 * and columns, so that even these small layers are cut into many row and
 * column blocks), emitted and run in the simulator.  Every sign mapping is
 * drawn.  Some programs go through program_write / program_read first, so
 * the float tiles of the file format are covered too.
 *
 * Tolerance: the simulator sums in block order and, for the offset mapping,
 * adds max|w| to every weight and subtracts it again, so an output that
 * cancels to near zero keeps an absolute error of the layer's scale.  The
 * check is |got - want| <= 1e-4 * (|want| + max |want| of the output), which
 * any misplaced row, column, block or group (an error of a whole product
 * term, some 1e-2 or more here) exceeds by orders of magnitude. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "passes/passes.h"
#include "runtime/program.h"
#include "runtime/runtime.h"
#include "test_support.h"

static const double RTOL = 1e-4;

/* What the random cases covered, asserted at the end so that a change of the
 * generator cannot silently drop a feature. */
typedef struct {
    int conv, grouped, depthwise, strided, padded, dilated, spatial3;
    int gemm, matmul, chain;
    int signs[3];
    int round_trips;
} Coverage;

/* ---- random layers ---- */

typedef struct {
    int64_t groups, per_group_in, out_channels;
    int spatial;
    int64_t in[3], kernel[3], strides[3], dilations[3], pads[6];
} ConvShape;

static void random_conv_shape(ConvShape *s)
{
    s->spatial = (int)test_uniform(1, 6);
    s->spatial = s->spatial <= 2 ? 1 : s->spatial <= 5 ? 2 : 3;
    switch (test_uniform(0, 2)) {
    case 0:                                 /* depthwise, multiplier 1 or 2 */
        s->groups = test_uniform(1, 6);
        s->per_group_in = 1;
        s->out_channels = s->groups * test_uniform(1, 2);
        break;
    case 1:                                 /* grouped */
        s->groups = test_uniform(2, 4);
        s->per_group_in = test_uniform(1, 3);
        s->out_channels = s->groups * test_uniform(1, 4);
        break;
    default:
        s->groups = 1;
        s->per_group_in = test_uniform(1, 5);
        s->out_channels = test_uniform(1, 9);
        break;
    }
    for (int i = 0; i < s->spatial; i++) {
        int64_t in = test_uniform(1, s->spatial == 3 ? 4 : 8);
        int64_t kernel = test_uniform(1, s->spatial == 3 ? 2 : 4), dilation = test_uniform(1, 2);
        int64_t begin = test_uniform(0, 2), end = test_uniform(0, 2);
        int64_t span = (kernel - 1) * dilation + 1;
        while (in + begin + end < span) {   /* make the window fit */
            begin++;
            end++;
        }
        s->in[i] = in;
        s->kernel[i] = kernel;
        s->strides[i] = test_uniform(1, 3);
        s->dilations[i] = dilation;
        s->pads[i] = begin;
        s->pads[s->spatial + i] = end;
    }
}

static void build_conv(Graph *g, Coverage *cov, char *what, size_t size)
{
    ConvShape s;
    random_conv_shape(&s);
    int rank = 2 + s.spatial;
    int64_t batch = test_uniform(1, 2);
    int64_t x_dims[5] = {batch, s.groups * s.per_group_in}, w_dims[5] = {s.out_channels, s.per_group_in},
            y_dims[5] = {batch, s.out_channels};
    bool strided = false, padded = false, dilated = false;
    for (int i = 0; i < s.spatial; i++) {
        int64_t span = (s.kernel[i] - 1) * s.dilations[i] + 1;
        x_dims[2 + i] = s.in[i];
        w_dims[2 + i] = s.kernel[i];
        y_dims[2 + i] = (s.in[i] + s.pads[i] + s.pads[s.spatial + i] - span) / s.strides[i] + 1;
        strided |= s.strides[i] > 1;
        padded |= s.pads[i] + s.pads[s.spatial + i] > 0;
        dilated |= s.dilations[i] > 1 && s.kernel[i] > 1;
    }
    Value *in[3] = {ir_add_input(g, "x", type_make(rank, x_dims)), test_random_const(g, rank, w_dims), NULL};
    int n_in = 2;
    if (test_uniform(0, 2) != 0) {
        in[2] = test_random_const(g, 1, &s.out_channels);
        n_in = 3;
    }
    Op *op = ir_add_op(g, OP_CONV, in, n_in, "y", type_make(rank, y_dims), (Loc){0});
    ir_set_ints(g, op, "strides", s.strides, s.spatial);
    ir_set_ints(g, op, "pads", s.pads, 2 * s.spatial);
    ir_set_ints(g, op, "dilations", s.dilations, s.spatial);
    ir_set_int(g, op, "group", s.groups);
    ir_add_output(g, op->result);

    bool depthwise = s.per_group_in == 1 && s.groups > 1;
    cov->conv++;
    cov->grouped += s.groups > 1 && !depthwise;
    cov->depthwise += depthwise;
    cov->strided += strided;
    cov->padded += padded;
    cov->dilated += dilated;
    cov->spatial3 += s.spatial == 3;
    snprintf(what, size, "conv %dd, %s, x %s, w %s, group %lld%s%s%s", s.spatial,
             depthwise ? "depthwise" : s.groups > 1 ? "grouped" : "dense", type_format(g->arena, &in[0]->type),
             type_format(g->arena, &in[1]->type), (long long)s.groups, strided ? ", strided" : "",
             padded ? ", padded" : "", dilated ? ", dilated" : "");
}

/* gemm y = alpha * x op(w) + beta * c. */
static Value *add_gemm(Graph *g, Value *x, int64_t n, const char *name)
{
    int64_t m = x->type.dims[0], k = x->type.dims[1];
    bool trans_b = test_uniform(0, 1);
    int64_t w_dims[2] = {trans_b ? n : k, trans_b ? k : n};
    Value *in[3] = {x, test_random_const(g, 2, w_dims), test_random_const(g, 1, &n)};
    int64_t y_dims[2] = {m, n};
    Op *op = ir_add_op(g, OP_GEMM, in, test_uniform(0, 3) ? 3 : 2, name, type_make(2, y_dims), (Loc){0});
    ir_set_int(g, op, "transB", trans_b);
    ir_set_float(g, op, "alpha", test_uniform(0, 1) ? 1.0f : 0.75f);
    ir_set_float(g, op, "beta", test_uniform(0, 1) ? 1.0f : -0.5f);
    return op->result;
}

static void build_gemm(Graph *g, Coverage *cov, char *what, size_t size)
{
    int64_t dims[2] = {test_uniform(1, 3), test_uniform(1, 40)}, n = test_uniform(1, 24);
    Value *x = ir_add_input(g, "x", type_make(2, dims));
    ir_add_output(g, add_gemm(g, x, n, "y"));
    cov->gemm++;
    snprintf(what, size, "gemm %lldx%lld x %lldx%lld", (long long)dims[0], (long long)dims[1], (long long)dims[1],
             (long long)n);
}

static Value *add_matmul(Graph *g, Value *x, int64_t n, const char *name)
{
    int64_t k = x->type.dims[x->type.rank - 1], w_dims[2] = {k, n};
    Type y = x->type;
    y.dims[y.rank - 1] = n;
    Value *in[2] = {x, test_random_const(g, 2, w_dims)};
    return ir_add_op(g, OP_MATMUL, in, 2, name, y, (Loc){0})->result;
}

static void build_matmul(Graph *g, Coverage *cov, char *what, size_t size)
{
    int64_t x_dims[3] = {test_uniform(1, 2), test_uniform(1, 3), test_uniform(1, 30)}, n = test_uniform(1, 20);
    int rank = (int)test_uniform(1, 3);
    Value *x = ir_add_input(g, "x", type_make(rank, x_dims + 3 - rank));
    ir_add_output(g, add_matmul(g, x, n, "y"));
    cov->matmul++;
    snprintf(what, size, "matmul %s x [%lld, %lld]", type_format(g->arena, &x->type),
             (long long)x_dims[2], (long long)n);
}

/* gemm -> relu -> matmul: two layers, the second on tiles after the first's. */
static void build_chain(Graph *g, Coverage *cov, char *what, size_t size)
{
    int64_t dims[2] = {test_uniform(1, 2), test_uniform(1, 30)};
    Value *x = ir_add_input(g, "x", type_make(2, dims));
    Value *h = add_gemm(g, x, test_uniform(1, 20), "h");
    Op *relu = ir_add_op(g, OP_RELU, &h, 1, "r", h->type, (Loc){0});
    ir_add_output(g, add_matmul(g, relu->result, test_uniform(1, 12), "y"));
    cov->chain++;
    snprintf(what, size, "gemm-relu-matmul, x %s, hidden %lld", type_format(g->arena, &x->type),
             (long long)h->type.dims[1]);
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

/* Writes the program to a file and reads it back, as `xbarc run` would. */
static Program *round_trip(Arena *arena, const Program *p, Diags *d)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_floatmap.%d.xbp", (int)getpid());
    Outputs *outs = outputs_new(arena, d);
    Program *back = outputs_commit(outs, program_write(p, outs, path, d)) ? program_read(arena, path, d) : NULL;
    unlink(path);
    if (!back)
        diags_print(d, stderr);
    return back;
}

static void run_case(int c, Coverage *cov)
{
    Arena *arena = arena_new();
    Diags d;
    diags_init(&d, arena);
    Graph *g = ir_graph_new(arena, "case");
    char layer[256];
    switch (test_uniform(0, 5)) {
    case 0: case 1: case 2: build_conv(g, cov, layer, sizeof layer); break;
    case 3: build_gemm(g, cov, layer, sizeof layer); break;
    case 4: build_matmul(g, cov, layer, sizeof layer); break;
    default: build_chain(g, cov, layer, sizeof layer); break;
    }
    Arch *a = arena_alloc(arena, sizeof *a);
    *a = arch_default();
    a->rows = (int)test_uniform(2, 16);
    a->cols = (int)test_uniform(2, 16);
    a->cols_per_adc = a->cols < a->cols_per_adc ? a->cols : a->cols_per_adc;
    a->sign = (SignMapping)test_uniform(0, 2);
    cov->signs[a->sign]++;
    bool through_file = test_uniform(0, 3) == 0;
    char what[512];
    snprintf(what, sizeof what, "case %d (%s) on %dx%d crossbars, %s%s", c, layer, a->rows, a->cols,
             sign_mapping_name(a->sign), through_file ? ", through a file" : "");
    cr_assert(ir_verify(g, &d), "%s: the test built an invalid graph", what);

    /* The reference: the original graph, before any pass. */
    int64_t size = type_numel(&g->inputs[0]->type), n = type_numel(&g->outputs[0]->type);
    float *input = arena_array(arena, (size_t)size, sizeof(float));
    float *want = arena_array(arena, (size_t)n, sizeof(float));
    for (int64_t i = 0; i < size; i++)
        input[i] = test_uniform_float(-1.0f, 1.0f);
    Interp *ref = interp_new(g);
    memcpy(interp_input(ref, 0), input, (size_t)size * sizeof(float));
    interp_run(ref);
    memcpy(want, interp_output(ref, 0), (size_t)n * sizeof(float));
    interp_free(ref);

    /* Float weights: lowering and mapping, no calibration, no quantize. */
    g->arch = a;
    cr_assert(run_pipeline(g, lowering_pipeline, &d), "%s: lowering failed", what);
    int xbars = 0;
    for (int i = 0; i < g->n_ops; i++)
        xbars += g->ops[i]->kind == OP_XBAR;
    cr_assert(xbars >= 1, "%s: no layer was lowered to a crossbar op", what);
    cr_assert(run_pipeline(g, mapping_pipeline, &d), "%s: mapping failed", what);
    Program *p = emit_program(arena, g, &d);
    if (!p)
        diags_print(&d, stderr);
    cr_assert(p, "%s: emit failed", what);
    cr_assert(p->float_weights, "%s: the program is not a float-weight one", what);
    if (through_file) {
        p = round_trip(arena, p, &d);
        cr_assert(p, "%s: the program did not survive program_write / program_read", what);
        cov->round_trips++;
    }

    Sim *sim = sim_new(p);
    sim_set_fast_path(sim, test_uniform(0, 1));
    memcpy(sim_input(sim, 0), input, (size_t)size * sizeof(float));
    sim_run(sim);
    const float *got = sim_output(sim, 0);
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (!(fabs((double)got[i] - want[i]) <= RTOL * (fabs(want[i]) + scale)))
            bad = i;
    float got_bad = bad >= 0 ? got[bad] : 0, want_bad = bad >= 0 ? want[bad] : 0;
    sim_free(sim);
    arena_free(arena);
    cr_assert(bad < 0, "%s: output %lld is %.9g in the simulator, %.9g in the original graph", what,
              (long long)bad, got_bad, want_bad);
}

Test(floatmap, random_layers_on_tiny_crossbars, .timeout = 120)
{
    test_seed(0x853c49e6748fea9bu);
    Coverage cov = {0};
    enum { CASES = 600 };
    for (int c = 0; c < CASES; c++)
        run_case(c, &cov);
    printf("test_floatmap: %d random layers match the original graph in float weights (conv %d: grouped %d, "
           "depthwise %d, strided %d, padded %d, dilated %d, 3-d %d; gemm %d, matmul %d, chains %d; "
           "pair-analog %d, pair-digital %d, offset %d; %d through a file)\n",
           CASES, cov.conv, cov.grouped, cov.depthwise, cov.strided, cov.padded, cov.dilated, cov.spatial3,
           cov.gemm, cov.matmul, cov.chain, cov.signs[0], cov.signs[1], cov.signs[2], cov.round_trips);
    cr_expect(cov.grouped >= 10 && cov.depthwise >= 10 && cov.strided >= 10 && cov.padded >= 10 &&
              cov.dilated >= 10 && cov.spatial3 >= 10, "the conv features were not all drawn often");
    cr_expect(cov.gemm >= 10 && cov.matmul >= 10 && cov.chain >= 10, "the layer kinds were not all drawn often");
    cr_expect(cov.signs[0] >= 10 && cov.signs[1] >= 10 && cov.signs[2] >= 10 && cov.round_trips >= 10,
              "the sign mappings or the file round trip were not all drawn often");
}

/* The finest split the mappings allow: 2x2 crossbars, so that every block holds
 * two rows and one weight column (a pair, or a column and its reference), for
 * a depthwise conv with multiplier 2, strides, asymmetric pads and a dilation,
 * on every sign mapping; the block count is worked out by hand. */
Test(floatmap, depthwise_conv_on_2x2_crossbars)
{
    for (int sign = 0; sign < 3; sign++) {
        Arena *arena = arena_new();
        Diags d;
        diags_init(&d, arena);
        Graph *g = ir_graph_new(arena, "dw");
        test_seed(0x2545f4914f6cdd1du + (uint64_t)sign);
        int64_t x_dims[4] = {2, 3, 7, 6}, w_dims[4] = {6, 1, 3, 2}, b_dims[1] = {6};
        int64_t strides[2] = {2, 1}, pads[4] = {1, 0, 2, 1}, dilations[2] = {2, 1};
        /* out: (7 + 3 - 5) / 2 + 1 = 3 rows, (6 + 1 - 2) / 1 + 1 = 6 cols */
        int64_t y_dims[4] = {2, 6, 3, 6};
        Value *in[3] = {ir_add_input(g, "x", type_make(4, x_dims)), test_random_const(g, 4, w_dims),
                        test_random_const(g, 1, b_dims)};
        Op *op = ir_add_op(g, OP_CONV, in, 3, "y", type_make(4, y_dims), (Loc){0});
        ir_set_ints(g, op, "strides", strides, 2);
        ir_set_ints(g, op, "pads", pads, 4);
        ir_set_ints(g, op, "dilations", dilations, 2);
        ir_set_int(g, op, "group", 3);
        ir_add_output(g, op->result);
        cr_assert(ir_verify(g, &d), "the test built an invalid graph");

        int64_t size = type_numel(&in[0]->type), n = type_numel(&op->result->type);
        float *input = arena_array(arena, (size_t)size, sizeof(float));
        float *want = arena_array(arena, (size_t)n, sizeof(float));
        for (int64_t i = 0; i < size; i++)
            input[i] = test_uniform_float(-1.0f, 1.0f);
        Interp *ref = interp_new(g);
        memcpy(interp_input(ref, 0), input, (size_t)size * sizeof(float));
        interp_run(ref);
        memcpy(want, interp_output(ref, 0), (size_t)n * sizeof(float));
        interp_free(ref);

        g->arch = arena_alloc(arena, sizeof *g->arch);
        *g->arch = arch_default();
        g->arch->rows = g->arch->cols = g->arch->cols_per_adc = 2;
        g->arch->sign = (SignMapping)sign;
        cr_assert(run_pipeline(g, lowering_pipeline, &d) && run_pipeline(g, mapping_pipeline, &d));
        Program *p = emit_program(arena, g, &d);
        cr_assert(p, "emit failed");
        /* K = 1 * 3 * 2 = 6 rows: 3 row blocks of 2; N = 2 weight columns per
         * group: 2 column blocks of one; 3 groups: 18 blocks on 18 tiles. */
        cr_expect_eq(p->n_tiles, 18, "%s: %d tiles, expected 18", sign_mapping_name(g->arch->sign), p->n_tiles);
        Sim *sim = sim_new(p);
        memcpy(sim_input(sim, 0), input, (size_t)size * sizeof(float));
        sim_run(sim);
        const float *got = sim_output(sim, 0);
        for (int64_t i = 0; i < n; i++)
            cr_expect(fabs((double)got[i] - want[i]) <= RTOL * (fabs(want[i]) + 1.0),
                      "%s: output %lld is %.9g, expected %.9g", sign_mapping_name(g->arch->sign), (long long)i,
                      got[i], want[i]);
        sim_free(sim);
        arena_free(arena);
    }
}
