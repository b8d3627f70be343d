/* test_ir.c: the arena, the graph builder, the .xir printer and parser, and the
 * verifier.
 *
 * References are independent of the code under test: printed text is compared
 * with text written out by hand here, float spellings with what C's own %g and
 * the IEEE bit patterns say, constant data bit for bit with what was put in, and
 * every parser diagnostic with the FILE:LINE:COL counted by hand. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/ir.h"

#define TEST_FIXTURE
#include "test_support.h"

TestSuite(arena, .init = test_setup, .fini = test_teardown);
TestSuite(builder, .init = test_setup, .fini = test_teardown);
TestSuite(print, .init = test_setup, .fini = test_teardown);
TestSuite(parse, .init = test_setup, .fini = test_teardown);
TestSuite(verify, .init = test_setup, .fini = test_teardown);
TestSuite(names, .init = test_setup, .fini = test_teardown);

/* ---- helpers ---- */

static Type ty(int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t dims[4] = {d0, d1, d2, d3};
    return type_make(rank, dims);
}

static float from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* The printed text, copied into the arena. */
static char *print_text(const Graph *g, bool elide)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    cr_assert(out);
    PrintOptions options = {.elide_constants = elide};
    ir_print(g, out, &options);
    fclose(out);
    char *copy = arena_strdup(arena, buf);
    free(buf);
    return copy;
}

static Graph *parse_text(const char *text)
{
    return ir_parse(arena, "bad.xir", text, strlen(text), &diags);
}

static void expect_diag(const char *text, const char *message)
{
    diags_init(&diags, arena);
    Graph *g = parse_text(text);
    const char *all = test_messages();
    cr_expect_null(g, "parse should fail for:\n%s", text);
    cr_expect(strstr(all, message), "expected diagnostic\n  %s\ngot\n%s", message, all);
}

static int count_lines_with(const char *all, const char *needle)
{
    int n = 0;
    for (const char *p = all; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* x -> gemm(x, w, b) -> relu, the small graph most tests use. */
static Graph *tiny_graph(void)
{
    Graph *g = ir_graph_new(arena, "tiny");
    Value *x = ir_add_input(g, "x", ty(2, 1, 4, 0, 0));
    float w[12];
    for (int i = 0; i < 12; i++)
        w[i] = (float)i * 0.5f - 2.0f;
    Value *wv = ir_add_const(g, "w", ty(2, 3, 4, 0, 0), w);
    float b[3] = {0.5f, -1.0f, 2.0f};
    Value *bv = ir_add_const(g, "b", ty(1, 3, 0, 0, 0), b);
    Value *ins[3] = {x, wv, bv};
    Loc loc = {.file = "m.onnx", .node = "Gemm_0", .node_index = 0};
    Op *gemm = ir_add_op(g, OP_GEMM, ins, 3, "y", ty(2, 1, 3, 0, 0), loc);
    ir_set_int(g, gemm, "transB", 1);
    Op *relu = ir_add_op(g, OP_RELU, &gemm->result, 1, "z", ty(2, 1, 3, 0, 0), (Loc){0});
    ir_add_output(g, relu->result);
    return g;
}

/* ---- arena ---- */

Test(arena, small_allocations_aligned_zeroed_and_disjoint)
{
    enum { N = 3000 };
    unsigned char **blocks = malloc(N * sizeof *blocks);
    for (int i = 0; i < N; i++) {
        size_t size = (size_t)(i % 97) + 1;
        blocks[i] = arena_alloc(arena, size);
        cr_assert_eq((uintptr_t)blocks[i] % 16, 0, "block %d misaligned", i);
        for (size_t k = 0; k < size; k++)
            cr_assert_eq(blocks[i][k], 0);
        memset(blocks[i], i & 0xff, size);
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < (size_t)(i % 97) + 1; k++)
            cr_assert_eq(blocks[i][k], i & 0xff, "block %d was overwritten", i);
    free(blocks);
}

Test(arena, big_blocks_between_small_ones)
{
    size_t before = arena_bytes(arena);
    char *small1 = arena_alloc(arena, 10);
    float *big = arena_array(arena, 1 << 20, sizeof(float));   /* 4 MB: a chunk of its own */
    char *small2 = arena_alloc(arena, 10);
    cr_assert_eq((uintptr_t)big % 16, 0);
    for (int i = 0; i < 1 << 20; i += 4099)
        cr_assert_eq(big[i], 0.0f);
    big[(1 << 20) - 1] = 1.0f;
    strcpy(small1, "abc");
    strcpy(small2, "def");
    cr_assert_str_eq(small1, "abc");
    cr_assert_eq(big[(1 << 20) - 1], 1.0f);
    cr_assert_geq(arena_bytes(arena) - before, (size_t)(4 << 20) + 20);
}

Test(arena, strings)
{
    cr_assert_str_eq(arena_strdup(arena, "conv"), "conv");
    cr_assert_str_eq(arena_printf(arena, "%s.%d", "t", 12), "t.12");
    char *empty = arena_alloc(arena, 0);
    cr_assert_not_null(empty);
}

/* ---- builder ---- */

Test(builder, values_ops_and_names)
{
    Graph *g = tiny_graph();
    cr_assert_eq(g->n_values, 5);
    cr_assert_eq(g->n_ops, 2);
    for (int i = 0; i < g->n_values; i++)
        cr_assert_eq(g->values[i]->id, i);
    Value *y = ir_find_value(g, "y");
    cr_assert_not_null(y);
    cr_assert_eq(y->def, g->ops[0]);
    cr_assert(ir_find_value(g, "x")->is_input);
    cr_assert_float_eq(ir_find_value(g, "b")->data[1], -1.0f, 0);
    cr_assert_null(ir_find_value(g, "nope"));
    cr_assert_str_eq(ir_fresh_name(g, "q"), "q");
    cr_assert_str_eq(ir_fresh_name(g, "y"), "y.1");
    Op *op = ir_add_op(g, OP_RELU, &y, 1, NULL, y->type, (Loc){0});
    cr_assert_str_eq(op->result->name, "t");
    cr_assert_eq(ir_count_uses(g, y), 2);
    cr_assert(ir_verify(g, &diags), "%s", test_messages());
}

Test(builder, attributes_kept_sorted)
{
    Graph *g = tiny_graph();
    Op *op = g->ops[1];
    int64_t pads[4] = {1, 2, 3, 4};
    ir_set_ints(g, op, "strides", pads, 2);
    ir_set_int(g, op, "group", 3);
    ir_set_ints(g, op, "pads", pads, 4);
    ir_set_float(g, op, "alpha", 0.25f);
    ir_set_string(g, op, "mode", "constant");
    ir_set_int(g, op, "group", 5);             /* replaces, does not add */
    const char *want[] = {"alpha", "group", "mode", "pads", "strides"};
    cr_assert_eq(op->n_attrs, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(op->attrs[i].name, want[i]);
    cr_assert_eq(ir_attr_int(op, "group", 1), 5);
    cr_assert_eq(ir_attr_int(op, "missing", 7), 7);
    cr_assert_float_eq(ir_attr_float(op, "alpha", 0), 0.25f, 0);
    cr_assert_float_eq(ir_attr_float(op, "group", 0), 5.0f, 0);
    const int64_t *v;
    cr_assert_eq(ir_attr_ints(op, "pads", &v), 4);
    cr_assert_eq(v[3], 4);
    cr_assert_eq(ir_attr_ints(op, "group", &v), -1);
}

Test(builder, compact_drops_dead_ops_and_unused_values)
{
    Graph *g = tiny_graph();
    Value *x = g->inputs[0];
    Value *y = ir_find_value(g, "y");
    /* z := relu(x) directly; gemm and its weights become dead. */
    g->ops[1]->inputs[0] = x;
    ir_find_value(g, "z")->type = x->type;
    g->ops[0]->dead = true;
    cr_assert_eq(ir_count_uses(g, y), 0);
    ir_compact(g);
    cr_assert_eq(g->n_ops, 1);
    cr_assert_eq(g->n_values, 2);
    cr_assert_str_eq(g->values[0]->name, "x");
    cr_assert_str_eq(g->values[1]->name, "z");
    cr_assert_eq(g->values[1]->id, 1);
    cr_assert(ir_verify(g, &diags), "%s", test_messages());
    cr_assert_str_eq(print_text(g, false),
                     "xir 1\n"
                     "graph @tiny {\n"
                     "  input %x : f32[1,4]\n"
                     "  %z : f32[1,4] = relu(%x)\n"
                     "  output %z\n"
                     "}\n");
}

Test(builder, replace_uses)
{
    Graph *g = tiny_graph();
    Value *y = ir_find_value(g, "y"), *z = ir_find_value(g, "z");
    ir_replace_uses(g, z, y);
    cr_assert_eq(g->outputs[0], y);
    cr_assert_eq(ir_count_uses(g, z), 0);
}

/* ---- printer ---- */

Test(print, tiny_graph_text)
{
    Graph *g = tiny_graph();
    cr_assert_str_eq(print_text(g, false),
                     "xir 1\n"
                     "graph @tiny {\n"
                     "  input %x : f32[1,4]\n"
                     "  const %w : f32[3,4] = [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]\n"
                     "  const %b : f32[3] = [0.5, -1.0, 2.0]\n"
                     "  %y : f32[1,3] = gemm(%x, %w, %b) {transB = 1} loc(\"Gemm_0\" #0)\n"
                     "  %z : f32[1,3] = relu(%y)\n"
                     "  output %z\n"
                     "}\n");
    cr_assert_str_eq(print_text(g, true),
                     "xir 1\n"
                     "graph @tiny {\n"
                     "  input %x : f32[1,4]\n"
                     "  const %w : f32[3,4] = elided\n"
                     "  const %b : f32[3] = elided\n"
                     "  %y : f32[1,3] = gemm(%x, %w, %b) {transB = 1} loc(\"Gemm_0\" #0)\n"
                     "  %z : f32[1,3] = relu(%y)\n"
                     "  output %z\n"
                     "}\n");
}

/* One const holding `values`, printed; returns the text between '[' and ']'. */
static char *printed_list(const float *values, int n)
{
    Graph *g = ir_graph_new(arena, "f");
    int64_t dims[1] = {n};
    Value *c = ir_add_const(g, "c", type_make(1, dims), values);
    Value *x = ir_add_input(g, "x", type_make(1, dims));
    Value *ins[2] = {x, c};
    ir_add_output(g, ir_add_op(g, OP_ADD, ins, 2, "s", type_make(1, dims), (Loc){0})->result);
    char *text = print_text(g, false);
    char *open = strchr(text, '['), *close;
    open = strchr(open + 1, '[');           /* skip the input's type */
    open = strchr(open + 1, '[');           /* and the const's */
    close = strchr(open, ']');
    *close = 0;
    return open + 1;
}

/* Expected spellings by hand: %.6g where it reads back, else %.9g; 3.4028235e38f
 * (FLT_MAX) needs nine digits; 1e-40f is the denormal 9.99994610e-41, whose
 * six-digit form already reads back. */
Test(print, float_spellings)
{
    float values[] = {
        0.1f, 1.0f, -0.0f, 0.0f, INFINITY, -INFINITY, NAN, 1e-45f, 3.4028235e38f,
        100000.0f, 1e6f, 16777216.0f, 1.0f / 3.0f, 1e-40f, 1e-05f, -2.5f, 123456.0f, 1234567.0f,
    };
    const char *want = "0.1, 1.0, -0.0, 0.0, inf, -inf, nan, 1.4013e-45, 3.40282347e+38, "
                       "100000.0, 1e+06, 16777216.0, 0.333333343, 9.99995e-41, 1e-05, -2.5, 123456.0, 1234567.0";
    cr_assert_str_eq(printed_list(values, sizeof values / sizeof values[0]), want);
}

Test(print, float_attributes_and_quoted_names)
{
    Graph *g = ir_graph_new(arena, "my graph");
    Value *x = ir_add_input(g, "input:0", ty(2, 1, 4, 0, 0));
    Op *op = ir_add_op(g, OP_LEAKYRELU, &x, 1, "a.b$c-1_2", x->type,
                       (Loc){.node = "q\"uote\\d\n", .node_index = 12});
    ir_set_float(g, op, "alpha", 2.0f);
    float fl[2] = {1.0f, 2.5f};
    ir_set_floats(g, op, "floats", fl, 2);
    ir_set_ints(g, op, "empty", NULL, 0);
    ir_set_string(g, op, "note", "tab\there");
    ir_set_int(g, op, "1st", -3);
    ir_add_output(g, op->result);
    cr_assert_str_eq(print_text(g, false),
                     "xir 1\n"
                     "graph @\"my graph\" {\n"
                     "  input %\"input:0\" : f32[1,4]\n"
                     "  %a.b$c-1_2 : f32[1,4] = leakyrelu(%\"input:0\") {\"1st\" = -3, alpha = 2.0, "
                     "empty = [], floats = [1.0, 2.5], note = \"tab\\x09here\"} loc(\"q\\\"uote\\\\d\\n\" #12)\n"
                     "  output %a.b$c-1_2\n"
                     "}\n");
}

Test(print, name_text_for_messages)
{
    cr_assert_str_eq(ir_name_text(arena, "conv1.weight"), "conv1.weight");
    cr_assert_str_eq(ir_name_text(arena, "0$-_"), "0$-_");
    cr_assert_str_eq(ir_name_text(arena, "a b"), "\"a b\"");
    cr_assert_str_eq(ir_name_text(arena, ""), "\"\"");
    cr_assert_str_eq(ir_name_text(arena, "/x\n\"\\\x7f"), "\"/x\\n\\\"\\\\\\x7f\"");
}

Test(print, hex_for_big_constants)
{
    enum { N = IR_DECIMAL_LIMIT + 1 };
    float data[N] = {1.0f, -2.0f};
    Graph *g = ir_graph_new(arena, "h");
    int64_t dims[1] = {N};
    ir_add_const(g, "c", type_make(1, dims), data);
    char *text = print_text(g, false);
    /* 1.0f is 0x3f800000, -2.0f 0xc0000000: little-endian bytes. */
    cr_assert(strstr(text, "const %c : f32[65] = hex\"0000803f000000c000000000"), "%s", text);
    const char *hex = strstr(text, "hex\"") + 4;
    cr_assert_eq(strchr(hex, '"') - hex, N * 8);
}

/* ---- round trips ---- */

static void assert_round_trip(Graph *g)
{
    cr_assert(ir_verify(g, &diags), "%s", test_messages());
    char *first = print_text(g, false);
    Graph *back = parse_text(first);
    cr_assert_not_null(back, "%s\n%s", test_messages(), first);
    char *second = print_text(back, false);
    cr_assert_str_eq(second, first);
}

Test(parse, round_trip_tiny)
{
    assert_round_trip(tiny_graph());
}

Test(parse, round_trip_every_attribute_kind_and_quoting)
{
    Graph *g = ir_graph_new(arena, "q u o t e \"d\"");
    Value *x = ir_add_input(g, "", ty(4, 1, 2, 3, 3));
    Value *w = ir_add_const(g, "\xc3\xa9t\xc3\xa9", ty(4, 2, 2, 1, 1), NULL);
    for (int i = 0; i < 4; i++)
        w->data[i] = (float)i;
    Value *ins[2] = {x, w};
    Op *conv = ir_add_op(g, OP_CONV, ins, 2, "c\x01", ty(4, 1, 2, 3, 3),
                         (Loc){.node = "", .node_index = 3});
    int64_t ones[2] = {1, 1}, zeros[4] = {0, 0, 0, 0};
    ir_set_ints(g, conv, "strides", ones, 2);
    ir_set_ints(g, conv, "dilations", ones, 2);
    ir_set_ints(g, conv, "pads", zeros, 4);
    ir_set_int(g, conv, "group", 1);
    ir_set_string(g, conv, "comment", "a \"b\" \\ c\nd");
    float fl[3] = {-0.0f, 1e-45f, 0.1f};
    ir_set_floats(g, conv, "zz", fl, 3);
    Op *clip = ir_add_op(g, OP_CLIP, &conv->result, 1, "out", conv->result->type, (Loc){0});
    ir_set_float(g, clip, "min", -INFINITY);
    ir_set_float(g, clip, "max", 6.0f);
    ir_add_output(g, clip->result);
    ir_add_output(g, conv->result);
    assert_round_trip(g);
}

Test(parse, hex_constant_bit_exact)
{
    enum { N = 1000 };
    Graph *g = ir_graph_new(arena, "h");
    int64_t dims[1] = {N};
    Value *c = ir_add_const(g, "c", type_make(1, dims), NULL);
    test_seed(12345);
    for (int i = 0; i < N; i++)
        c->data[i] = from_bits((uint32_t)(test_random() >> 32));     /* any bits */
    c->data[0] = from_bits(0x7fc00001);     /* NaN with a payload */
    c->data[1] = from_bits(0xffffffff);     /* negative NaN */
    c->data[2] = from_bits(0x80000000);     /* -0 */
    c->data[3] = from_bits(0x00000001);     /* smallest denormal */
    Value *in = ir_add_input(g, "x", c->type);
    Value *ins[2] = {in, c};
    ir_add_output(g, ir_add_op(g, OP_MUL, ins, 2, "m", c->type, (Loc){0})->result);
    char *text = print_text(g, false);
    Graph *back = parse_text(text);
    cr_assert_not_null(back, "%s", test_messages());
    float *d = ir_find_value(back, "c")->data;
    for (int i = 0; i < N; i++)
        cr_assert_eq(to_bits(d[i]), to_bits(c->data[i]), "element %d", i);
}

Test(parse, decimal_floats_bit_exact)
{
    float values[] = {0.1f, -0.0f, INFINITY, -INFINITY, 1e-45f, 3.4028235e38f, 16777216.0f,
                      1.0f / 3.0f, 1e-40f, 1.17549435e-38f, 0.3f, 2.7182817f, -1e-30f};
    int n = sizeof values / sizeof values[0];
    Graph *g = ir_graph_new(arena, "f");
    int64_t dims[1] = {n};
    ir_add_output(g, ir_add_const(g, "c", type_make(1, dims), values));
    Graph *back = parse_text(print_text(g, false));
    cr_assert_not_null(back, "%s", test_messages());
    for (int i = 0; i < n; i++)
        cr_assert_eq(to_bits(ir_find_value(back, "c")->data[i]), to_bits(values[i]), "element %d", i);
}

Test(parse, hand_written_text)
{
    const char *text =
        "# a comment line\n"
        "xir 1   # trailing comment\n"
        "graph @g {\n"
        "  input %x : f32[1,2]\n"
        "  const %s : f32[] = [3]\n"
        "  const %e : f32[0] = []\n"
        "  %y : f32[1,2] = mul(%x, %s) loc(\"Mul\" #-1)\n"
        "  %z : f32[1,2] = leakyrelu(%y) { alpha = 1e-2 }\n"
        "  output %z\n"
        "  output %x\n"
        "}\n"
        "# the end\n";
    Graph *g = parse_text(text);
    cr_assert_not_null(g, "%s", test_messages());
    cr_assert_eq(g->n_inputs, 1);
    cr_assert_eq(g->n_outputs, 2);
    cr_assert_eq(ir_find_value(g, "s")->type.rank, 0);
    cr_assert_float_eq(ir_find_value(g, "s")->data[0], 3.0f, 0);
    const Op *mul = g->ops[0], *lrelu = g->ops[1];
    cr_assert_str_eq(mul->loc.node, "Mul");
    cr_assert_eq(mul->loc.node_index, -1);
    cr_assert_eq(mul->loc.line, 7);
    cr_assert_eq(mul->loc.col, 3);
    cr_assert_null(lrelu->loc.node);
    cr_assert_str_eq(lrelu->loc.file, "bad.xir");
    cr_assert_eq(lrelu->loc.line, 8);
    cr_assert_eq(lrelu->loc.col, 3);
    cr_assert_eq(lrelu->attrs[0].kind, ATTR_FLOAT);
    cr_assert_float_eq(lrelu->attrs[0].f, 0.01f, 0);
}

Test(parse, many_values_and_big_lists)
{
    /* 2000 chained ops exercise the name table's growth. */
    char *text = arena_strdup(arena, "xir 1\ngraph @chain {\n  input %v0 : f32[2]\n");
    for (int i = 1; i <= 2000; i++)
        text = arena_printf(arena, "%s  %%v%d : f32[2] = relu(%%v%d)\n", text, i, i - 1);
    text = arena_printf(arena, "%s  output %%v2000\n}\n", text);
    Graph *g = parse_text(text);
    cr_assert_not_null(g, "%s", test_messages());
    cr_assert_eq(g->n_ops, 2000);
    cr_assert_str_eq(print_text(g, false), text);
}

/* ---- parser diagnostics ---- */

#define HEAD "xir 1\ngraph @g {\n  input %x : f32[2]\n"

Test(parse, error_header_and_version)
{
    expect_diag("graph @g {\n}\n", "bad.xir:1:1: error: expected the header 'xir 1'");
    expect_diag("", "bad.xir:1:1: error: expected the header 'xir 1'");
    expect_diag("xir 2\ngraph @g {\n}\n", "bad.xir:1:5: error: unsupported xir version 2");
    expect_diag("xir 1\ngraph g {\n}\n", "bad.xir:2:7: error: expected a graph name like @main, found 'g'");
}

Test(parse, error_unknown_op)
{
    expect_diag(HEAD "  %y : f32[2] = frob(%x)\n  output %y\n}\n", "bad.xir:4:17: error: unknown op 'frob'");
    /* The broken %y is not reported again where it is used. */
    cr_expect_eq(diags.n_errors, 1, "%s", test_messages());
}

Test(parse, error_every_undefined_value)
{
    expect_diag(HEAD "  %y : f32[2] = add(%x, %a)\n  %z : f32[2] = add(%b, %y)\n  output %c\n}\n",
                "bad.xir:4:25: error: undefined value %a");
    const char *all = test_messages();
    cr_expect(strstr(all, "bad.xir:5:21: error: undefined value %b"), "%s", all);
    cr_expect(strstr(all, "bad.xir:6:10: error: undefined value %c"), "%s", all);
    cr_expect_eq(diags.n_errors, 3, "%s", all);
}

Test(parse, error_redefined_value)
{
    expect_diag(HEAD "  %x : f32[2] = relu(%x)\n}\n",
                "bad.xir:4:3: error: redefinition of value %x (first defined on line 3)");
    expect_diag(HEAD "  input %x : f32[3]\n}\n", "bad.xir:4:9: error: redefinition of value %x");
}

Test(parse, error_constant_element_count)
{
    expect_diag(HEAD "  const %c : f32[2,2] = [1.0, 2.0, 3.0]\n}\n",
                "bad.xir:4:25: error: constant %c has 3 elements, but its type f32[2,2] has 4");
    expect_diag(HEAD "  const %c : f32[] = []\n}\n", "bad.xir:4:22: error: constant %c has 0 elements");
    /* 2^32 elements declared, one given: reported, nothing huge allocated. */
    expect_diag(HEAD "  const %c : f32[65536,65536] = [1]\n}\n",
                "bad.xir:4:33: error: constant %c has 1 elements, but its type f32[65536,65536] has 4294967296");
    cr_expect_lt(arena_bytes(arena), (size_t)1 << 24);
    /* 2 floats need 16 hex digits. */
    expect_diag(HEAD "  const %c : f32[2] = hex\"0000803f\"\n}\n",
                "bad.xir:4:23: error: hex constant %c has 8 digits, but its type f32[2] needs 16");
}

Test(parse, error_malformed_numbers)
{
    expect_diag(HEAD "  const %c : f32[2] = [1.2.3, 4]\n}\n", "bad.xir:4:24: error: malformed number '1.2.3'");
    expect_diag(HEAD "  const %c : f32[1] = [0x10]\n}\n", "bad.xir:4:24: error: malformed number '0x10'");
    expect_diag(HEAD "  const %c : f32[1] = [1e39]\n}\n", "bad.xir:4:24: error: number '1e39' out of float32 range");
    expect_diag(HEAD "  const %c : f32[1] = hex\"0000g03f\"\n}\n",
                "bad.xir:4:31: error: invalid hex digit 'g' in constant");
    expect_diag(HEAD "  const %c : f32[2x] = [1]\n}\n", "bad.xir:4:18: error: malformed integer '2x'");
    expect_diag(HEAD "  const %c : f32[99999999999999999999] = [1]\n}\n", "bad.xir:4:18: error: integer '99999999999999999999' out of range");
    expect_diag(HEAD "  %y : f32[2] = relu(%x) {alpha = 1..0}\n}\n", "bad.xir:4:35: error: malformed number '1..0'");
}

Test(parse, error_strings)
{
    expect_diag(HEAD "  %y : f32[2] = relu(%x) loc(\"Relu_0 #0)\n  output %y\n}\n",
                "bad.xir:4:30: error: unterminated string");
    expect_diag(HEAD "  %\"y : f32[2] = relu(%x)\n}\n", "bad.xir:4:3: error: unterminated string");
    expect_diag(HEAD "  const %c : f32[1] = hex\"0000\n}\n", "bad.xir:4:23: error: unterminated hex string");
    expect_diag(HEAD "  %y : f32[2] = relu(%x) loc(\"a\\qb\" #0)\n}\n", "bad.xir:4:32: error: unknown escape '\\q'");
    expect_diag(HEAD "  %\"a\\x00\" : f32[2] = relu(%x)\n}\n", "bad.xir:4:6: error: \\x00 is not allowed");
    static const char nul[] = HEAD "  %\"a\0b\" : f32[2] = relu(%x)\n}\n";
    diags_init(&diags, arena);
    cr_expect_null(ir_parse(arena, "bad.xir", nul, sizeof nul - 1, &diags));
    cr_expect(strstr(test_messages(), "bad.xir:4:6: error: NUL byte in string"), "%s", test_messages());
}

Test(parse, error_elided_constant)
{
    expect_diag(HEAD "  const %w : f32[2] = elided\n}\n",
                "bad.xir:4:23: error: constant %w is elided: this text was printed for reading");
}

Test(parse, error_type_mismatch_reported_by_verifier)
{
    expect_diag(HEAD "  %y : f32[3] = relu(%x)\n  output %y\n}\n",
                "bad.xir:4:3: error: %y is declared f32[3] but relu gives f32[2]");
    expect_diag(HEAD "  %y : f32[3] = relu(%x) loc(\"Relu_7\" #7)\n  output %y\n}\n",
                "bad.xir:4:3: node 'Relu_7' (#7): error: %y is declared f32[3] but relu gives f32[2]");
    expect_diag(HEAD "  %y : f32[2] = relu(%x, %x)\n  output %y\n}\n", "bad.xir:4:3: error: relu takes 1 operand, not 2");
    expect_diag(HEAD "  %y : f32[2] = conv(%x, %x) {strides = 1}\n  output %y\n}\n",
                "bad.xir:4:3: error: conv attribute 'strides' must be a list of ints, not an int");
}

Test(parse, error_structure)
{
    expect_diag(HEAD "  %y : f32[2] = relu(%x)\n  input %w : f32[2]\n}\n",
                "bad.xir:5:3: error: input after ops: lines must come in the order inputs, constants, ops, outputs");
    expect_diag(HEAD "  output %x\n  const %c : f32[1] = [1]\n}\n", "bad.xir:5:3: error: constant after outputs");
    expect_diag(HEAD "  output %x output %x\n}\n", "bad.xir:4:13: error: expected end of line, found 'output'");
    expect_diag(HEAD "  output %x\n", "bad.xir:5:1: error: expected '}', found end of file");
    expect_diag(HEAD "}\n}\n", "bad.xir:5:1: error: expected end of file after the graph's '}', found '}'");
    expect_diag(HEAD "  %y : x64[2] = relu(%x)\n}\n", "bad.xir:4:8: error: expected a type like f32[1,3] or i64[2], found 'x64'");
    expect_diag(HEAD "  %y : f32[1,1,1,1,1,1,1,1,1] = relu(%x)\n}\n", "bad.xir:4:28: error: type has more than 8 dimensions");
    expect_diag(HEAD "  %y : f32[2] = relu(%x) {a = 1, a = 2}\n}\n", "bad.xir:4:34: error: duplicate attribute 'a'");
    expect_diag(HEAD "  ~\n}\n", "bad.xir:4:3: error: unexpected character '~'");
    expect_diag(HEAD "  %y : f32[2] = relu(%x) loc(\"a\" #1x)\n}\n", "bad.xir:4:34: error: malformed node index '#1x'");
    /* an index past an int was once truncated to another node's */
    expect_diag(HEAD "  %y : f32[2] = relu(%x) loc(\"a\" #9999999999)\n  output %y\n}\n",
                "bad.xir:4:34: error: malformed node index '#9999999999'");
}

Test(parse, error_recovery_goes_on_to_later_lines)
{
    expect_diag(HEAD "  %y : f32[2] = relu(%x\n  %z : f32[2] = frob(%y)\n  const %c : f32[1] = [1, 2]\n}\n",
                "bad.xir:5:3: error: expected ',' or ')', found %z");
    const char *all = test_messages();
    cr_expect(strstr(all, "bad.xir:5:17: error: unknown op 'frob'"), "%s", all);
    cr_expect(strstr(all, "bad.xir:6:23: error: constant %c has 2 elements"), "%s", all);
}

Test(parse, too_many_errors_stop)
{
    char *text = arena_strdup(arena, HEAD);
    for (int i = 0; i < 200; i++)
        text = arena_printf(arena, "%s  %%y%d : f32[2] = relu(%%nope)\n", text, i);
    expect_diag(arena_printf(arena, "%s}\n", text), "too many errors, giving up");
    cr_expect_leq(diags.n_errors, 52);
    cr_expect_eq(count_lines_with(test_messages(), "undefined value %nope"), 50);
}

/* Every prefix and many one-byte corruptions of a valid file: no crash, and a
 * prefix short of the closing brace never parses. */
Test(parse, never_crashes_on_damaged_text)
{
    Graph *g = tiny_graph();
    char *text = print_text(g, false);
    size_t len = strlen(text);
    for (size_t cut = 0; cut < len; cut++) {
        diags_init(&diags, arena);
        Graph *part = ir_parse(arena, "cut.xir", text, cut, &diags);
        if (cut < len - 2)
            cr_assert_null(part, "prefix of %zu bytes parsed", cut);
        cr_assert(part || diags.n_errors > 0);
    }
    const char noise[] = "%@\"#[]{}(),:=\\x0-.e\n \x01\xff";
    char *copy = malloc(len + 1);
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t k = 0; k < sizeof noise - 1; k += 3) {
            memcpy(copy, text, len + 1);
            copy[pos] = noise[(k + pos) % (sizeof noise - 1)];
            diags_init(&diags, arena);
            Graph *damaged = ir_parse(arena, "noise.xir", copy, len, &diags);
            cr_assert(damaged || diags.n_errors > 0);
        }
    }
    free(copy);
}

Test(parse, files)
{
    diags_init(&diags, arena);
    cr_assert_null(ir_parse_file(arena, "/nonexistent/x.xir", &diags));
    cr_assert(strstr(test_messages(), "/nonexistent/x.xir: error: cannot open: No such file or directory"),
              "%s", test_messages());
    diags_init(&diags, arena);
    cr_assert_null(ir_parse_file(arena, "/tmp", &diags));
    cr_assert(strstr(test_messages(), "/tmp: error: cannot read: is a directory"), "%s", test_messages());

    char path[] = "/tmp/test_ir_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    char *text = print_text(tiny_graph(), false);
    fputs(text, f);
    fclose(f);
    diags_init(&diags, arena);
    Graph *g = ir_parse_file(arena, path, &diags);
    cr_assert_not_null(g, "%s", test_messages());
    cr_assert_str_eq(print_text(g, false), text);
    cr_assert_str_eq(g->ops[1]->loc.file, path);

    f = fopen(path, "w");
    fclose(f);
    diags_init(&diags, arena);
    cr_assert_null(ir_parse_file(arena, path, &diags));
    cr_assert(strstr(test_messages(), ":1:1: error: expected the header 'xir 1'"), "%s", test_messages());
    unlink(path);
}

/* ---- verifier ---- */

static void expect_verify(const Graph *g, const char *message)
{
    diags_init(&diags, arena);
    bool ok = ir_verify(g, &diags);
    const char *all = test_messages();
    cr_expect_not(ok, "verifier accepted the graph, expected: %s", message);
    cr_expect(strstr(all, message), "expected\n  %s\ngot\n%s", message, all);
}

Test(verify, accepts_valid)
{
    cr_assert(ir_verify(tiny_graph(), &diags), "%s", test_messages());
}

Test(verify, dead_op)
{
    Graph *g = tiny_graph();
    g->ops[1]->dead = true;
    expect_verify(g, "error: dead relu op left in the graph");
}

Test(verify, use_before_definition)
{
    Graph *g = tiny_graph();
    Op *tmp = g->ops[0];
    g->ops[0] = g->ops[1];
    g->ops[1] = tmp;
    expect_verify(g, "error: operand %y of %z is used before it is defined");
}

Test(verify, arity_and_attributes)
{
    Graph *g = tiny_graph();
    g->ops[0]->n_inputs = 1;
    expect_verify(g, "m.onnx: node 'Gemm_0' (#0): error: gemm takes 2 to 3 operands, not 1");

    g = tiny_graph();
    ir_set_floats(g, g->ops[0], "transA", NULL, 0);
    expect_verify(g, "gemm attribute 'transA' must be an int, not a list of floats");

    g = tiny_graph();
    Value *z = ir_find_value(g, "z");
    ir_add_output(g, ir_add_op(g, OP_RESHAPE, &z, 1, "r", ty(1, 3, 0, 0, 0), (Loc){0})->result);
    expect_verify(g, "reshape needs the attribute 'shape'");

    g = tiny_graph();
    Attr *attrs = arena_array(arena, 2, sizeof(Attr));
    attrs[0] = (Attr){.name = "b", .kind = ATTR_INT};
    attrs[1] = (Attr){.name = "a", .kind = ATTR_INT};
    g->ops[1]->attrs = attrs;
    g->ops[1]->n_attrs = 2;
    expect_verify(g, "relu's attributes are not sorted by name or repeat ('a')");
}

Test(verify, names_types_constants_outputs)
{
    Graph *g = tiny_graph();
    ir_find_value(g, "b")->name = "w";
    expect_verify(g, "error: value name %w is used more than once");

    g = tiny_graph();
    ir_find_value(g, "w")->data = NULL;
    expect_verify(g, "error: constant %w has no data");

    g = tiny_graph();
    ir_find_value(g, "z")->type = ty(2, 3, 1, 0, 0);
    expect_verify(g, "error: %z is declared f32[3,1] but relu gives f32[1,3]");

    g = tiny_graph();
    ir_find_value(g, "x")->type.dims[1] = -4;
    expect_verify(g, "error: value %x has dimension -4 out of range");

    g = tiny_graph();
    Graph *other = tiny_graph();
    ir_add_output(g, other->values[0]);
    expect_verify(g, "error: graph output #1 is not a value of this graph");

    g = tiny_graph();
    g->ops[1]->inputs[0] = other->values[3];
    expect_verify(g, "error: operand 0 of %z is not a value of this graph");

    g = tiny_graph();
    g->n_ops = 1;   /* relu dropped without ir_compact: %z has no op */
    expect_verify(g, "error: %z comes from an op that is not in the graph");
}

/* A layer is named by its ONNX node, unless another live op has that node
 * name or it has none: then by its result; a long name is elided in the middle. */
Test(names, layer_name_node_or_result)
{
    Graph *g = parse_text("xir 1\ngraph @g {\n"
                          "  input %x : f32[4]\n"
                          "  %a : f32[4] = relu(%x) loc(\"/block/Relu\" #0)\n"
                          "  %b : f32[4] = relu(%a) loc(\"/twice\" #1)\n"
                          "  %c : f32[4] = relu(%b) loc(\"/twice\" #2)\n"
                          "  %d : f32[4] = relu(%a) loc(\"\" #3)\n"
                          "  %e : f32[4] = relu(%a)\n"
                          "  output %c\n  output %d\n  output %e\n"
                          "}\n");
    cr_assert(g, "%s", diags.first ? diags.first->text : "");
    cr_expect_str_eq(ir_layer_name(g, g->ops[0]), "/block/Relu");
    cr_expect_str_eq(ir_layer_name(g, g->ops[1]), "b");
    cr_expect_str_eq(ir_layer_name(g, g->ops[2]), "c");
    cr_expect_str_eq(ir_layer_name(g, g->ops[3]), "d");
    cr_expect_str_eq(ir_layer_name(g, g->ops[4]), "e");
    g->ops[1]->dead = true;     /* the other "/twice" gone: the name is unique again */
    cr_expect_str_eq(ir_layer_name(g, g->ops[2]), "/twice");
    cr_expect_str_eq(ir_name_fit(arena, "/features/features.1/conv", 40), "/features/features.1/conv");
    const char *fit = ir_name_fit(arena, "/features/features.1/conv/conv.0/Conv", 20);
    cr_expect_eq(strlen(fit), 20);
    cr_expect_str_eq(fit, "/features..nv.0/Conv");     /* 9 + 2 + 9 */
}
