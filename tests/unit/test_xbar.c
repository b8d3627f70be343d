/* test_xbar.c: the xbar op, lower-xbar, calibration, quantize and the integer
 * reference.
 *
 * Lowering is checked by its function: the reference interpreter runs each
 * graph before (conv, gemm, matmul kernels) and after (the xbar op's own float
 * path) on random inputs, and the outputs must agree to 1e-5.  Quantization is
 * checked two ways: a small random network stays close to its float outputs,
 * and the integer reference equals a straightforward computation written here
 * (direct convolution loops, int64 sums, the float formula of
 * docs/crossbar.md section 3) bit for bit. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "passes/passes.h"
#include "runtime/runtime.h"
#include "runtime/quant.h"

#define TEST_FIXTURE
#include "test_support.h"

bool pass_lower_xbar(Graph *g, const PassArgs *args, Diags *diags);
bool pass_quantize(Graph *g, const PassArgs *args, Diags *diags);

/* Every test draws the same sequence. */
static void setup(void)
{
    test_setup();
    test_seed(12345);
}

TestSuite(xbar, .init = setup, .fini = test_teardown);

/* ---- helpers ---- */

static Type ty(int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t d4)
{
    int64_t dims[5] = {d0, d1, d2, d3, d4};
    return type_make(rank, dims);
}

static Value *random_const(Graph *g, const char *name, Type type, float lo, float hi)
{
    Value *v = ir_add_const(g, name, type, NULL);
    test_fill(v->data, type_numel(&type), lo, hi);
    return v;
}

static Op *add_op(Graph *g, OpKind kind, Value **in, int n, const char *name)
{
    Op *op = ir_add_op(g, kind, in, n, name, (Type){0}, (Loc){0});
    return op;
}

/* Sets op's result type from shape inference (after its attributes are set). */
static void type_op(Op *op)
{
    cr_assert(ir_infer_type(op, &op->result->type, &diags), "%s", diags.first ? diags.first->text : "");
}

static void assert_verifies(const Graph *g)
{
    Diags d;
    diags_init(&d, arena);
    bool ok = ir_verify(g, &d);
    if (!ok)
        diags_print(&d, stderr);
    cr_assert(ok);
}

/* Runs g (one input) and returns a malloc'd copy of output 0. */
static float *run(const Graph *g, const float *input)
{
    Interp *in = interp_new(g);
    memcpy(interp_input(in, 0), input, (size_t)type_numel(&g->inputs[0]->type) * sizeof(float));
    interp_run(in);
    int64_t n = type_numel(&g->outputs[0]->type);
    float *out = malloc((size_t)n * sizeof *out);
    memcpy(out, interp_output(in, 0), (size_t)n * sizeof *out);
    interp_free(in);
    return out;
}

static int count_kind(const Graph *g, OpKind kind)
{
    int n = 0;
    for (int i = 0; i < g->n_ops; i++)
        n += g->ops[i]->kind == kind;
    return n;
}

/* Lowers g and checks that its output is unchanged on a random input. */
static void check_lowering(Graph *g, int expected_xbars)
{
    assert_verifies(g);
    int64_t n_in = type_numel(&g->inputs[0]->type), n_out = type_numel(&g->outputs[0]->type);
    float *input = malloc((size_t)n_in * sizeof *input);
    for (int64_t i = 0; i < n_in; i++)
        input[i] = test_uniform_float(-1, 1);
    float *before = run(g, input);
    cr_assert(pass_lower_xbar(g, NULL, &diags), "%s", test_messages());
    assert_verifies(g);
    cr_assert_eq(count_kind(g, OP_XBAR), expected_xbars);
    cr_assert_not_null(g->arch);
    float *after = run(g, input);
    for (int64_t i = 0; i < n_out; i++)
        cr_assert(fabsf(before[i] - after[i]) <= 1e-5f * (1 + fabsf(before[i])),
                  "output %lld: %.9g before, %.9g after lowering", (long long)i, before[i], after[i]);
    free(input);
    free(before);
    free(after);
}

typedef struct {
    int spatial;
    int64_t batch, channels, out_channels, group;
    int64_t in[3], kernel[3], strides[3], dilations[3], pads[6];
    bool bias;
} ConvCase;

static Graph *conv_graph(const ConvCase *c)
{
    Graph *g = ir_graph_new(arena, "conv");
    int rank = 2 + c->spatial;
    int64_t xd[5] = {c->batch, c->channels}, wd[5] = {c->out_channels, c->channels / c->group};
    for (int i = 0; i < c->spatial; i++) {
        xd[2 + i] = c->in[i];
        wd[2 + i] = c->kernel[i];
    }
    Value *in[3];
    in[0] = ir_add_input(g, "x", type_make(rank, xd));
    in[1] = random_const(g, "w", type_make(rank, wd), -1, 1);
    in[2] = c->bias ? random_const(g, "b", ty(1, c->out_channels, 0, 0, 0, 0), -1, 1) : NULL;
    Op *op = add_op(g, OP_CONV, in, c->bias ? 3 : 2, "y");
    ir_set_int(g, op, "group", c->group);
    ir_set_ints(g, op, "strides", c->strides, c->spatial);
    ir_set_ints(g, op, "dilations", c->dilations, c->spatial);
    ir_set_ints(g, op, "pads", c->pads, 2 * c->spatial);
    type_op(op);
    ir_add_output(g, op->result);
    return g;
}

/* ---- shape rule and attribute checks ---- */

static Op *xbar_op(Graph *g, Value *x, Type wtype, const char *form)
{
    Value *in[2] = {x, random_const(g, ir_fresh_name(g, "w"), wtype, -1, 1)};
    Op *op = add_op(g, OP_XBAR, in, 2, NULL);
    ir_set_string(g, op, "form", form);
    return op;
}

Test(xbar, infers_conv_and_matmul_forms)
{
    Graph *g = ir_graph_new(arena, "g");
    Value *x = ir_add_input(g, "x", ty(4, 2, 6, 7, 5, 0));
    Op *op = xbar_op(g, x, ty(3, 3, 2 * 3 * 2, 4, 0, 0), "conv");   /* G 3, C/G 2, 3x2 kernel, N 4 */
    int64_t kernel[2] = {3, 2}, strides[2] = {2, 1}, dil[2] = {1, 2}, pads[4] = {1, 0, 1, 1};
    ir_set_ints(g, op, "kernel", kernel, 2);
    ir_set_ints(g, op, "strides", strides, 2);
    ir_set_ints(g, op, "dilations", dil, 2);
    ir_set_ints(g, op, "pads", pads, 4);
    Type t;
    cr_assert(ir_infer_type(op, &t, &diags), "%s", test_messages());
    /* H: (7 + 2 - 3) / 2 + 1 = 4; W: (5 + 1 - 3) / 1 + 1 = 4 */
    cr_assert(type_equal(&t, &(Type){.rank = 4, .dims = {2, 12, 4, 4}}), "%s", type_format(arena, &t));
    XbarGeom geo;
    cr_assert(xbar_geom(op, &geo));
    cr_assert_eq(geo.rows, 2 * 16);
    cr_assert_eq(geo.channels, 2);

    Value *m = ir_add_input(g, "m", ty(3, 2, 3, 5, 0, 0));
    op = xbar_op(g, m, ty(3, 1, 5, 7, 0, 0), "matmul");
    cr_assert(ir_infer_type(op, &t, &diags), "%s", test_messages());
    cr_assert(type_equal(&t, &(Type){.rank = 3, .dims = {2, 3, 7}}));
    cr_assert(xbar_geom(op, &geo));
    cr_assert_eq(geo.rows, 6);
}

static void expect_infer_error(Op *op, const char *message)
{
    Type t;
    cr_assert_not(ir_infer_type(op, &t, &diags));
    cr_assert(strstr(test_messages(), message), "expected '%s' in:\n%s", message, test_messages());
}

Test(xbar, shape_errors)
{
    Graph *g = ir_graph_new(arena, "g");
    Value *x = ir_add_input(g, "x", ty(4, 1, 4, 5, 5, 0));
    Op *op = xbar_op(g, x, ty(3, 2, 2 * 9 + 1, 3, 0, 0), "conv");
    int64_t kernel[2] = {3, 3};
    ir_set_ints(g, op, "kernel", kernel, 2);
    expect_infer_error(op, "xbar: w has K = 19 rows but 2 channels per group x 9 window positions make 18");
    op = xbar_op(g, x, ty(3, 3, 4, 3, 0, 0), "conv");
    ir_set_ints(g, op, "kernel", kernel, 2);
    expect_infer_error(op, "x f32[1,4,5,5] has 4 channels, not a multiple of the 3 groups of w");
    op = xbar_op(g, x, ty(3, 1, 4, 3, 0, 0), "conv");
    expect_infer_error(op, "conv form needs the attribute 'kernel'");
    op = xbar_op(g, x, ty(3, 1, 4, 3, 0, 0), "matmul");
    expect_infer_error(op, "x f32[1,4,5,5] must end in K = 4");
    op = xbar_op(g, x, ty(3, 1, 5, 3, 0, 0), "dense");
    expect_infer_error(op, "form must be \"conv\" or \"matmul\", not \"dense\"");
    op = xbar_op(g, x, ty(2, 5, 3, 0, 0, 0), "matmul");
    expect_infer_error(op, "w must be [G, K, N], not f32[5,3]");
}

/* A verified matmul-form xbar [4, 10] x w[1, 10, 6] to hang attributes on. */
static Op *attr_op(Graph *g)
{
    Value *x = ir_add_input(g, "x", ty(2, 4, 10, 0, 0, 0));
    Op *op = xbar_op(g, x, ty(3, 1, 10, 6, 0, 0), "matmul");
    type_op(op);
    ir_add_output(g, op->result);
    assert_verifies(g);
    return op;
}

static void expect_verify_error(const Graph *g, const char *message)
{
    cr_assert_not(ir_verify(g, &diags), "verified, expected '%s'", message);
    cr_assert(strstr(test_messages(), message), "expected '%s' in:\n%s", message, test_messages());
}

Test(xbar, verifier_checks_splits_and_blocks)
{
    Graph *g = ir_graph_new(arena, "g");
    Op *op = attr_op(g);
    int64_t rows[3] = {0, 4, 10}, cols[3] = {0, 2, 6}, place[12] = {0};
    int64_t adc[4] = {8, 8, 8, 8};
    ir_set_ints(g, op, "row_splits", rows, 3);
    ir_set_ints(g, op, "col_splits", cols, 3);
    ir_set_ints(g, op, "place", place, 12);
    ir_set_ints(g, op, "adc_bits", adc, 4);
    assert_verifies(g);
    ir_set_ints(g, op, "adc_bits", adc, 3);
    expect_verify_error(g, "attribute 'adc_bits' has 3 values, expected 4");
    ir_set_ints(g, op, "adc_bits", adc, 4);
    ir_set_ints(g, op, "place", place, 9);
    expect_verify_error(g, "attribute 'place' has 9 values, expected 12");
    ir_set_ints(g, op, "place", place, 12);
    int64_t bad_rows[3] = {0, 4, 9};
    ir_set_ints(g, op, "row_splits", bad_rows, 3);
    expect_verify_error(g, "row_splits must increase from 0 to 10");
    int64_t flat_cols[3] = {0, 0, 6};
    ir_set_ints(g, op, "row_splits", rows, 3);
    ir_set_ints(g, op, "col_splits", flat_cols, 3);
    expect_verify_error(g, "col_splits must increase from 0 to 6");
}

Test(xbar, verifier_checks_quantization)
{
    Graph *g = ir_graph_new(arena, "g");
    Op *op = attr_op(g);
    float scales[6] = {1, 1, 1, 1, 1, 1};
    ir_set_floats(g, op, "w_scale", scales, 5);
    expect_verify_error(g, "attribute 'w_scale' has 5 values, expected 6");
    expect_verify_error(g, "quantized op lacks 'in_scale'");
    ir_set_floats(g, op, "w_scale", scales, 6);
    ir_set_float(g, op, "in_scale", 0.5f);
    ir_set_int(g, op, "in_bits", 8);
    ir_set_int(g, op, "in_signed", 0);
    ir_set_int(g, op, "w_bits", 4);
    /* w is random in [-1, 1): not integers */
    expect_verify_error(g, "is not an integer within +-7 (w_bits 4)");
    for (int i = 0; i < 60; i++)
        op->inputs[1]->data[i] = (float)(i % 15 - 7);
    assert_verifies(g);
    cr_expect_eq(op->inputs[1]->checked_w_bits, 4, "the verifier did not remember the weights it checked");
    /* Checked against 4 bits, not against 3: a narrower w_bits scans again. */
    ir_set_int(g, op, "w_bits", 3);
    expect_verify_error(g, "is not an integer within +-3 (w_bits 3)");
    ir_set_int(g, op, "w_bits", 4);
    /* A pass that rewrites weights in place says so by resetting the mark. */
    op->inputs[1]->data[17] = 0.5f;
    op->inputs[1]->checked_w_bits = 0;
    expect_verify_error(g, "%w[17] = 0.5 is not an integer within +-7 (w_bits 4)");
    op->inputs[1]->data[17] = 2.0f;
    /* A pass that makes new weights makes a new, unchecked constant. */
    Value *w2 = ir_add_const(g, "w2", op->inputs[1]->type, op->inputs[1]->data);
    w2->data[59] = 8.0f;
    op->inputs[1] = w2;
    expect_verify_error(g, "%w2[59] = 8 is not an integer within +-7 (w_bits 4)");
    w2->data[59] = -7.0f;
    assert_verifies(g);
    ir_set_float(g, op, "in_scale", 0.0f);
    expect_verify_error(g, "in_scale must be positive and finite, not 0");
    ir_set_float(g, op, "in_scale", 0.5f);
    ir_set_string(g, op, "sign", "pairs");
    expect_verify_error(g, "sign must be \"pair-analog\", \"pair-digital\" or \"offset\", not \"pairs\"");
}

/* ---- lower-xbar against the interpreter ---- */

Test(xbar, lowers_convs)
{
    const ConvCase cases[] = {
        /* plain 2-D with bias */
        {2, 1, 3, 4, 1, {6, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},
        /* groups, strides, asymmetric pads, dilations, batch 2 */
        {2, 2, 6, 9, 3, {9, 8}, {3, 2}, {2, 1}, {1, 2}, {1, 0, 2, 1}, true},
        /* depthwise, and depthwise with a channel multiplier */
        {2, 1, 4, 4, 4, {5, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, false},
        {2, 1, 4, 8, 4, {5, 6}, {2, 3}, {2, 2}, {1, 1}, {0, 1, 1, 0}, true},
        /* 1-D and 3-D */
        {1, 2, 3, 5, 1, {11}, {4}, {3}, {2}, {2, 1}, true},
        {3, 1, 2, 4, 2, {4, 5, 3}, {2, 3, 2}, {1, 2, 1}, {2, 1, 1}, {1, 0, 1, 0, 1, 1}, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_lowering(conv_graph(&cases[i]), 1);
}

/* Weights only one op reads are lowered and quantized in their own memory,
 * shared ones copied: a conv pair sharing w1 beside a conv with its own w3.
 * The interpreter checks the lowering; the codes are checked against
 * quant_code (runtime/quant.h, the rule the integer reference and the
 * simulator share) from the lowered weights saved before quantize, with
 * w3's columns at max 127 (scale 1) and halves in them to hit every tie. */
Test(xbar, lowers_and_quantizes_own_and_shared_weights)
{
    Graph *g = ir_graph_new(arena, "g");
    Value *x = ir_add_input(g, "x", ty(4, 1, 3, 5, 5, 0));
    Value *w1 = random_const(g, "w1", ty(4, 4, 3, 3, 3, 0), -1, 1);
    Value *in[2] = {x, w1};
    Op *c1 = add_op(g, OP_CONV, in, 2, "y1");
    type_op(c1);
    Op *c2 = add_op(g, OP_CONV, in, 2, "y2");
    type_op(c2);
    Value *sum_in[2] = {c1->result, c2->result};
    Op *sum = add_op(g, OP_ADD, sum_in, 2, "y3");
    type_op(sum);
    Value *w3 = ir_add_const(g, "w3", ty(4, 2, 4, 1, 1, 0),
                             (const float[]){127, 2.5f, -3.5f, 0.5f, -127, -0.5f, 1.5f, 126.5f});
    Value *in3[2] = {sum->result, w3};
    Op *c3 = add_op(g, OP_CONV, in3, 2, "y4");
    type_op(c3);
    ir_add_output(g, c3->result);
    check_lowering(g, 3);

    /* Quantize: save each op's lowered weights first. */
    calibrate_nominal(g, 0.0f, 1.0f);
    Op *xbars[3];
    float *lowered[3];
    int n = 0;
    for (int i = 0; i < g->n_ops; i++) {
        if (g->ops[i]->kind != OP_XBAR)
            continue;
        xbars[n] = g->ops[i];
        const Value *w = g->ops[i]->inputs[1];
        lowered[n++] = memcpy(arena_array(arena, (size_t)type_numel(&w->type), sizeof(float)), w->data,
                              (size_t)type_numel(&w->type) * sizeof(float));
    }
    cr_assert_eq(n, 3);
    /* Lowering copied the shared w1 for each conv: share the copy again (the
     * first op's quantize must then leave it for the second to read). */
    xbars[1]->inputs[1] = xbars[0]->inputs[1];
    ir_compact(g);
    cr_assert(pass_quantize(g, NULL, &diags), "%s", test_messages());
    assert_verifies(g);
    for (int i = 0; i < 3; i++) {
        XbarGeom geo;
        cr_assert(xbar_geom(xbars[i], &geo));
        const Attr *scales = ir_attr(xbars[i], "w_scale");
        const float *wq = xbars[i]->inputs[1]->data;
        for (int64_t k = 0; k < geo.k; k++) {
            for (int64_t c = 0; c < geo.n; c++) {
                float max_abs = 0;
                for (int64_t r = 0; r < geo.k; r++)
                    max_abs = fmaxf(max_abs, fabsf(lowered[i][r * geo.n + c]));
                float scale = max_abs / 127.0f;
                cr_assert_eq(scales->floats[c], scale, "op %d column %lld: scale %g, expected %g", i,
                             (long long)c, scales->floats[c], scale);
                float want = (float)quant_code(lowered[i][k * geo.n + c], scale, -127, 127);
                cr_assert_eq(wq[k * geo.n + c], want, "op %d w[%lld, %lld] = %g: code %g, expected %g", i,
                             (long long)k, (long long)c, lowered[i][k * geo.n + c], wq[k * geo.n + c], want);
            }
        }
    }
    /* w3 lowered to [K 4, N 2]: the ties rounded half to even. */
    const float want3[8] = {127, -127, 2, -0.0f, -4, 2, 0, 126};
    for (int i = 0; i < 8; i++)
        cr_expect_eq(xbars[2]->inputs[1]->data[i], want3[i], "w3 code %d: %g, expected %g", i,
                     xbars[2]->inputs[1]->data[i], want3[i]);
}

/* The emitter trusts weights the verifier checked (Value.checked_w_bits) and
 * checks any others itself, cell by cell. */
Test(xbar, emitter_checks_weights_the_verifier_did_not)
{
    Graph *g = ir_graph_new(arena, "g");
    Value *x = ir_add_input(g, "x", ty(2, 3, 10, 0, 0, 0));
    Value *in[2] = {x, random_const(g, "w", ty(2, 10, 6, 0, 0, 0), -1, 1)};
    Op *mm = add_op(g, OP_MATMUL, in, 2, "y");
    type_op(mm);
    ir_add_output(g, mm->result);
    cr_assert(pass_run_pipeline(g, lowering_pipeline, NULL, &diags), "%s", test_messages());
    calibrate_nominal(g, 0.0f, 1.0f);
    cr_assert(pass_run_pipeline(g, "quantize", NULL, &diags), "%s", test_messages());
    cr_assert(pass_run_pipeline(g, mapping_pipeline, NULL, &diags), "%s", test_messages());
    Value *w = g->ops[0]->inputs[1];
    cr_assert_eq(w->checked_w_bits, g->arch->weight_bits, "the verifier did not mark the quantized weights");
    cr_assert_not_null(emit_program(arena, g, &diags), "%s", test_messages());
    w->data[7] = 0.5f;      /* written in place, the mark reset: the emitter must look */
    w->checked_w_bits = 0;
    cr_assert_null(emit_program(arena, g, &diags), "a weight of 0.5 was programmed");
    cr_assert(strstr(test_messages(), "quantized weight 0.5 is not an integer within +-127"), "%s", test_messages());
}

Test(xbar, lowers_gemms)
{
    const float alphas[] = {1.0f, 0.5f}, betas[] = {1.0f, 0.25f, 0.0f};
    /* C: none, [N], [1, N], [1], [] */
    const int c_kinds = 5;
    for (int trans_a = 0; trans_a < 2; trans_a++)
    for (int trans_b = 0; trans_b < 2; trans_b++)
    for (int ai = 0; ai < 2; ai++)
    for (int bi = 0; bi < 3; bi++)
    for (int ck = 0; ck < c_kinds; ck++) {
        int64_t m = 3, k = 5, n = 4;
        Graph *g = ir_graph_new(arena, "gemm");
        Value *in[3];
        in[0] = ir_add_input(g, "a", trans_a ? ty(2, k, m, 0, 0, 0) : ty(2, m, k, 0, 0, 0));
        in[1] = random_const(g, "b", trans_b ? ty(2, n, k, 0, 0, 0) : ty(2, k, n, 0, 0, 0), -1, 1);
        Type ct[] = {{0}, ty(1, n, 0, 0, 0, 0), ty(2, 1, n, 0, 0, 0), ty(1, 1, 0, 0, 0, 0), ty(0, 0, 0, 0, 0, 0)};
        if (ck)
            in[2] = random_const(g, "c", ct[ck], -1, 1);
        Op *op = add_op(g, OP_GEMM, in, ck ? 3 : 2, "y");
        ir_set_int(g, op, "transA", trans_a);
        ir_set_int(g, op, "transB", trans_b);
        ir_set_float(g, op, "alpha", alphas[ai]);
        ir_set_float(g, op, "beta", betas[bi]);
        type_op(op);
        ir_add_output(g, op->result);
        check_lowering(g, trans_a ? 0 : 1);
    }
}

Test(xbar, gemm_with_row_bias_stays_digital)
{
    Graph *g = ir_graph_new(arena, "gemm");
    Value *in[3] = {ir_add_input(g, "a", ty(2, 3, 5, 0, 0, 0)), random_const(g, "b", ty(2, 5, 4, 0, 0, 0), -1, 1),
                    random_const(g, "c", ty(2, 3, 4, 0, 0, 0), -1, 1)};
    Op *op = add_op(g, OP_GEMM, in, 3, "y");
    type_op(op);
    ir_add_output(g, op->result);
    check_lowering(g, 0);
}

Test(xbar, lowers_matmuls)
{
    for (int i = 0; i < 3; i++) {   /* x [2, 3, 5], [5], [4, 5] */
        Graph *g = ir_graph_new(arena, "matmul");
        Type xt = i == 0 ? ty(3, 2, 3, 5, 0, 0) : i == 1 ? ty(1, 5, 0, 0, 0, 0) : ty(2, 4, 5, 0, 0, 0);
        Value *in[2] = {ir_add_input(g, "x", xt), random_const(g, "w", ty(2, 5, 6, 0, 0, 0), -1, 1)};
        Op *op = add_op(g, OP_MATMUL, in, 2, "y");
        type_op(op);
        ir_add_output(g, op->result);
        check_lowering(g, 1);
    }
}

/* ---- calibration and quantization ---- */

/* input [1, 1, 8, 8] -> conv 4x3x3 pads 1 -> relu -> flatten -> gemm to 10 (transB). */
static Graph *small_network(void)
{
    Graph *g = ir_graph_new(arena, "net");
    Value *in[3] = {ir_add_input(g, "x", ty(4, 1, 1, 8, 8, 0)), random_const(g, "w1", ty(4, 4, 1, 3, 3, 0), -0.5f, 0.5f),
                    random_const(g, "b1", ty(1, 4, 0, 0, 0, 0), -0.1f, 0.1f)};
    Op *conv = add_op(g, OP_CONV, in, 3, "c");
    int64_t pads[4] = {1, 1, 1, 1};
    ir_set_ints(g, conv, "pads", pads, 4);
    type_op(conv);
    Op *relu = add_op(g, OP_RELU, &conv->result, 1, "r");
    type_op(relu);
    Op *flat = add_op(g, OP_FLATTEN, &relu->result, 1, "f");
    type_op(flat);
    Value *gin[3] = {flat->result, random_const(g, "w2", ty(2, 10, 256, 0, 0, 0), -0.2f, 0.2f),
                     random_const(g, "b2", ty(1, 10, 0, 0, 0, 0), -0.1f, 0.1f)};
    Op *gemm = add_op(g, OP_GEMM, gin, 3, "y");
    ir_set_int(g, gemm, "transB", 1);
    type_op(gemm);
    ir_add_output(g, gemm->result);
    assert_verifies(g);
    return g;
}

Test(xbar, calibration_records_input_ranges)
{
    Graph *g = small_network();
    cr_assert(pass_lower_xbar(g, NULL, &diags));
    enum { COUNT = 5 };
    float *images = malloc(COUNT * 64 * sizeof *images);
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < COUNT * 64; i++) {
        images[i] = test_uniform_float(-0.25f, 1.0f);
        lo = fminf(lo, images[i]);
        hi = fmaxf(hi, images[i]);
    }
    cr_assert(calibrate_xbar(g, images, COUNT, &diags), "%s", test_messages());
    Op *first = g->ops[0], *last = g->ops[g->n_ops - 1];
    cr_assert_eq(first->kind, OP_XBAR);
    cr_assert_eq(ir_attr_float(first, "act_min", 0), lo);
    cr_assert_eq(ir_attr_float(first, "act_max", 0), hi);
    /* the gemm sees relu outputs: never negative; its max is the largest
     * relu output over the images, which one more run per image recomputes */
    cr_assert_eq(last->kind, OP_XBAR);
    cr_assert_geq(ir_attr_float(last, "act_min", -1), 0.0f);
    float relu_max = -INFINITY;
    Interp *in = interp_new(g);
    for (int i = 0; i < COUNT; i++) {
        memcpy(interp_input(in, 0), images + 64 * i, 64 * sizeof(float));
        interp_run(in);
        const float *r = interp_value(in, last->inputs[0]);
        for (int j = 0; j < 256; j++)
            relu_max = fmaxf(relu_max, r[j]);
    }
    interp_free(in);
    cr_assert_eq(ir_attr_float(last, "act_max", 0), relu_max);
    free(images);
}

/* Calibration's workers each gather min, max and histogram counts; merged,
 * they must give the one-thread ranges bit for bit, for a histogram rule
 * (p99) and a given magnitude (its clipped count) alike. */
Test(xbar, calibration_ranges_do_not_depend_on_threads)
{
    Graph *g = small_network();
    cr_assert(pass_lower_xbar(g, NULL, &diags));
    enum { COUNT = 7 };
    float *images = malloc(COUNT * 64 * sizeof *images);
    for (int i = 0; i < COUNT * 64; i++)
        images[i] = test_uniform_float(-0.25f, 1.0f);
    const char *rules[] = {"p99", "0.5", "max"};
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        CalibRange range;
        cr_assert(calib_range_parse(rules[r], &range));
        float want[64][2];
        int64_t want_clipped[64];
        for (int threads = 1; threads <= 3; threads++) {
            cr_assert(calibrate_xbar_range(g, images, COUNT, &range, threads, &diags), "%s", test_messages());
            for (int i = 0, n = 0; i < g->n_ops && n < 64; i++) {
                const Op *op = g->ops[i];
                if (op->kind != OP_XBAR)
                    continue;
                float lo = ir_attr_float(op, "act_min", NAN), hi = ir_attr_float(op, "act_max", NAN);
                int64_t clipped = ir_attr_int(op, "act_clipped", -1);
                if (threads == 1) {
                    want[n][0] = lo, want[n][1] = hi, want_clipped[n] = clipped;
                } else {
                    cr_assert(memcmp(&lo, &want[n][0], sizeof lo) == 0 && memcmp(&hi, &want[n][1], sizeof hi) == 0,
                              "%s, %d threads, xbar %d: [%.9g, %.9g], one thread [%.9g, %.9g]", rules[r], threads,
                              n, lo, hi, want[n][0], want[n][1]);
                    cr_assert_eq(clipped, want_clipped[n], "%s, %d threads, xbar %d: act_clipped", rules[r],
                                 threads, n);
                }
                n++;
            }
        }
    }
    free(images);
}

Test(xbar, quantized_network_is_close_to_float)
{
    Graph *g = small_network();
    enum { COUNT = 20 };
    float *images = malloc(COUNT * 64 * sizeof *images);
    for (int i = 0; i < COUNT * 64; i++)
        images[i] = test_uniform_float(0.0f, 1.0f);
    float *reference[COUNT];
    for (int i = 0; i < COUNT; i++)
        reference[i] = run(g, images + 64 * i);
    cr_assert(pass_lower_xbar(g, NULL, &diags));
    cr_assert(calibrate_xbar(g, images, COUNT, &diags), "%s", test_messages());
    cr_assert(pass_quantize(g, NULL, &diags), "%s", test_messages());
    assert_verifies(g);
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i]->kind == OP_XBAR)
            cr_assert_not_null(ir_attr(g->ops[i], "in_scale"));
    for (int i = 0; i < COUNT; i++) {
        float *q = run(g, images + 64 * i);
        float max_ref = 0, max_err = 0;
        for (int j = 0; j < 10; j++) {
            max_ref = fmaxf(max_ref, fabsf(reference[i][j]));
            max_err = fmaxf(max_err, fabsf(q[j] - reference[i][j]));
        }
        cr_assert(max_err <= 0.02f * max_ref, "image %d: error %g against outputs up to %g", i, max_err, max_ref);
        cr_assert_gt(max_err, 0.0f, "quantization should change something");
        free(q);
        free(reference[i]);
    }
    free(images);
}

/* ---- the integer reference against a computation written out here ---- */

static int32_t code_of(float x, float scale, int32_t lo, int32_t hi)
{
    float q = rintf(x / scale);     /* round to nearest, ties to even */
    return q < (float)lo ? lo : q > (float)hi ? hi : (int32_t)q;
}

static float dequant(int64_t acc, float in_scale, float w_scale, float bias)
{
    float out_scale = in_scale * w_scale;
    float y = (float)acc * out_scale;
    return y + bias;
}

/* A quantized conv-form xbar on [2, 6, 7, 5] (G 3, C/G 2, kernel 3x2, strides
 * 2x1, dilations 1x2, pads (1, 0) (1, 1)), both signed and unsigned codes, and
 * inputs beyond the calibrated range so that codes clip. */
static void check_conv_reference(bool is_signed)
{
    enum { B = 2, C = 6, H = 7, W = 5, G = 3, CG = 2, KH = 3, KW = 2, NW = 4, K = CG * KH * KW, OH = 4, OW = 4 };
    const int SH = 2, SW = 1, DH = 1, DW = 2, PT = 1, PL = 0;
    const int bits = 5, w_bits = 4;
    const float in_scale = 0.0371f;
    int32_t qmax = is_signed ? 15 : 31, lo = is_signed ? -qmax : 0;

    Graph *g = ir_graph_new(arena, "ref");
    Value *x = ir_add_input(g, "x", ty(4, B, C, H, W, 0));
    Value *w = ir_add_const(g, "w", ty(3, G, K, NW, 0, 0), NULL);
    for (int i = 0; i < G * K * NW; i++)
        w->data[i] = (float)test_uniform(-7, 7);
    Value *bias = random_const(g, "b", ty(1, G * NW, 0, 0, 0, 0), -1, 1);
    float w_scale[G * NW];
    for (int i = 0; i < G * NW; i++)
        w_scale[i] = test_uniform_float(0.001f, 0.1f);
    Value *in[3] = {x, w, bias};
    Op *op = add_op(g, OP_XBAR, in, 3, "y");
    int64_t kernel[2] = {KH, KW}, strides[2] = {SH, SW}, dil[2] = {DH, DW}, pads[4] = {PT, PL, 1, 1};
    ir_set_string(g, op, "form", "conv");
    ir_set_ints(g, op, "kernel", kernel, 2);
    ir_set_ints(g, op, "strides", strides, 2);
    ir_set_ints(g, op, "dilations", dil, 2);
    ir_set_ints(g, op, "pads", pads, 4);
    ir_set_int(g, op, "w_bits", w_bits);
    ir_set_floats(g, op, "w_scale", w_scale, G * NW);
    ir_set_int(g, op, "in_bits", bits);
    ir_set_float(g, op, "in_scale", in_scale);
    ir_set_int(g, op, "in_signed", is_signed);
    type_op(op);
    cr_assert_eq(op->result->type.dims[2], OH);
    cr_assert_eq(op->result->type.dims[3], OW);
    ir_add_output(g, op->result);
    assert_verifies(g);

    static float input[B * C * H * W];
    for (int i = 0; i < B * C * H * W; i++)
        input[i] = test_uniform_float(is_signed ? -1.5f : -0.2f, 1.5f);   /* 1.5 / 0.0371 > 31: clips */
    input[3] = 0.5f * in_scale;     /* a tie: code 0 */
    input[4] = 1.5f * in_scale;     /* a tie: code 2 */
    float *got = run(g, input);

    for (int b = 0; b < B; b++)
    for (int gi = 0; gi < G; gi++)
    for (int n = 0; n < NW; n++)
    for (int oh = 0; oh < OH; oh++)
    for (int ow = 0; ow < OW; ow++) {
        int64_t acc = 0;
        for (int c = 0; c < CG; c++)
        for (int kh = 0; kh < KH; kh++)
        for (int kw = 0; kw < KW; kw++) {
            int ih = oh * SH - PT + kh * DH, iw = ow * SW - PL + kw * DW;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                continue;
            float v = input[((b * C + gi * CG + c) * H + ih) * W + iw];
            int k = (c * KH + kh) * KW + kw;
            acc += (int64_t)code_of(v, in_scale, lo, qmax) * (int64_t)w->data[(gi * K + k) * NW + n];
        }
        int col = gi * NW + n;
        float want = dequant(acc, in_scale, w_scale[col], bias->data[col]);
        float have = got[((b * G * NW + col) * OH + oh) * OW + ow];
        cr_assert(memcmp(&want, &have, sizeof want) == 0, "b %d col %d (%d, %d): %.9g, want %.9g", b, col, oh,
                  ow, have, want);
    }
    free(got);
}

Test(xbar, integer_reference_conv_unsigned)
{
    check_conv_reference(false);
}

Test(xbar, integer_reference_conv_signed)
{
    check_conv_reference(true);
}

Test(xbar, integer_reference_matmul)
{
    enum { M = 6, K = 37, N = 9 };
    Graph *g = ir_graph_new(arena, "ref");
    Value *x = ir_add_input(g, "x", ty(2, M, K, 0, 0, 0));
    Value *w = ir_add_const(g, "w", ty(3, 1, K, N, 0, 0), NULL);
    for (int i = 0; i < K * N; i++)
        w->data[i] = (float)test_uniform(-127, 127);
    float w_scale[N];
    for (int i = 0; i < N; i++)
        w_scale[i] = test_uniform_float(0.001f, 0.01f);
    Value *in[2] = {x, w};
    Op *op = add_op(g, OP_XBAR, in, 2, "y");
    ir_set_string(g, op, "form", "matmul");
    ir_set_int(g, op, "w_bits", 8);
    ir_set_floats(g, op, "w_scale", w_scale, N);
    ir_set_int(g, op, "in_bits", 8);
    ir_set_float(g, op, "in_scale", 0.013f);
    ir_set_int(g, op, "in_signed", 1);
    type_op(op);
    ir_add_output(g, op->result);
    assert_verifies(g);
    float input[M * K];
    for (int i = 0; i < M * K; i++)
        input[i] = test_uniform_float(-2, 2);
    float *got = run(g, input);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int64_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += (int64_t)code_of(input[m * K + k], 0.013f, -127, 127) * (int64_t)w->data[k * N + n];
            float want = dequant(acc, 0.013f, w_scale[n], 0.0f);
            cr_assert(memcmp(&want, &got[m * N + n], sizeof want) == 0, "(%d, %d): %.9g, want %.9g", m, n,
                      got[m * N + n], want);
        }
    free(got);
}
