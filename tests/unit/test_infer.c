/* test_infer.c: shape inference against ONNX's documented formulas.
 *
 * Every expected shape below is worked out by hand from the ONNX operator
 * documentation (the formula is in the comment beside it), or taken from ONNX's
 * own backend test cases (named), never from the code under test.  Error cases
 * check that the message names the op and the numbers involved. */
#include <criterion/criterion.h>

#include <string.h>

#include "ir/ir.h"

#define TEST_FIXTURE
#include "test_support.h"

static Graph *g;

static void setup(void)
{
    test_setup();
    g = ir_graph_new(arena, "t");
}

TestSuite(infer, .init = setup, .fini = test_teardown);

/* ---- helpers ---- */

static Type shape(int rank, const int64_t *dims)
{
    return type_make(rank, dims);
}

#define T(...) shape((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define SCALAR shape(0, NULL)
#define INTS(...) (int64_t[]){__VA_ARGS__}, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

static Value *in(Type t)
{
    return ir_add_input(g, NULL, t);
}

static Op *op1(OpKind kind, Type a)
{
    Value *v = in(a);
    return ir_add_op(g, kind, &v, 1, NULL, a, (Loc){0});
}

static Op *op2(OpKind kind, Type a, Type b)
{
    Value *v[2] = {in(a), in(b)};
    return ir_add_op(g, kind, v, 2, NULL, a, (Loc){0});
}

static Op *op3(OpKind kind, Type a, Type b, Type c)
{
    Value *v[3] = {in(a), in(b), in(c)};
    return ir_add_op(g, kind, v, 3, NULL, a, (Loc){0});
}

/* Infers and checks the result against `want`. */
static void expect(const Op *op, Type want)
{
    Type got;
    bool ok = ir_infer_type(op, &got, &diags);
    cr_assert(ok, "inference failed: %s", diags.first ? diags.first->text : "(no message)");
    cr_expect(type_equal(&got, &want), "got %s, want %s", type_format(arena, &got), type_format(arena, &want));
}

/* Inference must fail with a message containing each of the given parts. */
static void expect_error(const Op *op, const char *part1, const char *part2)
{
    Type got;
    cr_assert_not(ir_infer_type(op, &got, &diags), "inference should fail");
    cr_assert_eq(diags.n_errors, 1);
    cr_expect(strstr(diags.first->text, part1), "message '%s' lacks '%s'", diags.first->text, part1);
    if (part2)
        cr_expect(strstr(diags.first->text, part2), "message '%s' lacks '%s'", diags.first->text, part2);
}

/* ---- convolution: out = floor((in + pad_begin + pad_end - ((k - 1) * d + 1)) / s) + 1 ---- */

Test(infer, conv_resnet_stem)
{
    /* (224 + 6 - 7) / 2 + 1 = 112 (floor of 111.5 is 111) */
    Op *op = op2(OP_CONV, T(1, 3, 224, 224), T(64, 3, 7, 7));
    ir_set_ints(g, op, "strides", INTS(2, 2));
    ir_set_ints(g, op, "pads", INTS(3, 3, 3, 3));
    expect(op, T(1, 64, 112, 112));
}

Test(infer, conv_defaults_and_bias)
{
    /* no attributes: stride 1, no pads: 8 - 3 + 1 = 6 */
    expect(op3(OP_CONV, T(2, 3, 8, 8), T(4, 3, 3, 3), T(4)), T(2, 4, 6, 6));
}

Test(infer, conv_dilated_asymmetric_1d_and_3d)
{
    /* 1-D: k 3, d 2 spans 5: (10 + 1 + 0 - 5) / 1 + 1 = 7 */
    Op *op = op2(OP_CONV, T(1, 2, 10), T(5, 2, 3));
    ir_set_ints(g, op, "dilations", INTS(2));
    ir_set_ints(g, op, "pads", INTS(1, 0));
    expect(op, T(1, 5, 7));
    /* 3-D, stride 2 along the last axis: (7 - 3) / 2 + 1 = 3 */
    op = op2(OP_CONV, T(1, 1, 4, 5, 7), T(2, 1, 2, 2, 3));
    ir_set_ints(g, op, "strides", INTS(1, 1, 2));
    expect(op, T(1, 2, 3, 4, 3));
}

Test(infer, conv_test_conv_with_strides_and_asymmetric_padding)
{
    /* ONNX backend test: x 1x1x7x5, W 1x1x3x3, strides 2, pads [1,0,1,0] -> 1x1x4x2 */
    Op *op = op2(OP_CONV, T(1, 1, 7, 5), T(1, 1, 3, 3));
    ir_set_ints(g, op, "strides", INTS(2, 2));
    ir_set_ints(g, op, "pads", INTS(1, 0, 1, 0));
    expect(op, T(1, 1, 4, 2));
}

Test(infer, conv_groups_and_depthwise)
{
    Op *op = op2(OP_CONV, T(1, 4, 5, 5), T(8, 2, 3, 3));
    ir_set_int(g, op, "group", 2);
    expect(op, T(1, 8, 3, 3));
    op = op2(OP_CONV, T(1, 8, 5, 5), T(16, 1, 3, 3));      /* depthwise, multiplier 2 */
    ir_set_int(g, op, "group", 8);
    expect(op, T(1, 16, 3, 3));
}

Test(infer, conv_channel_mismatch)
{
    expect_error(op2(OP_CONV, T(1, 3, 8, 8), T(4, 6, 3, 3)), "conv: input has 3 channels but weight expects 6 (group 1)",
                 NULL);
}

Test(infer, conv_group_mismatch)
{
    Op *op = op2(OP_CONV, T(1, 4, 5, 5), T(8, 4, 3, 3));
    ir_set_int(g, op, "group", 2);
    expect_error(op, "input has 4 channels but weight expects 8 (group 2)", NULL);
}

Test(infer, conv_bad_bias)
{
    expect_error(op3(OP_CONV, T(1, 3, 8, 8), T(4, 3, 3, 3), T(5)), "conv: bias f32[5]", "f32[4]");
}

Test(infer, conv_window_larger_than_input)
{
    expect_error(op2(OP_CONV, T(1, 1, 2, 2), T(1, 1, 3, 3)), "conv:", "does not fit");
}

/* ---- pooling ---- */

Test(infer, maxpool_ceil_mode)
{
    /* ONNX test_maxpool_2d_ceil: 4x4, k3, s2: floor((4-3)/2)+1 = 1, ceil: 2 */
    Op *op = op1(OP_MAXPOOL, T(1, 1, 4, 4));
    ir_set_ints(g, op, "kernel", INTS(3, 3));
    ir_set_ints(g, op, "strides", INTS(2, 2));
    expect(op, T(1, 1, 1, 1));
    ir_set_int(g, op, "ceil_mode", 1);
    expect(op, T(1, 1, 2, 2));
}

Test(infer, maxpool_same_upper_pads)
{
    /* ONNX test_maxpool_2d_same_upper: 32x32, k2, SAME_UPPER -> pads [0,0,1,1], 32x32 */
    Op *op = op1(OP_MAXPOOL, T(1, 3, 32, 32));
    ir_set_ints(g, op, "kernel", INTS(2, 2));
    ir_set_ints(g, op, "pads", INTS(0, 0, 1, 1));
    expect(op, T(1, 3, 32, 32));
}

Test(infer, maxpool_dilations)
{
    /* ONNX test_maxpool_2d_dilations: 4x4, k2, d2 (span 3): 4 - 3 + 1 = 2 */
    Op *op = op1(OP_MAXPOOL, T(1, 1, 4, 4));
    ir_set_ints(g, op, "kernel", INTS(2, 2));
    ir_set_ints(g, op, "dilations", INTS(2, 2));
    expect(op, T(1, 1, 2, 2));
}

Test(infer, avgpool_pads_strides)
{
    /* (5 + 2 - 3) / 2 + 1 = 3; 1-D (7 - 2) / 1 + 1 = 6 */
    Op *op = op1(OP_AVGPOOL, T(1, 2, 5, 5));
    ir_set_ints(g, op, "kernel", INTS(3, 3));
    ir_set_ints(g, op, "strides", INTS(2, 2));
    ir_set_ints(g, op, "pads", INTS(1, 1, 1, 1));
    expect(op, T(1, 2, 3, 3));
    op = op1(OP_AVGPOOL, T(1, 3, 7));
    ir_set_ints(g, op, "kernel", INTS(2));
    expect(op, T(1, 3, 6));
}

Test(infer, pool_errors)
{
    expect_error(op1(OP_MAXPOOL, T(1, 1, 4, 4)), "maxpool: missing attribute 'kernel'", NULL);
    diags_init(&diags, arena);
    Op *op = op1(OP_AVGPOOL, T(1, 1, 4, 4));
    ir_set_ints(g, op, "kernel", INTS(2));
    expect_error(op, "avgpool: attribute 'kernel' has 1 values, expected 2", NULL);
}

/* Issue 9: parameters near 2^63 are errors, never overflows or wrong shapes
 * (MaxPool pads of 2^63 - 1 once gave a shape). */
Test(infer, window_parameters_bounded)
{
    const int64_t top = INT64_MAX, big = (int64_t)1 << 62;
    /* the formula itself: 0 when the window does not fit, -1 out of range */
    cr_expect_eq(ir_window_out(4, 0, 0, 2, 1, 1, false), 3);
    cr_expect_eq(ir_window_out(4, 0, 0, 2, 4, 1, true), 2);                    /* ceil(2 / 4) + 1 */
    cr_expect_eq(ir_window_out(4, 0, 0, 3, 1, 2, false), 0);                   /* extent 5 > 4 */
    cr_expect_eq(ir_window_out(IR_MAX_NUMEL, IR_MAX_NUMEL, IR_MAX_NUMEL, IR_MAX_NUMEL, 1, IR_MAX_NUMEL, false),
                 -1);                                                           /* extent (2^32 - 1) 2^32 */
    cr_expect_eq(ir_window_out(4, top, 0, 2, 1, 1, false), -1);
    cr_expect_eq(ir_window_out(4, 0, 0, 2, top, 1, false), -1);
    cr_expect_eq(ir_window_out(4, 0, 0, 2, 1, big, false), -1);
    cr_expect_eq(ir_window_out(4, 0, 0, 0, 1, 1, false), -1);
    Op *op = op1(OP_MAXPOOL, T(1, 1, 4, 4));
    ir_set_ints(g, op, "kernel", INTS(2, 2));
    ir_set_ints(g, op, "pads", INTS(top, 0, 0, 0));
    expect_error(op, "maxpool: pads must be 0 to 4294967296", "9223372036854775807");
    diags_init(&diags, arena);
    op = op1(OP_MAXPOOL, T(1, 1, 4, 4));
    ir_set_ints(g, op, "kernel", INTS(2, 2));
    ir_set_ints(g, op, "dilations", INTS(big, 1));
    expect_error(op, "maxpool: dilations must be 1 to 4294967296", NULL);
    diags_init(&diags, arena);
    op = op2(OP_CONV, T(1, 4, 4, 4), T(1, 2, 1, 1));
    ir_set_int(g, op, "group", big);
    expect_error(op, "conv: group 4611686018427387904 is out of range", NULL);
    diags_init(&diags, arena);
    op = op1(OP_PAD, T(4));
    ir_set_ints(g, op, "pads", INTS(-top, top - 1));
    expect_error(op, "pad: pads -9223372036854775807 and 9223372036854775806 of axis 0 are out of range", NULL);
}

Test(infer, global_pools)
{
    expect(op1(OP_GLOBALAVGPOOL, T(2, 8, 7, 7)), T(2, 8, 1, 1));
    expect(op1(OP_GLOBALMAXPOOL, T(2, 8, 5)), T(2, 8, 1));
}

/* ---- broadcasting and matrix products ---- */

Test(infer, broadcast)
{
    expect(op2(OP_ADD, T(3, 1, 5), T(4, 5)), T(3, 4, 5));
    expect(op2(OP_MUL, T(2, 3, 4, 5), T(5)), T(2, 3, 4, 5));
    expect(op2(OP_SUB, T(1, 3, 1), T(2, 1, 1, 4)), T(2, 1, 3, 4));
    expect(op2(OP_DIV, SCALAR, T(2, 2)), T(2, 2));
    expect_error(op2(OP_ADD, T(2, 3), T(4)), "add: cannot broadcast f32[2,3] and f32[4]", "3 vs 4");
}

Test(infer, gemm_transposes_and_c)
{
    /* ONNX test_gemm_all_attributes: a 4x3 (transA), b 5x4 (transB), c 1x5 -> 3x5 */
    Op *op = op3(OP_GEMM, T(4, 3), T(5, 4), T(1, 5));
    ir_set_int(g, op, "transA", 1);
    ir_set_int(g, op, "transB", 1);
    expect(op, T(3, 5));
    expect(op3(OP_GEMM, T(2, 7), T(7, 3), T(3)), T(2, 3));
    expect(op3(OP_GEMM, T(2, 7), T(7, 3), T(2, 1)), T(2, 3));
    expect(op3(OP_GEMM, T(2, 7), T(7, 3), SCALAR), T(2, 3));
}

Test(infer, gemm_errors)
{
    expect_error(op2(OP_GEMM, T(2, 7), T(6, 3)), "gemm: inner dimensions differ", NULL);
    diags_init(&diags, arena);
    expect_error(op3(OP_GEMM, T(2, 7), T(7, 3), T(2)), "gemm: C f32[2] does not broadcast to [2, 3]", NULL);
}

Test(infer, matmul_numpy_rules)
{
    expect(op2(OP_MATMUL, T(2, 3, 4), T(4, 5)), T(2, 3, 5));
    expect(op2(OP_MATMUL, T(4), T(4, 5)), T(5));            /* 1-D left: prepend, then drop */
    expect(op2(OP_MATMUL, T(2, 3, 4), T(4)), T(2, 3));      /* 1-D right: append, then drop */
    expect(op2(OP_MATMUL, T(4), T(4)), SCALAR);
    expect(op2(OP_MATMUL, T(2, 1, 3, 4), T(5, 4, 6)), T(2, 5, 3, 6));   /* batch dims broadcast */
    expect_error(op2(OP_MATMUL, T(3, 4), T(5, 6)), "matmul: inner dimensions differ", "4 vs 5");
}

Test(infer, batchnorm)
{
    Value *v[5] = {in(T(2, 3, 4, 4)), in(T(3)), in(T(3)), in(T(3)), in(T(3))};
    expect(ir_add_op(g, OP_BATCHNORM, v, 5, NULL, T(1), (Loc){0}), T(2, 3, 4, 4));
    v[3] = in(T(4));
    expect_error(ir_add_op(g, OP_BATCHNORM, v, 5, NULL, T(1), (Loc){0}), "batchnorm: mean f32[4] must be f32[3]",
                 NULL);
}

/* ---- shapes ---- */

Test(infer, concat)
{
    Value *v[3] = {in(T(2, 3)), in(T(2, 5)), in(T(2, 1))};
    Op *op = ir_add_op(g, OP_CONCAT, v, 3, NULL, T(1), (Loc){0});
    ir_set_int(g, op, "axis", 1);
    expect(op, T(2, 9));
    ir_set_int(g, op, "axis", 0);
    expect_error(op, "concat: input 1 f32[2,5] differs from input 0 f32[2,3] outside axis 0", NULL);
}

Test(infer, flatten)
{
    Op *op = op1(OP_FLATTEN, T(2, 3, 4, 5));
    expect(op, T(2, 60));                       /* default axis 1 */
    ir_set_int(g, op, "axis", 0);
    expect(op, T(1, 120));
    ir_set_int(g, op, "axis", 2);
    expect(op, T(6, 20));
    ir_set_int(g, op, "axis", 4);
    expect(op, T(120, 1));
    ir_set_int(g, op, "axis", 5);
    expect_error(op, "flatten: axis 5 is out of range [0, 4]", NULL);
}

Test(infer, reshape)
{
    Op *op = op1(OP_RESHAPE, T(2, 3, 4));
    ir_set_ints(g, op, "shape", INTS(4, 6));
    expect(op, T(4, 6));
    ir_set_ints(g, op, "shape", INTS(5, 5));
    expect_error(op, "reshape: cannot reshape f32[2,3,4] (24 elements) to f32[5,5] (25 elements)", NULL);
}

Test(infer, transpose)
{
    expect(op1(OP_TRANSPOSE, T(2, 3, 4)), T(4, 3, 2));     /* default: reversed */
    Op *op = op1(OP_TRANSPOSE, T(2, 3, 4));
    ir_set_ints(g, op, "perm", INTS(0, 2, 1));
    expect(op, T(2, 4, 3));
    ir_set_ints(g, op, "perm", INTS(0, 0, 1));
    expect_error(op, "transpose: perm entry 0 is repeated", NULL);
}

Test(infer, squeeze_unsqueeze)
{
    expect(op1(OP_SQUEEZE, T(1, 3, 1, 2)), T(3, 2));      /* default: every size-1 axis */
    Op *op = op1(OP_SQUEEZE, T(1, 3, 1, 2));
    ir_set_ints(g, op, "axes", INTS(2));
    expect(op, T(1, 3, 2));
    op = op1(OP_UNSQUEEZE, T(2, 3));
    ir_set_ints(g, op, "axes", INTS(0, 3));
    expect(op, T(1, 2, 3, 1));
    op = op1(OP_SQUEEZE, T(1, 3));
    ir_set_ints(g, op, "axes", INTS(1));
    expect_error(op, "squeeze: cannot squeeze axis 1 of f32[1,3]: its size is 3, not 1", NULL);
}

Test(infer, pad_negative)
{
    /* per axis: d + begin + end: 1+0+0, 3-1+2, 4+0+1 */
    Op *op = op1(OP_PAD, T(1, 3, 4));
    ir_set_ints(g, op, "pads", INTS(0, -1, 0, 0, 2, 1));
    expect(op, T(1, 4, 5));
    ir_set_ints(g, op, "pads", INTS(0, 0, -2, 0, 0, -2));
    expect_error(op, "pad: result dimension 2 would be 0", NULL);
}

Test(infer, softmax_and_unary)
{
    Op *op = op1(OP_SOFTMAX, T(2, 5));
    ir_set_int(g, op, "axis", 1);
    expect(op, T(2, 5));
    ir_set_int(g, op, "axis", 2);
    expect_error(op, "softmax: axis 2 is out of range [0, 2)", NULL);
    expect(op1(OP_RELU, T(7)), T(7));
    expect(op1(OP_DROPOUT, T(1, 2)), T(1, 2));
}

Test(infer, arity_and_absurd_results)
{
    expect_error(op1(OP_ADD, T(2)), "add: takes 2 inputs, got 1", NULL);
    diags_init(&diags, arena);
    Op *op = op1(OP_RESHAPE, T(2));
    ir_set_ints(g, op, "shape", INTS(1 << 20, 1 << 20, 1 << 20));
    expect_error(op, "reshape: result f32[1048576,1048576,1048576] has more than 4294967296 elements", NULL);
}
