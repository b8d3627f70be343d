/* test_dtype.c: element types (ir/ir.h, ir/infer_dtype.c) and the indexing
 * kernels (runtime/kernels_index.c): dtype names both ways, the type rules
 * (comparisons bool, argmax i64, operands agreeing, floats-only ops), and the
 * kernels' edge cases (negative and out-of-range indices, NaN in argmax, ties
 * with select_last_index, casts truncating toward zero, fmod vs mod signs,
 * IEEE half rounding). */
#include <criterion/criterion.h>

#include <math.h>

#include "frontend/onnx_node.h"
#include "runtime/kernels.h"

#define TEST_SEED 0x64747970ull
#define TEST_FIXTURE
#include "test_support.h"

TestSuite(dtype, .init = test_setup, .fini = test_teardown);

Test(dtype, names_round_trip)
{
    for (int d = 0; d < DT_COUNT; d++) {
        DType back;
        cr_assert(dtype_from_name(dtype_name((DType)d), &back));
        cr_expect_eq((int)back, d);
    }
    DType none;
    cr_expect_not(dtype_from_name("f8", &none));
    Type t = type_make_dtype(DT_BOOL, 2, (int64_t[]){1, 8});
    cr_expect_str_eq(type_format(arena, &t), "bool[1,8]");
}

/* The result dtype of `kind` over inputs of these dtypes (scalars), or -1 when refused. */
static int result_dtype(OpKind kind, DType a, DType b, int n)
{
    Graph *g = ir_graph_new(arena, "g");
    Value *in[2] = {ir_add_input(g, "a", type_make_dtype(a, 1, (int64_t[]){4})),
                    ir_add_input(g, "b", type_make_dtype(b, 1, (int64_t[]){4}))};
    Op *op = ir_add_op(g, kind, in, n, NULL, type_make(0, NULL), (Loc){0});
    if (kind == OP_ARGMAX || kind == OP_GATHER)
        ir_set_int(g, op, "axis", 0);
    Type t;
    diags_init(&diags, arena);
    return ir_infer_type(op, &t, &diags) ? (int)t.dtype : -1;
}

Test(dtype, inference_rules)
{
    cr_expect_eq(result_dtype(OP_LESS, DT_I64, DT_I64, 2), DT_BOOL);
    cr_expect_eq(result_dtype(OP_LESS, DT_I64, DT_F32, 2), -1);
    cr_expect_eq(result_dtype(OP_ADD, DT_I32, DT_I32, 2), DT_I32);
    cr_expect_eq(result_dtype(OP_ADD, DT_F64, DT_F32, 2), DT_F64);
    cr_expect_eq(result_dtype(OP_ADD, DT_BOOL, DT_BOOL, 2), -1);
    cr_expect_eq(result_dtype(OP_ARGMAX, DT_U8, DT_U8, 1), DT_I64);
    cr_expect_eq(result_dtype(OP_GATHER, DT_F32, DT_I64, 2), DT_F32);
    cr_expect_eq(result_dtype(OP_GATHER, DT_F32, DT_F32, 2), -1);
    cr_expect_eq(result_dtype(OP_MATMUL, DT_I64, DT_I64, 2), -1);
    cr_expect_eq(result_dtype(OP_EXP, DT_I64, DT_I64, 1), -1);
    cr_expect_eq(result_dtype(OP_NOT, DT_F32, DT_F32, 1), DT_BOOL);
}

Test(dtype, gather_indices)
{
    const float table[6] = {0, 1, 10, 11, 20, 21};   /* [3, 2] */
    float y[6];
    cr_expect_eq(kernel_gather(1, 3, 2, table, 3, (float[]){2, -1, 0}, y), -1);
    cr_expect(y[0] == 20 && y[1] == 21 && y[2] == 20 && y[3] == 21 && y[4] == 0 && y[5] == 1);
    cr_expect_eq(kernel_gather(1, 3, 2, table, 3, (float[]){0, 3, 1}, y), 1);
    cr_expect_eq(kernel_gather(1, 3, 2, table, 2, (float[]){-4, 0}, y), 0);
    cr_expect_eq(kernel_gather(1, 3, 2, table, 1, (float[]){NAN}, y), 0);
    cr_expect_eq(kernel_gather(1, 3, 2, table, 1, (float[]){1e30f}, y), 0);
    float e[2];
    cr_expect_eq(kernel_gather_elements(2, (int64_t[]){3, 2}, table, (int64_t[]){1, 2}, (float[]){-1, 0}, 0, e), -1);
    cr_expect(e[0] == 20 && e[1] == 1, "%g %g", e[0], e[1]);
    cr_expect_eq(kernel_gather_elements(2, (int64_t[]){3, 2}, table, (int64_t[]){1, 2}, (float[]){0, 3}, 0, e), 1);
}

Test(dtype, argextreme_ties_and_nan)
{
    float y;
    kernel_argextreme(1, 4, 1, true, false, (float[]){1, 5, 5, 2}, &y);
    cr_expect_eq(y, 1.0f);
    kernel_argextreme(1, 4, 1, true, true, (float[]){1, 5, 5, 2}, &y);
    cr_expect_eq(y, 2.0f);
    kernel_argextreme(1, 4, 1, false, false, (float[]){3, NAN, -1, NAN}, &y);
    cr_expect_eq(y, 1.0f);      /* the first NaN, as numpy */
}

Test(dtype, casts_and_mod)
{
    float y[4];
    kernel_cast(4, CAST_INT, (float[]){-2.7f, 2.7f, -0.5f, 3}, y);
    cr_expect(y[0] == -2 && y[1] == 2 && y[2] == 0 && y[3] == 3);
    kernel_cast(4, CAST_BOOL, (float[]){-2.7f, 0, NAN, 3}, y);
    cr_expect(y[0] == 1 && y[1] == 0 && y[2] == 1 && y[3] == 1);
    float a[4] = {-7, 7, -7, 7}, b[4] = {3, -3, -3, 3};
    int64_t d[1] = {4};
    kernel_binary(BINARY_MOD, a, 1, d, b, 1, d, y);
    cr_expect(y[0] == 2 && y[1] == -2 && y[2] == -1 && y[3] == 1, "%g %g %g %g", y[0], y[1], y[2], y[3]);
    kernel_binary(BINARY_FMOD, a, 1, d, b, 1, d, y);
    cr_expect(y[0] == -1 && y[1] == 1 && y[2] == -1 && y[3] == 1);
}

Test(dtype, trilu_and_cumsum)
{
    float x[6] = {1, 2, 3, 4, 5, 6}, y[6];      /* [2, 3] */
    kernel_trilu(1, 2, 3, true, 1, x, y);
    cr_expect(y[0] == 0 && y[1] == 2 && y[2] == 3 && y[3] == 0 && y[4] == 0 && y[5] == 6);
    kernel_trilu(1, 2, 3, false, -1, x, y);
    cr_expect(y[0] == 0 && y[1] == 0 && y[3] == 4 && y[4] == 0);
    kernel_cumsum(1, 3, 2, true, true, x, y);   /* along the 3-long axis of [3, 2], exclusive, reverse */
    cr_expect(y[0] == 8 && y[1] == 10 && y[2] == 5 && y[3] == 6 && y[4] == 0 && y[5] == 0);
}

Test(dtype, half_rounding)
{
    cr_expect_eq(float_to_half(1.0f), 0x3c00);
    cr_expect_eq(float_to_half(65504.0f), 0x7bff);
    cr_expect_eq(float_to_half(1e6f), 0x7c00);
    cr_expect_eq(float_to_half(-0.0f), 0x8000);
    cr_expect_eq(float_to_half(0x1p-24f), 0x0001);
    cr_expect_eq(float_to_half(1.0f + 0x1p-11f), 0x3c00);   /* a tie rounds to even */
    cr_expect_eq(float_to_half(1.0f + 3 * 0x1p-11f), 0x3c02);
    for (uint32_t h = 0; h < 0x7c00; h += 7)
        cr_expect_eq(float_to_half(half_to_float(h)), h);
}

Test(dtype, topk_order)
{
    float y[3];
    kernel_topk(1, 5, 1, 3, true, (float[]){2, 7, 7, NAN, 1}, y);
    cr_expect(y[0] == 3 && y[1] == 1 && y[2] == 2, "%g %g %g", y[0], y[1], y[2]);     /* NaN first, ties in order */
    kernel_topk(1, 5, 1, 3, false, (float[]){2, 7, 1, NAN, 1}, y);
    cr_expect(y[0] == 2 && y[1] == 4 && y[2] == 0, "%g %g %g", y[0], y[1], y[2]);
}
