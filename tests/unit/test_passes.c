/* test_passes.c: the first passes and the pass manager, on graphs built here.
 *
 * Every rewrite is checked two ways: the structure (which ops and names remain)
 * and the function: the reference interpreter runs the graph before and after
 * the pass on the same inputs, and the outputs must agree to 1e-5.  The
 * interpreter is independent of the passes, so a wrong fold shows up as
 * different numbers. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "runtime/runtime.h"

#define TEST_FIXTURE
#include "test_support.h"

bool pass_remove_identity(Graph *g, const PassArgs *args, Diags *diags);
bool pass_fold_constants(Graph *g, const PassArgs *args, Diags *diags);
bool pass_fold_batchnorm(Graph *g, const PassArgs *args, Diags *diags);
bool pass_dce(Graph *g, const PassArgs *args, Diags *diags);

TestSuite(passes, .init = test_setup, .fini = test_teardown);

/* ---- helpers ---- */

static Type ty(int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t dims[4] = {d0, d1, d2, d3};
    return type_make(rank, dims);
}

/* A constant filled with a fixed pseudo-random pattern in [-1, 1) plus
 * `offset`: the same for the same seed, whatever was drawn before. */
static Value *pattern_const(Graph *g, const char *name, Type type, unsigned seed, float offset)
{
    Value *v = ir_add_const(g, name, type, NULL);
    test_seed(seed * 0x9e3779b97f4a7c15ull);       /* small seeds spread over 64 bits */
    test_fill(v->data, type_numel(&type), offset - 1.0f, offset + 1.0f);
    return v;
}

static Op *op1(Graph *g, OpKind kind, Value *a, const char *name, Type type)
{
    return ir_add_op(g, kind, &a, 1, name, type, (Loc){0});
}

static Op *op2(Graph *g, OpKind kind, Value *a, Value *b, const char *name, Type type)
{
    Value *in[2] = {a, b};
    return ir_add_op(g, kind, in, 2, name, type, (Loc){0});
}

static int count_kind(const Graph *g, OpKind kind)
{
    int n = 0;
    for (int i = 0; i < g->n_ops; i++)
        n += g->ops[i]->kind == kind;
    return n;
}

static void assert_verifies(const Graph *g)
{
    Diags d;
    diags_init(&d, arena);
    bool ok = ir_verify(g, &d);
    if (!ok)
        diags_print(&d, stderr);
    cr_assert(ok, "graph does not verify");
}

/* Runs g on inputs filled by pattern (seed = input index) and returns a copy of
 * every output, concatenated. */
static float *run(const Graph *g, int64_t *count)
{
    Interp *in = interp_new(g);
    for (int i = 0; i < g->n_inputs; i++) {
        test_seed((777u + (uint64_t)i) * 0x9e3779b97f4a7c15ull);
        test_fill(interp_input(in, i), type_numel(&g->inputs[i]->type), -2.0f, 2.0f);
    }
    interp_run(in);
    int64_t total = 0;
    for (int i = 0; i < g->n_outputs; i++)
        total += type_numel(&g->outputs[i]->type);
    float *out = arena_array(arena, (size_t)total + 1, sizeof(float));
    int64_t at = 0;
    for (int i = 0; i < g->n_outputs; i++) {
        int64_t n = type_numel(&g->outputs[i]->type);
        memcpy(out + at, interp_output(in, i), (size_t)n * sizeof(float));
        at += n;
    }
    interp_free(in);
    *count = total;
    return out;
}

/* Runs `pass` on g and checks that g verifies and computes what it did before. */
static void check_same_function(Graph *g, PassFn pass)
{
    assert_verifies(g);
    int64_t n_before, n_after;
    float *before = run(g, &n_before);
    cr_assert(pass(g, NULL, &diags));
    cr_assert_eq(diags.n_errors, 0);
    assert_verifies(g);
    float *after = run(g, &n_after);
    cr_assert_eq(n_before, n_after);
    for (int64_t i = 0; i < n_before; i++) {
        double tol = 1e-5 * (1.0 + fabs(before[i]));
        cr_assert(fabs(before[i] - after[i]) <= tol, "output element %lld: %.9g before, %.9g after",
                  (long long)i, before[i], after[i]);
    }
}

/* batchnorm over `x` with `channels` channels; var is kept positive. */
static Op *add_batchnorm(Graph *g, Value *x, int64_t channels, const char *name, unsigned seed)
{
    Type c = ty(1, channels, 0, 0, 0);
    Value *in[5] = {x, pattern_const(g, NULL, c, seed, 0.0f), pattern_const(g, NULL, c, seed + 1, 0.0f),
                    pattern_const(g, NULL, c, seed + 2, 0.0f), pattern_const(g, NULL, c, seed + 3, 1.5f)};
    Op *bn = ir_add_op(g, OP_BATCHNORM, in, 5, name, x->type, (Loc){0});
    ir_set_float(g, bn, "epsilon", 1e-3f);
    return bn;
}

/* ---- fold-batchnorm ---- */

static Graph *conv_bn_graph(bool with_bias, int64_t group)
{
    Graph *g = ir_graph_new(arena, "conv_bn");
    Value *x = ir_add_input(g, "x", ty(4, 1, 4, 5, 5));
    Value *w = pattern_const(g, "w", ty(4, 6, 4 / group, 3, 3), 1, 0.0f);
    Value *in[3] = {x, w, with_bias ? pattern_const(g, "b", ty(1, 6, 0, 0, 0), 2, 0.0f) : NULL};
    Op *conv = ir_add_op(g, OP_CONV, in, with_bias ? 3 : 2, "c", ty(4, 1, 6, 5, 5), (Loc){0});
    int64_t pads[4] = {1, 1, 1, 1};
    ir_set_ints(g, conv, "pads", pads, 4);
    ir_set_int(g, conv, "group", group);
    Op *bn = add_batchnorm(g, conv->result, 6, "y", 10);
    Op *relu = op1(g, OP_RELU, bn->result, "r", bn->result->type);
    ir_add_output(g, relu->result);
    ir_add_output(g, bn->result);
    return g;
}

Test(passes, fold_batchnorm_conv_with_bias)
{
    Graph *g = conv_bn_graph(true, 1);
    check_same_function(g, pass_fold_batchnorm);
    cr_assert_eq(count_kind(g, OP_BATCHNORM), 0);
    cr_assert_eq(g->n_ops, 2);
    /* The conv now carries the batchnorm's name, which is still an output. */
    cr_assert_str_eq(g->outputs[1]->name, "y");
    cr_assert_eq(g->outputs[1]->def->kind, OP_CONV);
    cr_assert_str_neq(g->outputs[1]->def->inputs[1]->name, "w");
}

Test(passes, fold_batchnorm_conv_without_bias_grouped)
{
    Graph *g = conv_bn_graph(false, 2);
    check_same_function(g, pass_fold_batchnorm);
    cr_assert_eq(count_kind(g, OP_BATCHNORM), 0);
    Op *conv = g->outputs[1]->def;
    cr_assert_eq(conv->n_inputs, 3, "a bias was created");
    cr_assert_eq(conv->inputs[2]->type.rank, 1);
    cr_assert_eq(conv->inputs[2]->type.dims[0], 6);
}

/* Hand-computed: 1x1 conv, 2 channels in and out, w = [[1, 2], [3, 4]], b = [1, -1];
 * batchnorm scale = [4, 3], bias = [0, 5], mean = [1, 2], var = [3, 8], epsilon 1. */
Test(passes, fold_batchnorm_conv_hand_numbers)
{
    Graph *g = ir_graph_new(arena, "hand");
    Value *x = ir_add_input(g, "x", ty(4, 1, 2, 1, 1));
    float wd[4] = {1, 2, 3, 4}, bd[2] = {1, -1};
    float sc[2] = {4, 3}, bi[2] = {0, 5}, me[2] = {1, 2}, va[2] = {3, 8};
    /* s = [4 / sqrt(4), 3 / sqrt(9)] = [2, 1]; t = bias - s * mean = [-2, 3] */
    Value *in[3] = {x, ir_add_const(g, "w", ty(4, 2, 2, 1, 1), wd), ir_add_const(g, "b", ty(1, 2, 0, 0, 0), bd)};
    Op *conv = ir_add_op(g, OP_CONV, in, 3, "c", ty(4, 1, 2, 1, 1), (Loc){0});
    Value *bin[5] = {conv->result, ir_add_const(g, "sc", ty(1, 2, 0, 0, 0), sc),
                     ir_add_const(g, "bi", ty(1, 2, 0, 0, 0), bi), ir_add_const(g, "me", ty(1, 2, 0, 0, 0), me),
                     ir_add_const(g, "va", ty(1, 2, 0, 0, 0), va)};
    Op *bn = ir_add_op(g, OP_BATCHNORM, bin, 5, "y", conv->result->type, (Loc){0});
    ir_set_float(g, bn, "epsilon", 1.0f);
    ir_add_output(g, bn->result);

    check_same_function(g, pass_fold_batchnorm);
    conv = g->outputs[0]->def;
    cr_assert_eq(conv->kind, OP_CONV);
    const float *w = conv->inputs[1]->data, *b = conv->inputs[2]->data;
    /* w' = w * s per output channel (row); b' = b * s + t. */
    cr_assert_float_eq(w[0], 2.0f, 1e-6);
    cr_assert_float_eq(w[1], 4.0f, 1e-6);
    cr_assert_float_eq(w[2], 3.0f, 1e-6);
    cr_assert_float_eq(w[3], 4.0f, 1e-6);
    cr_assert_float_eq(b[0], 0.0f, 1e-6);   /* 1 * 2 - 2 */
    cr_assert_float_eq(b[1], 2.0f, 1e-6);   /* -1 * 1 + 3 */
    /* The original constants are gone (nothing else used them). */
    cr_assert_null(ir_find_value(g, "sc"));
    cr_assert_null(ir_find_value(g, "w"));
}

static Graph *gemm_bn_graph(int trans_b, float alpha, float beta, int c_rank, int64_t c_rows)
{
    enum { M = 3, K = 5, N = 4 };
    Graph *g = ir_graph_new(arena, "gemm_bn");
    Value *a = ir_add_input(g, "a", ty(2, M, K, 0, 0));
    Value *b = pattern_const(g, "B", trans_b ? ty(2, N, K, 0, 0) : ty(2, K, N, 0, 0), 3, 0.0f);
    Value *c = NULL;
    if (c_rank == 1)
        c = pattern_const(g, "C", ty(1, N, 0, 0, 0), 4, 0.0f);
    else if (c_rank == 2)
        c = pattern_const(g, "C", ty(2, c_rows, N, 0, 0), 4, 0.0f);
    Value *in[3] = {a, b, c};
    Op *gemm = ir_add_op(g, OP_GEMM, in, c ? 3 : 2, "mm", ty(2, M, N, 0, 0), (Loc){0});
    ir_set_int(g, gemm, "transB", trans_b);
    ir_set_float(g, gemm, "alpha", alpha);
    ir_set_float(g, gemm, "beta", beta);
    Op *bn = add_batchnorm(g, gemm->result, N, "y", 20);
    ir_add_output(g, bn->result);
    return g;
}

Test(passes, fold_batchnorm_gemm_variants)
{
    struct { int trans_b; float alpha, beta; int c_rank; int64_t c_rows; } cases[] = {
        {0, 1.0f, 1.0f, 1, 1}, {1, 1.0f, 1.0f, 1, 1}, {1, 0.5f, 2.0f, 2, 1},
        {0, 2.0f, -0.5f, 2, 3}, {1, 1.5f, 3.0f, 0, 0}, {0, 1.0f, 0.0f, 2, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Graph *g = gemm_bn_graph(cases[i].trans_b, cases[i].alpha, cases[i].beta, cases[i].c_rank,
                                 cases[i].c_rows);
        check_same_function(g, pass_fold_batchnorm);
        cr_assert_eq(count_kind(g, OP_BATCHNORM), 0, "case %zu", i);
        cr_assert_eq(g->outputs[0]->def->kind, OP_GEMM);
        cr_assert_str_eq(g->outputs[0]->name, "y");
    }
}

Test(passes, fold_batchnorm_keeps_shared_or_standalone)
{
    /* The conv result has a second user: folding would change it. */
    Graph *g = conv_bn_graph(true, 1);
    Value *c = ir_find_value(g, "c");
    Op *extra = op1(g, OP_RELU, c, "other", c->type);
    ir_add_output(g, extra->result);
    check_same_function(g, pass_fold_batchnorm);
    cr_assert_eq(count_kind(g, OP_BATCHNORM), 1);

    /* A batchnorm on a graph input has nothing to fold into. */
    Graph *h = ir_graph_new(arena, "standalone");
    Value *x = ir_add_input(h, "x", ty(4, 1, 3, 2, 2));
    ir_add_output(h, add_batchnorm(h, x, 3, "y", 5)->result);
    check_same_function(h, pass_fold_batchnorm);
    cr_assert_eq(count_kind(h, OP_BATCHNORM), 1);

    /* A conv whose weight is computed is not folded either. */
    Graph *k = ir_graph_new(arena, "computed_weight");
    Value *x2 = ir_add_input(k, "x", ty(4, 1, 2, 3, 3));
    Value *w = ir_add_input(k, "w", ty(4, 2, 2, 1, 1));
    Op *conv = op2(k, OP_CONV, x2, w, "c", ty(4, 1, 2, 3, 3));
    ir_add_output(k, add_batchnorm(k, conv->result, 2, "y", 6)->result);
    check_same_function(k, pass_fold_batchnorm);
    cr_assert_eq(count_kind(k, OP_BATCHNORM), 1);
}

/* ---- fold-constants ---- */

Test(passes, fold_constants_chain)
{
    Graph *g = ir_graph_new(arena, "chain");
    Value *x = ir_add_input(g, "x", ty(2, 3, 2, 0, 0));
    Value *c1 = pattern_const(g, "c1", ty(2, 2, 3, 0, 0), 7, 0.0f);
    Value *c2 = pattern_const(g, "c2", ty(1, 2, 0, 0, 0), 8, 0.0f);
    Op *t = op1(g, OP_TRANSPOSE, c1, "t", ty(2, 3, 2, 0, 0));
    Op *s = op2(g, OP_ADD, t->result, c2, "s", ty(2, 3, 2, 0, 0));
    Op *sq = op2(g, OP_MUL, s->result, s->result, "sq", ty(2, 3, 2, 0, 0));
    Op *y = op2(g, OP_MUL, x, sq->result, "y", ty(2, 3, 2, 0, 0));
    ir_add_output(g, y->result);
    ir_add_output(g, s->result);
    check_same_function(g, pass_fold_constants);
    cr_assert_eq(g->n_ops, 1);
    cr_assert_eq(g->ops[0]->kind, OP_MUL);
    Value *folded = g->ops[0]->inputs[1];
    cr_assert_str_eq(folded->name, "sq");
    cr_assert_null(folded->def);
    /* An output that became a constant keeps its name. */
    cr_assert_str_eq(g->outputs[1]->name, "s");
    /* (c1^T + c2)^2 by hand from the constants. */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            float v = c1->data[j * 3 + i] + c2->data[j];
            cr_assert_float_eq(folded->data[i * 2 + j], v * v, 1e-6);
        }
}

Test(passes, fold_constants_refuses_to_grow)
{
    Graph *g = ir_graph_new(arena, "grow");
    Value *x = ir_add_input(g, "x", ty(2, 64, 64, 0, 0));
    Value *col = pattern_const(g, "col", ty(2, 64, 1, 0, 0), 1, 0.0f);
    Value *row = pattern_const(g, "row", ty(2, 1, 64, 0, 0), 2, 0.0f);
    Op *outer = op2(g, OP_ADD, col, row, "outer", ty(2, 64, 64, 0, 0)); /* 4096 from 64 */
    Value *c3 = pattern_const(g, "c3", ty(2, 8, 1, 0, 0), 3, 0.0f);
    Value *r3 = pattern_const(g, "r3", ty(2, 1, 8, 0, 0), 4, 0.0f);
    Op *small = op2(g, OP_ADD, c3, r3, "small", ty(2, 8, 8, 0, 0));   /* 64: small, folded */
    Op *y = op2(g, OP_ADD, x, outer->result, "y", x->type);
    ir_add_output(g, y->result);
    ir_add_output(g, small->result);
    check_same_function(g, pass_fold_constants);
    cr_assert_eq(g->n_ops, 2);
    cr_assert_not_null(ir_find_value(g, "outer")->def, "the 64x64 broadcast stays an op");
    cr_assert_null(ir_find_value(g, "small")->def, "the 8x8 result is folded");
}

/* ---- remove-identity ---- */

Test(passes, remove_identity_rewires_and_keeps_output_names)
{
    Graph *g = ir_graph_new(arena, "ids");
    Value *x = ir_add_input(g, "x", ty(2, 2, 3, 0, 0));
    Op *id = op1(g, OP_IDENTITY, x, "i", x->type);
    Op *relu = op1(g, OP_RELU, id->result, "r", x->type);
    Op *drop = op1(g, OP_DROPOUT, relu->result, "d", x->type);
    Op *rs = op1(g, OP_RESHAPE, drop->result, "same", x->type);
    ir_set_ints(g, rs, "shape", (int64_t[]){2, 3}, 2);
    Op *flat = op1(g, OP_RESHAPE, rs->result, "out", ty(1, 6, 0, 0, 0));
    ir_set_ints(g, flat, "shape", (int64_t[]){6}, 1);
    Op *tail = op1(g, OP_IDENTITY, relu->result, "out2", x->type);
    ir_add_output(g, flat->result);
    ir_add_output(g, tail->result);
    check_same_function(g, pass_remove_identity);
    /* relu and the real reshape remain; relu's result took the name out2. */
    cr_assert_eq(g->n_ops, 2);
    cr_assert_eq(g->ops[0]->kind, OP_RELU);
    cr_assert_eq(g->ops[0]->inputs[0], x);
    cr_assert_str_eq(g->ops[0]->result->name, "out2");
    cr_assert_eq(g->ops[1]->kind, OP_RESHAPE);
    cr_assert_eq(g->ops[1]->inputs[0], g->ops[0]->result);
    cr_assert_str_eq(g->outputs[0]->name, "out");
    cr_assert_str_eq(g->outputs[1]->name, "out2");
}

Test(passes, remove_identity_keeps_input_to_output_copies)
{
    Graph *g = ir_graph_new(arena, "passthrough");
    Value *x = ir_add_input(g, "x", ty(1, 4, 0, 0, 0));
    Op *r = op1(g, OP_RELU, x, "r", x->type);
    Op *d = op1(g, OP_DROPOUT, x, "y", x->type);          /* input -> output */
    Op *i = op1(g, OP_IDENTITY, r->result, "z", x->type);  /* r is another output */
    ir_add_output(g, r->result);
    ir_add_output(g, d->result);
    ir_add_output(g, i->result);
    check_same_function(g, pass_remove_identity);
    cr_assert_eq(count_kind(g, OP_DROPOUT), 0);
    cr_assert_eq(count_kind(g, OP_IDENTITY), 2);
    cr_assert_str_eq(g->outputs[0]->name, "r");
    cr_assert_str_eq(g->outputs[1]->name, "y");
    cr_assert_str_eq(g->outputs[2]->name, "z");
}

/* ---- dce ---- */

Test(passes, dce_removes_unused_ops_and_constants)
{
    Graph *g = ir_graph_new(arena, "dce");
    Value *x = ir_add_input(g, "x", ty(1, 4, 0, 0, 0));
    ir_add_input(g, "unused_input", ty(1, 4, 0, 0, 0));
    Value *c = pattern_const(g, "c", ty(1, 4, 0, 0, 0), 1, 0.0f);
    Value *k = pattern_const(g, "k", ty(1, 4, 0, 0, 0), 2, 0.0f);
    Op *dead1 = op2(g, OP_MUL, x, c, "dead1", x->type);
    op1(g, OP_RELU, dead1->result, "dead2", x->type);
    Op *y = op2(g, OP_ADD, x, k, "y", x->type);
    ir_add_output(g, y->result);
    check_same_function(g, pass_dce);
    cr_assert_eq(g->n_ops, 1);
    cr_assert_null(ir_find_value(g, "c"));
    cr_assert_null(ir_find_value(g, "dead2"));
    cr_assert_not_null(ir_find_value(g, "k"));
    cr_assert_eq(g->n_inputs, 2, "graph inputs are the signature");
}

/* ---- the pass manager ---- */

static Graph *small_pipeline_graph(void)
{
    Graph *g = ir_graph_new(arena, "pipe");
    Value *x = ir_add_input(g, "x", ty(4, 1, 2, 3, 3));
    Value *w = pattern_const(g, "w", ty(4, 2, 2, 1, 1), 1, 0.0f);
    Op *conv = op2(g, OP_CONV, x, w, "c", ty(4, 1, 2, 3, 3));
    Op *drop = op1(g, OP_DROPOUT, conv->result, "d", conv->result->type);
    Op *bn = add_batchnorm(g, drop->result, 2, "y", 3);
    op1(g, OP_RELU, x, "unused", x->type);
    ir_add_output(g, bn->result);
    return g;
}

static bool run_default_pipeline(Graph *g, const PassArgs *args, Diags *d)
{
    (void)args;
    return pass_run_pipeline(g, default_pipeline, NULL, d);
}

Test(passes, default_pipeline_folds_everything)
{
    Graph *g = small_pipeline_graph();
    check_same_function(g, run_default_pipeline);
    cr_assert_eq(g->n_ops, 1);
    cr_assert_eq(g->ops[0]->kind, OP_CONV);
    cr_assert_str_eq(g->outputs[0]->name, "y");
    const char *graph_passes[] = {"remove-identity", "fold-constants", "fold-batchnorm", "dce"};
    for (size_t i = 0; i < sizeof graph_passes / sizeof graph_passes[0]; i++)
        cr_assert_not_null(strstr(default_pipeline, graph_passes[i]), "%s is in the default pipeline",
                           graph_passes[i]);
}

Test(passes, unknown_pass_runs_nothing)
{
    Graph *g = small_pipeline_graph();
    int ops = g->n_ops;
    cr_assert_not(pass_run_pipeline(g, "dce, nope ,remove-identity", NULL, &diags));
    cr_assert_eq(g->n_ops, ops, "dce must not have run");
    cr_assert_eq(diags.n_errors, 1);
    cr_assert_not_null(strstr(diags.first->text, "unknown pass 'nope' (known: "));
    cr_assert_not_null(strstr(diags.first->text, "fold-batchnorm"));
}

Test(passes, pipeline_whitespace_and_empty)
{
    Graph *g = small_pipeline_graph();
    cr_assert(pass_run_pipeline(g, "", NULL, &diags));
    cr_assert(pass_run_pipeline(g, "  \t ", NULL, &diags));
    cr_assert_eq(g->n_ops, 4);
    cr_assert(pass_run_pipeline(g, " dce , remove-identity ", NULL, &diags));
    cr_assert_eq(g->n_ops, 2);
    cr_assert_not(pass_run_pipeline(g, "dce,,dce", NULL, &diags));
    cr_assert_eq(diags.n_errors, 1);
}

static char *capture_pipeline(Graph *g, const char *pipeline, PassOptions options, bool *ok)
{
    char *text = NULL;
    size_t size = 0;
    options.log = open_memstream(&text, &size);
    *ok = pass_run_pipeline(g, pipeline, &options, &diags);
    fclose(options.log);
    char *copy = arena_strdup(arena, text);
    free(text);
    return copy;
}

Test(passes, print_ir_after_and_timing)
{
    bool ok;
    char *all = capture_pipeline(small_pipeline_graph(), "remove-identity,dce",
                                 (PassOptions){.print_after_all = true}, &ok);
    cr_assert(ok);
    char *first = strstr(all, "// -----// IR after remove-identity //----- //\n");
    cr_assert_not_null(first);
    char *second = strstr(first, "// -----// IR after dce //----- //\n");
    cr_assert_not_null(second);
    *second = 0;   /* the IR after remove-identity alone */
    cr_assert_null(strstr(first, "dropout"), "dropout is gone after remove-identity");
    cr_assert_not_null(strstr(first, "unused"), "dce has not run yet");
    *second = '/';
    cr_assert_null(strstr(second, "unused"), "dce removed the unused relu");

    char *one = capture_pipeline(small_pipeline_graph(), "remove-identity,dce",
                                 (PassOptions){.print_after = "dce"}, &ok);
    cr_assert(ok);
    cr_assert_null(strstr(one, "IR after remove-identity"));
    cr_assert_not_null(strstr(one, "IR after dce"));

    char *timing = capture_pipeline(small_pipeline_graph(), "remove-identity,dce",
                                    (PassOptions){.time_passes = true}, &ok);
    cr_assert(ok);
    cr_assert_not_null(strstr(timing, "pass timing report"));
    cr_assert_not_null(strstr(timing, "remove-identity\n"));
    cr_assert_not_null(strstr(timing, "dce\n"));
    cr_assert_not_null(strstr(timing, "100.0%  total\n"));
    cr_assert_null(strstr(timing, "IR after"));
}

Test(passes, verifier_failure_names_the_pass)
{
    /* A relu whose result type is wrong: any pass leaves it broken, and the
     * verifier after the first pass reports it under that pass's name. */
    Graph *g = ir_graph_new(arena, "broken");
    Value *x = ir_add_input(g, "x", ty(1, 4, 0, 0, 0));
    Op *r = op1(g, OP_RELU, x, "r", ty(1, 5, 0, 0, 0));
    ir_add_output(g, r->result);
    cr_assert_not(pass_run_pipeline(g, "dce,remove-identity", NULL, &diags));
    cr_assert_geq(diags.n_errors, 2);
    cr_assert_str_eq(diags.first->text, "error: after pass 'dce': the IR does not verify");
}

Test(passes, registry_names_are_unique_and_found)
{
    for (int i = 0; i < pass_registry_count; i++) {
        cr_assert_eq(pass_find(pass_registry[i].name), &pass_registry[i]);
        cr_assert_not_null(pass_registry[i].summary);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(pass_registry[i].name, pass_registry[j].name);
    }
    cr_assert_null(pass_find("fold-batchnorms"));
}
