/* test_onnx.c: onnx_import() on the small committed models of
 * tests/lit/Inputs/frontend and on ONNX's own test data (libonnx-testdata).
 *
 * References are independent of the frontend: the ops and attributes each
 * model was written with (make_bad_models.py), the outputs ONNX ships with its
 * test cases, and the outputs numpy computed for the old-opset models from
 * the operator definitions of those opsets.  Numbers go through the reference
 * interpreter, which the frontend does not share code with. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "runtime/runtime.h"

#define TEST_FIXTURE
#include "test_support.h"

#define TESTDATA "/usr/share/libonnx-testdata/data"
#define INPUTS "tests/lit/Inputs/frontend/"     /* the committed models, in the source tree */

TestSuite(onnx, .init = test_setup, .fini = test_teardown);

/* ---- helpers ---- */

static Graph *import(const char *path, const OnnxBinding *bindings, int n_bindings)
{
    Graph *g = onnx_import(arena, path, bindings, n_bindings, &diags);
    if (!g)
        diags_print(&diags, stderr);
    return g;
}

static const Op *find_op(const Graph *g, OpKind kind)
{
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i]->kind == kind)
            return g->ops[i];
    return NULL;
}

static int count_ops(const Graph *g, OpKind kind)
{
    int n = 0;
    for (int i = 0; i < g->n_ops; i++)
        n += g->ops[i]->kind == kind;
    return n;
}

static Tensor read_tensor(const char *path)
{
    Tensor t;
    cr_assert(tensor_read(arena, path, &t, &diags), "cannot read %s", path);
    return t;
}

/* The diagnostics as an array of lines; returns their number. */
static int messages(const char **out, int max)
{
    int n = 0;
    for (const DiagMsg *m = diags.first; m && n < max; m = m->next)
        out[n++] = m->text;
    return n;
}

/* Runs g on the given inputs (in graph input order) and compares output 0
 * with `want` to |got - want| <= atol + rtol * |want|. */
static void run_and_compare(const Graph *g, const Tensor *inputs, int n_inputs, const Tensor *want,
                            double atol, double rtol)
{
    cr_assert_eq(g->n_inputs, n_inputs);
    cr_assert(type_equal(&g->outputs[0]->type, &want->type), "output %s, expected %s",
              type_format(arena, &g->outputs[0]->type), type_format(arena, &want->type));
    Interp *in = interp_new(g);
    for (int i = 0; i < n_inputs; i++) {
        cr_assert(type_equal(&g->inputs[i]->type, &inputs[i].type));
        memcpy(interp_input(in, i), inputs[i].data, (size_t)type_numel(&inputs[i].type) * sizeof(float));
    }
    interp_run(in);
    const float *got = interp_output(in, 0);
    int64_t n = type_numel(&want->type), bad = 0;
    for (int64_t k = 0; k < n; k++)
        bad += !(fabs(got[k] - want->data[k]) <= atol + rtol * fabs(want->data[k]));
    interp_free(in);
    cr_expect_eq(bad, 0, "%lld of %lld elements differ", (long long)bad, (long long)n);
}

/* ---- valid models ---- */

Test(onnx, conv_relu_is_normalized)
{
    Graph *g = import(test_source_path(arena, INPUTS "ok_conv_relu.onnx"), NULL, 0);
    cr_assert(g);
    cr_assert_eq(diags.n_errors, 0);
    cr_assert_eq(g->n_inputs, 1);
    cr_assert_str_eq(g->inputs[0]->name, "x");
    cr_assert_eq(g->n_ops, 2);
    const Op *conv = g->ops[0], *relu = g->ops[1];
    cr_assert_eq(conv->kind, OP_CONV);
    cr_assert_eq(relu->kind, OP_RELU);
    cr_assert_str_eq(conv->loc.node, "conv0");
    cr_assert_eq(relu->loc.node_index, 1);
    /* Written by the model: pads; made explicit by the frontend: the rest. */
    const int64_t *v;
    cr_assert_eq(ir_attr_ints(conv, "pads", &v), 4);
    cr_assert(v[0] == 1 && v[1] == 1 && v[2] == 1 && v[3] == 1);
    cr_assert_eq(ir_attr_ints(conv, "strides", &v), 2);
    cr_assert(v[0] == 1 && v[1] == 1);
    cr_assert_eq(ir_attr_int(conv, "group", 0), 1);
    int64_t dims[4] = {1, 4, 8, 8};
    Type want = type_make(4, dims);
    cr_assert(type_equal(&g->outputs[0]->type, &want));
    cr_assert(conv->inputs[1]->data, "the weight is a constant");
}

Test(onnx, softmax_before_opset13_is_coerced_to_2d)
{
    Graph *g = import(test_source_path(arena, INPUTS "ok_softmax_opset11.onnx"), NULL, 0);
    cr_assert(g);
    cr_assert_eq(count_ops(g, OP_RESHAPE), 2);
    const Op *sm = find_op(g, OP_SOFTMAX);
    cr_assert(sm);
    cr_assert_eq(ir_attr_int(sm, "axis", -1), 1);
    cr_assert_eq(sm->result->type.rank, 2);
    cr_assert_eq(sm->result->type.dims[1], 12);
}

/* ---- bindings ---- */

#define RESHAPE_CASE TESTDATA "/node/test_reshape_reordered_all_dims"

Test(onnx, binding_makes_a_reshape_shape_static)
{
    OnnxBinding bind = {.input_name = "shape", .path = RESHAPE_CASE "/test_data_set_0/input_1.pb"};
    Graph *g = import(RESHAPE_CASE "/model.onnx", &bind, 1);
    cr_assert(g);
    cr_assert_eq(g->n_inputs, 1, "the bound input is no longer an input");
    cr_assert_str_eq(g->inputs[0]->name, "data");
    const Op *r = find_op(g, OP_RESHAPE);
    cr_assert(r);
    cr_assert_eq(r->n_inputs, 1, "the shape became an attribute");
    Tensor x = read_tensor(RESHAPE_CASE "/test_data_set_0/input_0.pb");
    Tensor y = read_tensor(RESHAPE_CASE "/test_data_set_0/output_0.pb");
    run_and_compare(g, &x, 1, &y, 0, 0);
}

/* Unbound, the int64 shape is a run-time i64 input, which Reshape cannot take. */
Test(onnx, reshape_without_binding_is_refused)
{
    cr_assert_null(onnx_import(arena, RESHAPE_CASE "/model.onnx", NULL, 0, &diags));
    const char *msg[4];
    cr_assert_eq(messages(msg, 4), 1);
    cr_assert(strstr(msg[0], "Reshape shape 'shape' must be a constant (initializer or Constant node) at import"), "%s",
              msg[0]);
}

Test(onnx, binding_errors_name_the_binding)
{
    OnnxBinding unknown = {.input_name = "no_such_input", .path = RESHAPE_CASE "/test_data_set_0/input_1.pb"};
    cr_assert_null(onnx_import(arena, RESHAPE_CASE "/model.onnx", &unknown, 1, &diags));
    cr_assert(strstr(diags.first->text, "binding 'no_such_input="), "%s", diags.first->text);
    cr_assert(strstr(diags.first->text, "the model has no graph input 'no_such_input'"), "%s", diags.first->text);

    Diags more;
    diags_init(&more, arena);
    /* A float tensor of shape 2x3x4 where an int64 shape[3] is declared. */
    OnnxBinding wrong = {.input_name = "shape", .path = RESHAPE_CASE "/test_data_set_0/input_0.pb"};
    cr_assert_null(onnx_import(arena, RESHAPE_CASE "/model.onnx", &wrong, 1, &more));
    cr_assert(strstr(more.first->text, "the file holds float f32[2,3,4], but the input is declared int64 f32[3]"),
              "%s", more.first->text);
}

/* ---- old opsets ---- */

#define BN_CASE TESTDATA "/pytorch-converted/test_BatchNorm2d_eval"

Test(onnx, batchnorm_opset6_matches_the_shipped_output)
{
    Graph *g = import(BN_CASE "/model.onnx", NULL, 0);
    cr_assert(g);
    cr_assert_eq(g->n_ops, 1);
    const Op *bn = g->ops[0];
    cr_assert_eq(bn->kind, OP_BATCHNORM);
    cr_assert_float_eq(ir_attr_float(bn, "epsilon", 0), 1e-5f, 1e-12);
    cr_assert_null(ir_attr(bn, "is_test"));
    for (int i = 1; i < 5; i++)
        cr_assert(bn->inputs[i]->data, "parameter %d is a constant (an initializer also listed as input)", i);
    Tensor x = read_tensor(BN_CASE "/test_data_set_0/input_0.pb");
    Tensor y = read_tensor(BN_CASE "/test_data_set_0/output_0.pb");
    run_and_compare(g, &x, 1, &y, 1e-5, 1e-3);
}

Test(onnx, legacy_opset6_matches_numpy)
{
    Graph *g = import(test_source_path(arena, INPUTS "ok_legacy_opset6.onnx"), NULL, 0);
    cr_assert(g);
    /* Add-6 with axis = 1: B (3x4) reshaped to 3x4x1 for numpy broadcasting. */
    const Op *add = find_op(g, OP_ADD);
    cr_assert(add && add->inputs[1]->def && add->inputs[1]->def->kind == OP_RESHAPE);
    cr_assert_eq(add->inputs[1]->type.rank, 3);
    cr_assert_eq(add->inputs[1]->type.dims[2], 1);
    cr_assert_float_eq(ir_attr_float(find_op(g, OP_CLIP), "max", 0), 3.40282347e+38f, 1e30);
    Tensor x = read_tensor(test_source_path(arena, INPUTS "ok_legacy_opset6_x.pb"));
    Tensor y = read_tensor(test_source_path(arena, INPUTS "ok_legacy_opset6_y.pb"));
    run_and_compare(g, &x, 1, &y, 1e-5, 1e-5);
}

Test(onnx, legacy_opset1_matches_numpy)
{
    Graph *g = import(test_source_path(arena, INPUTS "ok_legacy_opset1.onnx"), NULL, 0);
    cr_assert(g);
    const int64_t *pads;
    cr_assert_eq(ir_attr_ints(find_op(g, OP_PAD), "pads", &pads), 6);
    cr_assert_eq(ir_attr_int(find_op(g, OP_CONCAT), "axis", -1), 1, "Concat-1 defaults to axis 1");
    Tensor x = read_tensor(test_source_path(arena, INPUTS "ok_legacy_opset1_x.pb"));
    Tensor y = read_tensor(test_source_path(arena, INPUTS "ok_legacy_opset1_y.pb"));
    run_and_compare(g, &x, 1, &y, 1e-5, 1e-5);
}

/* ---- errors ---- */

Test(onnx, every_unsupported_operator_in_one_message)
{
    cr_assert_null(onnx_import(arena, test_source_path(arena, INPUTS "bad_unsupported.onnx"), NULL, 0, &diags));
    const char *msg[4];
    cr_assert_eq(messages(msg, 4), 1);
    cr_assert_eq(diags.n_errors, 1);
    cr_assert(strstr(msg[0], "bad_unsupported.onnx: error: unsupported ONNX operators: "
                             "RoiAlign (2 nodes, first 'roi_1' #1), DFT (node 'dft_1' #2)"),
              "%s", msg[0]);
    cr_assert_null(strstr(msg[0], "Relu"), "Relu is supported");
}

Test(onnx, every_refused_legacy_node_is_reported)
{
    cr_assert_null(onnx_import(arena, test_source_path(arena, INPUTS "bad_legacy_opset6.onnx"), NULL, 0, &diags));
    const char *msg[8];
    cr_assert_eq(messages(msg, 8), 5);
    static const char *const want[5][2] = {
        {"node 'bn_train' (#0, BatchNormalization)", "BatchNormalization-6 with is_test = 0"},
        {"node 'drop_train' (#1, Dropout)", "Dropout-6 with is_test = 0"},
        {"node 'pool_dilated' (#2, MaxPool)", "unsupported attribute 'dilations': MaxPool-1 (opset 6)"},
        {"node 'add_expand' (#3, Add)", "Add-6 broadcast of B f32[2,1] onto A f32[2,3]"},
        {"node 'gemm_expand' (#4, Gemm)", "Gemm-6 broadcast of C f32[2,1] onto f32[2,4]"},
    };
    for (int i = 0; i < 5; i++) {
        cr_expect(strstr(msg[i], want[i][0]), "%s", msg[i]);
        cr_expect(strstr(msg[i], want[i][1]), "%s", msg[i]);
        cr_expect(strstr(msg[i], "unsupported") || strstr(msg[i], "not supported"), "%s", msg[i]);
    }
}

Test(onnx, two_independent_errors_without_follow_ons)
{
    cr_assert_null(onnx_import(arena, test_source_path(arena, INPUTS "bad_two_errors.onnx"), NULL, 0, &diags));
    const char *msg[4];
    cr_assert_eq(messages(msg, 4), 2);
    cr_assert(strstr(msg[0], "node 'conv_first' (#0, Conv)"), "%s", msg[0]);
    cr_assert(strstr(msg[1], "node 'add_second' (#2, Add)"), "%s", msg[1]);
}

Test(onnx, not_a_model)
{
    cr_assert_null(onnx_import(arena, test_source_path(arena, INPUTS "bad_text.onnx"), NULL, 0, &diags));
    cr_assert_eq(diags.n_errors, 1);
    cr_assert(strstr(diags.first->text, "not an ONNX model"), "%s", diags.first->text);
    Diags more;
    diags_init(&more, arena);
    cr_assert_null(onnx_import(arena, test_source_path(arena, INPUTS "no_such_file.onnx"), NULL, 0, &more));
    cr_assert(strstr(more.first->text, "no_such_file.onnx: error: cannot open"), "%s", more.first->text);
}

Test(onnx, opset_range)
{
    cr_assert_null(onnx_import(arena, test_source_path(arena, INPUTS "bad_opset0.onnx"), NULL, 0, &diags));
    cr_assert(strstr(diags.first->text, "unsupported opset version 0 of the default ONNX domain (supported: 1 to 17)"),
              "%s", diags.first->text);
}
