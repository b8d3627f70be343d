/* test_program.c: the program file's writer, reader and explain listing.
 *
 * The reference is a small program built here by hand: one 2x2 convolution of a
 * 4x4 image cut into two row blocks on two tiles, then a relu and a concat of
 * three inputs, so it has one instruction of every opcode.  Round trips compare
 * every field against the program in memory (not against a captured file).
 * Broken files are made two ways: by breaking the program in memory (the writer
 * writes what it is given) and by patching bytes at offsets computed from
 * docs/program-format.md; each must be refused with the message that names the
 * problem.  The fuzz tests cut and flip bytes of a valid file and only ask that
 * the reader answers (a program or errors) without crashing: run under ASan. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/program.h"

static Arena *arena;
static Diags diags;
static char dir[64];

static void setup(void)
{
    arena = arena_new();
    diags_init(&diags, arena);
    strcpy(dir, "/tmp/test_program.XXXXXX");
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    const char *names[] = {"a.xbp", "b.xbp", "fuzz.xbp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(arena_printf(arena, "%s/%s", dir, names[i]));
    rmdir(dir);
    arena_free(arena);
}

TestSuite(program, .init = setup, .fini = teardown);

static const char *path_in_dir(const char *name) { return arena_printf(arena, "%s/%s", dir, name); }

/* ---- the hand-built program ---- */

enum { B_X, B_BIAS, B_XQ, B_COLS, B_MVM, B_ACC, B_Y, B_RELU, B_CAT, N_BUFFERS };

static Value *value_of(Program *p, int id)
{
    Value *v = arena_alloc(arena, sizeof *v);
    v->id = id;
    v->name = p->buffers[id].name;
    v->type = p->buffers[id].type;
    return v;
}

static Instr *instr(Program *p, int i, Opcode opcode, int dst, int src0, int src1, const char *layer)
{
    Instr *in = &p->instrs[i];
    in->opcode = opcode;
    in->dst = dst;
    in->src[0] = src0, in->src[1] = src1, in->src[2] = -1;
    in->layer = layer;
    return in;
}

static void set_buffer(Program *p, int id, const char *name, BufferKind kind, bool wide, int rank, ...)
{
    Buffer *b = &p->buffers[id];
    b->name = name;
    b->kind = kind;
    b->wide = wide;
    b->type.rank = rank;
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++)
        b->type.dims[i] = va_arg(ap, int);
    va_end(ap);
}

static void set_mvm(Instr *in, int tile, int src_col, bool float_mode)
{
    in->mvm = (MvmParams){.tile = tile, .tile_row = 0, .tile_col = 0, .rows = 2, .src_col = src_col,
                          .phys_cols = 16, .out_cols = 8, .dac_bits = 1, .in_bits = 8, .in_signed = false,
                          .sign = SIGN_PAIR_ANALOG, .adc_bits = 4, .adc_max = 7.0f, .float_mode = float_mode,
                          .row_begin = 0, .row_end = 9};
}

static void set_combine(Instr *in, bool accumulate, bool float_mode)
{
    in->combine = (CombineParams){.group = 0, .n0 = 0, .n_cols = 2, .n_per_group = 2, .slices = 4,
                                  .cell_bits = 2, .sign = SIGN_PAIR_ANALOG, .accumulate = accumulate,
                                  .float_mode = float_mode, .offset_scale = float_mode ? 0.75f : 0.0f,
                                  .row_begin = 0, .row_end = 9};
}

/* x[1,1,4,4] -> quant -> im2col [9,4] -> two row blocks (tiles 0 and 1) into a
 * wide accumulator [9,2] -> dequant y[1,2,3,3] -> relu -> concat(relu, y, relu). */
static Program *make_program(bool float_weights)
{
    Program *p = arena_alloc(arena, sizeof *p);
    p->arena = arena;
    p->arch = arch_default();
    p->arch.rows = 8, p->arch.cols = 16;
    p->arch.adc_bits = 6, p->arch.sign = SIGN_PAIR_ANALOG, p->arch.tiles = 4;
    p->float_weights = float_weights;

    p->n_buffers = N_BUFFERS;
    p->buffers = arena_array(arena, N_BUFFERS, sizeof(Buffer));
    set_buffer(p, B_X, "input", BUF_INPUT, false, 4, 1, 1, 4, 4);
    set_buffer(p, B_BIAS, "conv.bias", BUF_CONST, false, 1, 2);
    set_buffer(p, B_XQ, "conv.codes", BUF_TEMP, false, 4, 1, 1, 4, 4);
    set_buffer(p, B_COLS, "conv.cols", BUF_TEMP, false, 2, 9, 4);
    set_buffer(p, B_MVM, "conv.read", BUF_TEMP, false, 2, 9, 8);
    set_buffer(p, B_ACC, "conv.acc", BUF_TEMP, true, 2, 9, 2);
    set_buffer(p, B_Y, "conv", BUF_TEMP, false, 4, 1, 2, 3, 3);
    set_buffer(p, B_RELU, "relu \"quoted\" name", BUF_TEMP, false, 4, 1, 2, 3, 3);
    set_buffer(p, B_CAT, "out", BUF_OUTPUT, false, 4, 1, 6, 3, 3);
    p->buffers[B_BIAS].data = arena_array(arena, 2, sizeof(float));
    p->buffers[B_BIAS].data[0] = 0.125f, p->buffers[B_BIAS].data[1] = -3.0e-7f;

    p->n_tiles = 2;
    p->tiles = arena_array(arena, 2, sizeof(Tile));
    for (int t = 0; t < 2; t++) {
        p->tiles[t].rows = 8, p->tiles[t].cols = 16;
        p->tiles[t].cells = arena_array(arena, 8 * 16, sizeof(float));
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 16; c++)
                p->tiles[t].cells[r * 16 + c] = float_weights ? 0.5f * (float)(c - 7) + 0.01f * (float)t
                                                              : (float)((r * 7 + c * 3 + t) % 4);
    }

    p->n_instrs = 9;
    p->instrs = arena_array(arena, 9, sizeof(Instr));
    Instr *in = instr(p, 0, INSTR_QUANT, B_XQ, B_X, -1, "conv");
    in->quant = (QuantParams){.scale = 0.0078125f, .bits = 8, .is_signed = false, .float_mode = float_weights};
    in = instr(p, 1, INSTR_IM2COL, B_COLS, B_XQ, -1, "conv");
    in->im2col = (Im2colParams){.spatial = 2, .batch = 1, .channels = 1, .group = 1, .in = {4, 4},
                                .kernel = {2, 2}, .out = {3, 3}, .strides = {1, 1}, .dilations = {1, 1}};
    set_mvm(instr(p, 2, INSTR_MVM, B_MVM, B_COLS, -1, "conv"), 0, 0, float_weights);
    set_combine(instr(p, 3, INSTR_COMBINE, B_ACC, B_MVM, -1, "conv"), false, float_weights);
    set_mvm(instr(p, 4, INSTR_MVM, B_MVM, B_COLS, -1, "conv"), 1, 2, float_weights);
    set_combine(instr(p, 5, INSTR_COMBINE, B_ACC, B_MVM, -1, "conv"), true, float_weights);
    in = instr(p, 6, INSTR_DEQUANT, B_Y, B_ACC, B_BIAS, "conv");
    in->dequant = (DequantParams){.conv = true, .batch = 1, .channels = 2, .pixels = 9};
    if (!float_weights) {
        in->dequant.out_scale = arena_array(arena, 2, sizeof(float));
        in->dequant.out_scale[0] = 1.5e-3f, in->dequant.out_scale[1] = 2.25e-3f;
    }

    Graph *g = ir_graph_new(arena, "attrs");   /* only lends ir_set_* its arena */
    Value *relu_in = value_of(p, B_Y);
    in = instr(p, 7, INSTR_DIGITAL, B_RELU, B_Y, -1, NULL);
    in->op = arena_alloc(arena, sizeof(Op));
    *in->op = (Op){.kind = OP_RELU, .n_inputs = 1, .inputs = arena_array(arena, 1, sizeof(Value *)),
                   .result = value_of(p, B_RELU), .loc = {.node = "Relu_3", .node_index = 3, .node_op = "Relu"}};
    in->op->inputs[0] = relu_in;

    in = instr(p, 8, INSTR_DIGITAL, B_CAT, B_RELU, B_Y, "cat");
    in->src[2] = B_RELU;
    in->op = arena_alloc(arena, sizeof(Op));
    *in->op = (Op){.kind = OP_CONCAT, .n_inputs = 3, .inputs = arena_array(arena, 3, sizeof(Value *)),
                   .result = value_of(p, B_CAT)};
    in->op->inputs[0] = in->op->inputs[2] = value_of(p, B_RELU);
    in->op->inputs[1] = value_of(p, B_Y);
    /* axis is what concat reads; the others are carried through untouched and
     * give every attribute kind a round trip. */
    ir_set_int(g, in->op, "axis", 1);
    ir_set_floats(g, in->op, "note_floats", (const float[]){1.5f, -0.0f, 1e30f}, 3);
    ir_set_ints(g, in->op, "note_ints", (const int64_t[]){-1, (int64_t)1 << 40}, 2);
    ir_set_string(g, in->op, "note_text", "a \"string\"");
    ir_set_float(g, in->op, "note_value", 0.1f);
    ir_set_ints(g, in->op, "note_empty", NULL, 0);

    p->n_inputs = 1, p->inputs = arena_array(arena, 1, sizeof(int)), p->inputs[0] = B_X;
    p->n_outputs = 1, p->outputs = arena_array(arena, 1, sizeof(int)), p->outputs[0] = B_CAT;
    return p;
}

/* The same layer replicated twice (docs/crossbar.md 6): replica 0 reads rows
 * 0..4 on tiles 0 and 1, replica 1 rows 4..9 on copies of them, tiles 2 and 3.
 * Instructions: quant, im2col, then per replica mvm, combine (write), mvm,
 * combine (add); dequant, relu, concat. */
static Program *make_replicated_program(void)
{
    Program *base = make_program(false), *p = base;
    p->n_tiles = 4;
    Tile *tiles = arena_array(arena, 4, sizeof(Tile));
    memcpy(tiles, base->tiles, 2 * sizeof(Tile));
    memcpy(tiles + 2, base->tiles, 2 * sizeof(Tile));
    p->tiles = tiles;
    Instr *instrs = arena_array(arena, 13, sizeof(Instr));
    memcpy(instrs, base->instrs, 6 * sizeof(Instr));
    memcpy(instrs + 6, base->instrs + 2, 4 * sizeof(Instr));
    memcpy(instrs + 10, base->instrs + 6, 3 * sizeof(Instr));
    for (int k = 2; k < 10; k++) {
        int64_t begin = k < 6 ? 0 : 4, end = k < 6 ? 4 : 9;
        if (instrs[k].opcode == INSTR_MVM) {
            instrs[k].mvm.row_begin = begin, instrs[k].mvm.row_end = end;
            instrs[k].mvm.tile += k < 6 ? 0 : 2;
        } else {
            instrs[k].combine.row_begin = begin, instrs[k].combine.row_end = end;
        }
    }
    p->instrs = instrs;
    p->n_instrs = 13;
    return p;
}

/* Sets the rows of instruction k (an mvm or a combine). */
static void set_rows(Program *p, int k, int64_t begin, int64_t end)
{
    if (p->instrs[k].opcode == INSTR_MVM)
        p->instrs[k].mvm.row_begin = begin, p->instrs[k].mvm.row_end = end;
    else
        p->instrs[k].combine.row_begin = begin, p->instrs[k].combine.row_end = end;
}

/* ---- comparing programs field by field ---- */

static void expect_same_string(const char *a, const char *b, const char *what)
{
    cr_expect((a == NULL) == (b == NULL), "%s: one is NULL", what);
    if (a && b)
        cr_expect_str_eq(a, b, "%s", what);
}

static void expect_same_bits(const float *a, const float *b, int64_t n, const char *what)
{
    cr_expect(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "%s differ", what);
}

static void expect_same_op(const Op *a, const Op *b, const Program *read)
{
    cr_expect_eq(a->kind, b->kind);
    cr_expect_eq(a->n_inputs, b->n_inputs);
    for (int i = 0; i < a->n_inputs && i < b->n_inputs; i++) {
        cr_expect_eq(a->inputs[i]->id, b->inputs[i]->id);
        cr_expect(type_equal(&b->inputs[i]->type, &read->buffers[b->inputs[i]->id].type));
    }
    cr_expect_eq(a->result->id, b->result->id);
    cr_expect(type_equal(&b->result->type, &read->buffers[b->result->id].type));
    cr_expect_eq(b->result->def, b);
    expect_same_string(a->loc.node, b->loc.node, "op node");
    expect_same_string(a->loc.node_op, b->loc.node_op, "op node type");
    cr_expect_eq(a->loc.node_index, b->loc.node_index);
    cr_expect_eq(a->n_attrs, b->n_attrs);
    for (int i = 0; i < a->n_attrs && i < b->n_attrs; i++) {
        const Attr *x = &a->attrs[i], *y = &b->attrs[i];
        cr_expect_str_eq(x->name, y->name);
        cr_expect_eq(x->kind, y->kind, "attribute %s", x->name);
        cr_expect_eq(x->i, y->i);
        cr_expect(memcmp(&x->f, &y->f, sizeof x->f) == 0);
        cr_expect_eq(x->count, y->count, "attribute %s", x->name);
        if (x->kind == ATTR_INTS && x->count == y->count)
            cr_expect(memcmp(x->ints, y->ints, (size_t)x->count * sizeof(int64_t)) == 0);
        if (x->kind == ATTR_FLOATS && x->count == y->count)
            expect_same_bits(x->floats, y->floats, x->count, x->name);
        if (x->kind == ATTR_STRING)
            cr_expect_str_eq(x->s, y->s);
    }
}

static void expect_same_instr(const Instr *a, const Instr *b, const Program *read)
{
    cr_expect_eq(a->opcode, b->opcode);
    cr_expect_eq(a->dst, b->dst);
    for (int k = 0; k < 3; k++)
        cr_expect_eq(a->src[k], b->src[k]);
    expect_same_string(a->layer, b->layer, "layer");
    switch (a->opcode) {
    case INSTR_QUANT:
        cr_expect_eq(a->quant.scale, b->quant.scale);
        cr_expect_eq(a->quant.bits, b->quant.bits);
        cr_expect_eq(a->quant.is_signed, b->quant.is_signed);
        cr_expect_eq(a->quant.float_mode, b->quant.float_mode);
        break;
    case INSTR_IM2COL: {
        const Im2colParams *x = &a->im2col, *y = &b->im2col;
        cr_expect_eq(x->spatial, y->spatial);
        cr_expect(x->batch == y->batch && x->channels == y->channels && x->group == y->group);
        for (int i = 0; i < 3; i++)
            cr_expect(x->in[i] == y->in[i] && x->kernel[i] == y->kernel[i] && x->out[i] == y->out[i] &&
                      x->strides[i] == y->strides[i] && x->dilations[i] == y->dilations[i]);
        for (int i = 0; i < 6; i++)
            cr_expect_eq(x->pads[i], y->pads[i]);
        break;
    }
    case INSTR_MVM: {
        const MvmParams *x = &a->mvm, *y = &b->mvm;
        cr_expect(x->tile == y->tile && x->tile_row == y->tile_row && x->tile_col == y->tile_col);
        cr_expect(x->rows == y->rows && x->src_col == y->src_col && x->phys_cols == y->phys_cols);
        cr_expect(x->out_cols == y->out_cols && x->dac_bits == y->dac_bits && x->in_bits == y->in_bits);
        cr_expect(x->in_signed == y->in_signed && x->sign == y->sign && x->adc_bits == y->adc_bits);
        cr_expect(x->adc_max == y->adc_max && x->float_mode == y->float_mode);
        cr_expect(x->row_begin == y->row_begin && x->row_end == y->row_end);
        break;
    }
    case INSTR_COMBINE: {
        const CombineParams *x = &a->combine, *y = &b->combine;
        cr_expect(x->group == y->group && x->n0 == y->n0 && x->n_cols == y->n_cols);
        cr_expect(x->n_per_group == y->n_per_group && x->slices == y->slices && x->cell_bits == y->cell_bits);
        cr_expect(x->sign == y->sign && x->accumulate == y->accumulate && x->float_mode == y->float_mode);
        cr_expect_eq(x->offset_scale, y->offset_scale);
        cr_expect(x->row_begin == y->row_begin && x->row_end == y->row_end);
        break;
    }
    case INSTR_DEQUANT: {
        const DequantParams *x = &a->dequant, *y = &b->dequant;
        cr_expect(x->conv == y->conv && x->batch == y->batch && x->channels == y->channels &&
                  x->pixels == y->pixels);
        cr_expect((x->out_scale == NULL) == (y->out_scale == NULL));
        if (x->out_scale && y->out_scale)
            expect_same_bits(x->out_scale, y->out_scale, x->channels, "out_scale");
        break;
    }
    case INSTR_DIGITAL: expect_same_op(a->op, b->op, read); break;
    case INSTR_COUNT: break;
    }
}

static void expect_same_program(const Program *a, const Program *b)
{
    cr_expect(memcmp(&a->arch, &b->arch, sizeof a->arch) == 0 || (a->arch.rows == b->arch.rows &&
              a->arch.cols == b->arch.cols && a->arch.cell_bits == b->arch.cell_bits &&
              a->arch.g_min_us == b->arch.g_min_us && a->arch.g_max_us == b->arch.g_max_us &&
              a->arch.weight_bits == b->arch.weight_bits && a->arch.weight_per_layer == b->arch.weight_per_layer &&
              a->arch.input_bits == b->arch.input_bits && a->arch.dac_bits == b->arch.dac_bits &&
              a->arch.adc_bits == b->arch.adc_bits && a->arch.cols_per_adc == b->arch.cols_per_adc &&
              a->arch.sign == b->arch.sign && a->arch.tiles == b->arch.tiles), "architectures differ");
    cr_expect_eq(a->float_weights, b->float_weights);
    cr_assert_eq(a->n_buffers, b->n_buffers);
    for (int i = 0; i < a->n_buffers; i++) {
        const Buffer *x = &a->buffers[i], *y = &b->buffers[i];
        expect_same_string(x->name, y->name, "buffer name");
        cr_expect(x->kind == y->kind && x->wide == y->wide, "buffer %d", i);
        cr_expect(type_equal(&x->type, &y->type), "buffer %d type", i);
        cr_expect((x->data == NULL) == (y->data == NULL), "buffer %d data", i);
        if (x->data && y->data)
            expect_same_bits(x->data, y->data, type_numel(&x->type), "constant data");
    }
    cr_assert_eq(a->n_tiles, b->n_tiles);
    for (int i = 0; i < a->n_tiles; i++) {
        cr_expect(a->tiles[i].rows == b->tiles[i].rows && a->tiles[i].cols == b->tiles[i].cols);
        /* levels may come back as bytes where floats went out: compare values, bit for bit */
        size_t n = (size_t)a->tiles[i].rows * (size_t)a->tiles[i].cols;
        float *x = arena_array(arena, n, sizeof(float)), *y = arena_array(arena, n, sizeof(float));
        for (size_t k = 0; k < n; k++)
            x[k] = tile_cell(&a->tiles[i], k), y[k] = tile_cell(&b->tiles[i], k);
        expect_same_bits(x, y, (int64_t)n, "tile cells");
        cr_expect(b->float_weights ? b->tiles[i].cells && !b->tiles[i].levels : b->tiles[i].levels != NULL,
                  "tile %d: levels in a quantized program, floats in a float-weight one", i);
    }
    cr_assert_eq(a->n_instrs, b->n_instrs);
    for (int i = 0; i < a->n_instrs; i++)
        expect_same_instr(&a->instrs[i], &b->instrs[i], b);
    cr_assert_eq(a->n_inputs, b->n_inputs);
    cr_assert_eq(a->n_outputs, b->n_outputs);
    for (int i = 0; i < a->n_inputs; i++)
        cr_expect_eq(a->inputs[i], b->inputs[i]);
    for (int i = 0; i < a->n_outputs; i++)
        cr_expect_eq(a->outputs[i], b->outputs[i]);
}

static Program *round_trip(const Program *p)
{
    const char *path = path_in_dir("a.xbp");
    cr_assert(program_write(p, path, &diags), "%s", diags.first ? diags.first->text : "");
    Program *back = program_read(arena, path, &diags);
    if (!back)
        diags_print(&diags, stderr);
    cr_assert(back);
    cr_assert_eq(diags.n_errors, 0);
    return back;
}

Test(program, round_trip_quantized)
{
    Program *p = make_program(false);
    Program *back = round_trip(p);
    expect_same_program(p, back);
    /* One Value per buffer: concat reads relu's result through the same Value. */
    const Op *cat = back->instrs[8].op, *relu = back->instrs[7].op;
    cr_expect_eq(cat->inputs[0], cat->inputs[2]);
    cr_expect_eq(cat->inputs[0], relu->result);
    cr_expect_eq(relu->result->def, relu);
    cr_expect_eq(back->buffers[B_BIAS].data[1], -3.0e-7f);
}

Test(program, round_trip_float_weights)
{
    Program *p = make_program(true);
    Program *back = round_trip(p);
    expect_same_program(p, back);
    cr_expect_null(back->instrs[6].dequant.out_scale);
}

/* A quantized program's levels go out packed at cell_bits (2) bits a cell, a
 * float program's as four bytes: the two 8x16 tiles take 2 x 32 bytes against
 * 2 x 512. */
Test(program, level_tiles_are_packed)
{
    cr_assert(program_write(make_program(false), path_in_dir("a.xbp"), &diags));
    cr_assert(program_write(make_program(true), path_in_dir("b.xbp"), &diags));
    FILE *a = fopen(path_in_dir("a.xbp"), "rb"), *b = fopen(path_in_dir("b.xbp"), "rb");
    fseek(a, 0, SEEK_END), fseek(b, 0, SEEK_END);
    /* float program: 2 x (512 - 32) more cell bytes, 8 fewer (no out_scale floats) */
    cr_expect_eq(ftell(b) - ftell(a), 2 * (512 - 32) - 8);
    fclose(a), fclose(b);
}

Test(program, write_is_atomic)
{
    const char *path = path_in_dir("a.xbp");
    cr_assert(program_write(make_program(false), path, &diags));
    cr_expect_not(program_write(make_program(false), "/nonexistent-dir/p.xbp", &diags));
    cr_expect(strstr(diags.first->text, "/nonexistent-dir/p.xbp: error: cannot write: No such file or directory"));
    /* No temporary is left beside the target. */
    FILE *ls = popen(arena_printf(arena, "ls %s | wc -l", dir), "r");
    int n = 0;
    cr_assert_eq(fscanf(ls, "%d", &n), 1);
    pclose(ls);
    cr_expect_eq(n, 1);
}

/* ---- files broken in memory ---- */

/* Writes p, reads it back and expects a refusal whose messages contain `want`. */
static void expect_refused(const Program *p, const char *want)
{
    const char *path = path_in_dir("b.xbp");
    diags_init(&diags, arena);
    cr_assert(program_write(p, path, &diags));
    cr_expect_null(program_read(arena, path, &diags), "accepted a program that should fail with '%s'", want);
    bool found = false;
    for (const DiagMsg *m = diags.first; m; m = m->next)
        found |= strstr(m->text, want) && strstr(m->text, path);
    if (!found)
        diags_print(&diags, stderr);
    cr_expect(found, "no message with '%s'", want);
}

Test(program, refuses_inconsistent_programs)
{
    Program *p = make_program(false);
    p->instrs[0].dst = B_BIAS;
    expect_refused(p, "instruction 0 (quant): dst buffer 1 'conv.bias' is a constant");

    p = make_program(false);
    p->instrs[2].mvm.tile = 5;
    expect_refused(p, "instruction 2 (mvm): tile 5 does not exist (2 tiles)");

    p = make_program(false);
    p->instrs[4].mvm.tile_row = 7;
    expect_refused(p, "instruction 4 (mvm): rows 7+2 do not fit tile 1's 8 rows");

    p = make_program(false);
    p->instrs[4].mvm.tile_col = 1;
    expect_refused(p, "columns 1+16 do not fit tile 1's 16 columns");

    p = make_program(false);
    p->instrs[6].dequant.batch = 3, p->instrs[6].dequant.pixels = 3;
    expect_refused(p, "instruction 6 (dequant): dst f32[1,2,3,3] does not fit batch 3, channels 2, pixels 3");

    p = make_program(false);
    p->instrs[5].combine.slices = 3;
    expect_refused(p, "instruction 5 (combine): src f32[9,8] does not hold 9 rows of 6 columns");

    p = make_program(false);
    p->instrs[7].src[0] = B_XQ;
    expect_refused(p, "instruction 7 (digital relu): src0 is 2, not the op's input 0");

    p = make_program(false);
    p->instrs[4].mvm.src_col = 3;
    expect_refused(p, "source columns 3+2 do not fit src f32[9,4]");

    p = make_program(false);
    p->instrs[2].mvm.out_cols = 16;
    expect_refused(p, "16 output columns for 16 physical columns under pair-analog");

    p = make_program(false);
    p->buffers[B_ACC].wide = false;
    expect_refused(p, "instruction 3 (combine): dst buffer 5 'conv.acc' must hold float64");

    p = make_program(false);
    p->instrs[1].im2col.out[1] = 4;
    expect_refused(p, "instruction 1 (im2col): axis 1: output extent 4");

    p = make_program(false);
    p->buffers[B_COLS].type.dims[0] = 8;
    expect_refused(p, "dst is f32[8,4], not [9,4]");

    p = make_program(false);
    p->instrs[3].combine.accumulate = true;
    expect_refused(p, "instruction 3 (combine): reads buffer 5 'conv.acc' before anything writes it");

    p = make_program(false);
    p->instrs[6].dequant.pixels = 8;
    expect_refused(p, "instruction 6 (dequant): src f64[9,2] is not 8 rows (batch x pixels) of 2 columns");

    p = make_program(false);
    p->buffers[B_RELU].type.dims[3] = 4;
    expect_refused(p, "instruction 7 (digital relu): dst buffer 7 'relu \"quoted\" name' is f32[1,2,3,4] but "
                      "relu gives f32[1,2,3,3]");

    p = make_program(false);
    p->instrs[8].op->attrs[0].kind = ATTR_FLOAT;    /* concat's axis */
    expect_refused(p, "instruction 8 (digital concat): concat: attribute 'axis' must be an int");

    p = make_program(false);
    p->tiles[1].cells[17] = 4;
    expect_refused(p, "tile 1: cell (1, 1) holds 4, not a level 0..3 (cell_bits 2)");

    p = make_program(false);
    p->tiles[0].cells[3] = 1.5f;
    expect_refused(p, "tile 0: cell (0, 3) holds 1.5");

    p = make_program(false);
    p->instrs[2].mvm.float_mode = true;
    expect_refused(p, "float_mode is 1 in a quantized program");

    p = make_program(false);
    p->outputs[0] = B_RELU;
    expect_refused(p, "output 0 is buffer 7 'relu \"quoted\" name', which is a temporary");

    p = make_program(false);
    p->arch.tiles = 1;
    expect_refused(p, "uses 2 tiles, more than the architecture's 1");
}

Test(program, round_trip_replicated)
{
    Program *p = make_replicated_program();
    Program *back = round_trip(p);
    expect_same_program(p, back);
    cr_expect_eq(back->instrs[6].mvm.row_begin, 4);
    cr_expect_eq(back->instrs[9].combine.row_end, 9);
    /* a replica with no rows (more replicas than pixels) is valid too */
    p = make_replicated_program();
    for (int k = 2; k < 6; k++)
        set_rows(p, k, 0, 9);
    for (int k = 6; k < 10; k++)
        set_rows(p, k, 9, 9);
    expect_same_program(p, round_trip(p));
}

/* Replica row ranges that overlap, leave rows out, run past the source or
 * read rows no mvm wrote: each refused, naming the instruction and rows. */
Test(program, refuses_bad_row_ranges)
{
    Program *p = make_replicated_program();
    set_rows(p, 6, 3, 9), set_rows(p, 7, 3, 9);
    expect_refused(p, "instruction 7 (combine): rows 3..4 of column 0 of buffer 5 'conv.acc' are also written by "
                      "instruction 3: the row ranges of layer conv's replicas overlap");

    p = make_replicated_program();
    for (int k = 6; k < 10; k++)
        set_rows(p, k, 5, 9);
    expect_refused(p, "instruction 7 (combine): no combine writes rows 4..5 of column 0 of buffer 5 'conv.acc': "
                      "the row ranges of layer conv's replicas must cover 0..9");

    p = make_replicated_program();
    for (int k = 6; k < 10; k++)
        set_rows(p, k, 4, 8);
    expect_refused(p, "no combine writes rows 8..9 of column 0 of buffer 5 'conv.acc'");

    p = make_replicated_program();
    set_rows(p, 4, 4, 9), set_rows(p, 5, 4, 9);     /* an add before the write of its rows */
    expect_refused(p, "instruction 5 (combine): adds rows 4..9 of column 0 of buffer 5 'conv.acc', which no "
                      "earlier combine wrote as one range");

    p = make_replicated_program();
    set_rows(p, 3, 0, 5);
    expect_refused(p, "instruction 3 (combine): reads rows 0..5 of buffer 4 'conv.read', but the mvm that wrote "
                      "it wrote rows 0..4");

    p = make_replicated_program();
    set_rows(p, 6, 4, 10);
    expect_refused(p, "instruction 6 (mvm): source rows 4..10 are not a range within 0..9");

    p = make_replicated_program();
    set_rows(p, 7, 5, 4);
    expect_refused(p, "instruction 7 (combine): rows 5..4 are not a range within 0..9");

    p = make_program(false);
    set_rows(p, 2, 0, 0), set_rows(p, 3, 0, 0);     /* the only write of the accumulator is empty */
    expect_refused(p, "instruction 5 (combine): adds rows 0..9");
    set_rows(p, 4, 0, 0), set_rows(p, 5, 0, 0);
    expect_refused(p, "instruction 3 (combine): no combine writes any row of buffer 5 'conv.acc' (layer conv)");
}

Test(program, refuses_bad_buffer_ids)
{
    Program *p = make_program(false);
    p->instrs[6].src[1] = 42;
    expect_refused(p, "instruction 6: src1 42 is not a buffer (there are 9)");
    p = make_program(false);
    p->instrs[8].op->inputs[1] = value_of(p, B_Y);
    p->instrs[8].op->inputs[1]->id = -7;
    expect_refused(p, "instruction 8: a digital input -7 is not a buffer");
}

/* ---- files broken byte by byte ---- */

static unsigned char *file_bytes(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    cr_assert(fp);
    fseek(fp, 0, SEEK_END);
    *size = (size_t)ftell(fp);
    rewind(fp);
    unsigned char *data = arena_alloc(arena, *size + 1);
    cr_assert_eq(fread(data, 1, *size, fp), *size);
    fclose(fp);
    return data;
}

static void put_file(const char *path, const unsigned char *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    cr_assert(fp);
    cr_assert_eq(fwrite(data, 1, size, fp), size);
    fclose(fp);
}

/* Offset of a section's payload: 12 bytes of header after magic and version,
 * then each section's 4-byte tag and 8-byte length (docs/program-format.md). */
static size_t section_at(const unsigned char *data, size_t size, const char *tag)
{
    size_t at = 12;
    while (at + 12 <= size) {
        uint64_t length = 0;
        for (int i = 7; i >= 0; i--)
            length = length << 8 | data[at + 4 + i];
        if (memcmp(data + at, tag, 4) == 0)
            return at + 12;
        at += 12 + length;
    }
    cr_assert_fail("no section %s", tag);
    return 0;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Reads the patched bytes and expects a refusal mentioning `want`. */
static void expect_bytes_refused(const unsigned char *data, size_t size, const char *want)
{
    const char *path = path_in_dir("b.xbp");
    put_file(path, data, size);
    diags_init(&diags, arena);
    cr_expect_null(program_read(arena, path, &diags), "accepted bytes that should fail with '%s'", want);
    cr_assert(diags.first);
    if (!strstr(diags.first->text, want))
        diags_print(&diags, stderr);
    cr_expect(strstr(diags.first->text, want) && strstr(diags.first->text, path), "got '%s', want '%s'",
              diags.first->text, want);
}

/* Every cell width 1..8 packs and unpacks to the same levels, given as bytes or
 * as floats, on a 7 x 17 tile whose last byte has spare bits for odd widths
 * (119 cells); the reference is a plain bit-by-bit reading of the bytes. */
Test(program, packs_every_cell_width)
{
    for (int bits = 1; bits <= 8; bits++) {
        diags_init(&diags, arena);
        Program *p = make_program(false);
        p->arch.cell_bits = bits, p->arch.cols = 17;
        Tile *t = &p->tiles[0];
        t->rows = 7, t->cols = 17;
        t->cells = NULL;
        t->levels = arena_alloc(arena, 7 * 17);
        for (int k = 0; k < 7 * 17; k++)
            t->levels[k] = (uint8_t)((k * 37 + bits * 11 + (k >> 3)) % (1 << bits));
        for (int k = 0; k < 8 * 16; k++)      /* tile 1: floats, all levels */
            p->tiles[1].cells[k] = (float)((k * 5 + 3) % (1 << bits));
        Program *back = round_trip(p);
        expect_same_program(p, back);

        /* the bytes themselves: cell k in bits k*bits.. of a little-endian stream */
        size_t size;
        unsigned char *d = file_bytes(path_in_dir("a.xbp"), &size);
        size_t at = section_at(d, size, "TILE") + 4 + 9;
        cr_expect_eq(d[at - 1], 0, "encoding 0: packed levels");
        for (int k = 0; k < 7 * 17; k++) {
            unsigned v = 0;
            for (int i = 0; i < bits; i++) {
                size_t bit = (size_t)k * bits + (size_t)i;
                v |= (unsigned)((d[at + bit / 8] >> (bit % 8)) & 1) << i;
            }
            cr_expect_eq(v, t->levels[k], "cell_bits %d, cell %d: %u, not %u", bits, k, v, t->levels[k]);
        }
        size_t bytes = (7 * 17 * (size_t)bits + 7) / 8;
        cr_expect_eq(d[at + bytes], 8, "tile 1 follows right after: its rows (8) start at byte %zu", bytes);
        if ((7 * 17 * bits) % 8) {
            d[at + bytes - 1] |= 0x80;
            expect_bytes_refused(d, size, "tile 0: the");
            cr_expect(strstr(diags.first->text, "bits after its last cell are not zero"));
        }
    }
}

/* Packed levels belong to quantized programs only. */
Test(program, refuses_packed_float_tiles)
{
    cr_assert(program_write(make_program(true), path_in_dir("a.xbp"), &diags));
    size_t size;
    unsigned char *d = file_bytes(path_in_dir("a.xbp"), &size);
    size_t tiles = section_at(d, size, "TILE");
    cr_expect_eq(d[tiles + 12], 1, "float cells are f32");
    d[tiles + 12] = 0;
    expect_bytes_refused(d, size, "section tiles: tile 0 holds packed levels in a float-weight program");
}

/* A hand-made level that does not fit cell_bits is refused by the writer. */
Test(program, writer_refuses_wide_levels)
{
    Program *p = make_program(false);
    p->tiles[1].levels = arena_alloc(arena, 8 * 16);
    p->tiles[1].levels[37] = 4;
    const char *path = path_in_dir("a.xbp");
    cr_expect_not(program_write(p, path, &diags));
    cr_expect(diags.first && strstr(diags.first->text, "tile 1 holds a level above 3 (cell_bits 2)"));
    FILE *fp = fopen(path, "rb");
    cr_expect_null(fp, "no file is left behind");
    if (fp)
        fclose(fp);
}

static unsigned char *valid_bytes(size_t *size)
{
    cr_assert(program_write(make_program(false), path_in_dir("a.xbp"), &diags));
    unsigned char *data = file_bytes(path_in_dir("a.xbp"), size);
    unsigned char *copy = arena_alloc(arena, *size + 1);
    memcpy(copy, data, *size);
    return copy;
}

Test(program, refuses_broken_files)
{
    size_t size;
    unsigned char *good = valid_bytes(&size), *d = arena_alloc(arena, size + 16);
#define FRESH() memcpy(d, good, size)

    FRESH(), d[0] = 'Y';
    expect_bytes_refused(d, size, "not an xbarc program");
    expect_bytes_refused(d, 0, "not an xbarc program");

    FRESH(), put_le(d + 8, 2, 4);
    expect_bytes_refused(d, size, "program version 2, this xbarc reads version 1");

    size_t tiles = section_at(good, size, "TILE");
    expect_bytes_refused(good, tiles + 40, "truncated: section tiles needs");
    expect_bytes_refused(good, tiles - 6, "truncated: section tiles needs 12 bytes for its header, 6 left");

    FRESH(), d[size] = 0;
    expect_bytes_refused(d, size + 1, "1 unexpected bytes after the last section");

    size_t buffers = section_at(good, size, "BUFS");
    FRESH(), put_le(d + buffers, 0x7fffffff, 4);
    expect_bytes_refused(d, size, "section buffers: 2147483647 buffers cannot fit");
    /* buffer 0: u32 name, u8 kind, u8 wide, u8 rank, i64 dims... */
    FRESH(), d[buffers + 4 + 6] = 9;
    expect_bytes_refused(d, size, "buffer 0 has rank 9, more than 8");
    FRESH(), put_le(d + buffers + 4 + 7, (uint64_t)-1, 8);
    expect_bytes_refused(d, size, "buffer 0 has dimension -1 out of range");
    FRESH(), d[buffers + 4 + 4] = 7;
    expect_bytes_refused(d, size, "buffer kind 7 is out of range");

    /* instruction 0: u8 opcode first */
    size_t instrs = section_at(good, size, "INST");
    FRESH(), d[instrs + 4] = 9;
    expect_bytes_refused(d, size, "section instructions: opcode 9 is out of range [0, 6)");
    FRESH(), put_le(d + instrs + 4 + 1, 99, 4);
    expect_bytes_refused(d, size, "instruction 0: dst 99 is not a buffer (there are 9)");

    /* the op name "relu" in the strings, spelled otherwise */
    size_t relu = 0;
    while (relu + 8 <= size && memcmp(good + relu, "\4\0\0\0relu", 8) != 0)
        relu++;
    cr_assert(relu + 8 <= size);
    FRESH(), d[relu + 7] = 'y';
    expect_bytes_refused(d, size, "unknown digital op 'rely'");

    size_t arch = section_at(good, size, "ARCH");
    FRESH(), put_le(d + arch + 8, 9, 4);            /* cell_bits */
    expect_bytes_refused(d, size, "field 'cell_bits' must be 1 to 8, not 9");

    FRESH(), put_le(d + section_at(good, size, "FLAG"), 6, 4);
    expect_bytes_refused(d, size, "unknown flags 0x6");

    FRESH(), memcpy(d + buffers - 12, "BUFX", 4);
    expect_bytes_refused(d, size, "expected section buffers ('BUFS') but found 'BUFX'");

    /* an unknown cell encoding in tile 0 (header: u32 count, i32 rows, i32 cols, u8 encoding) */
    FRESH(), d[tiles + 12] = 2;
    expect_bytes_refused(d, size, "section tiles: cell encoding 2 is out of range [0, 2)");

    diags_init(&diags, arena);
    cr_expect_null(program_read(arena, path_in_dir("missing.xbp"), &diags));
    cr_expect(strstr(diags.first->text, "missing.xbp: error: cannot read: No such file or directory"));
    diags_init(&diags, arena);
    cr_expect_null(program_read(arena, dir, &diags));
    cr_expect(strstr(diags.first->text, "cannot read: it is a directory"));
#undef FRESH
}

/* ---- fuzzing: every answer is a program or errors, never a crash ---- */

static void read_fuzzed(const unsigned char *data, size_t size, int *n_accepted)
{
    const char *path = path_in_dir("fuzz.xbp");
    put_file(path, data, size);
    Arena *a = arena_new();
    Diags d;
    diags_init(&d, a);
    Program *p = program_read(a, path, &d);
    cr_assert((p != NULL) == (d.n_errors == 0), "a program with errors, or no program and no error");
    if (p) {
        FILE *null = fopen("/dev/null", "w");
        program_explain(p, null);   /* a program that reads is one explain can list */
        fclose(null);
        ++*n_accepted;
    }
    arena_free(a);
}

Test(program, fuzz_truncated)
{
    size_t size;
    unsigned char *good = valid_bytes(&size);
    int accepted = 0;
    for (size_t n = 0; n < size; n++)
        read_fuzzed(good, n, &accepted);
    cr_expect_eq(accepted, 0, "a truncated file was accepted");
}

Test(program, fuzz_flipped_bytes)
{
    size_t size;
    unsigned char *good = valid_bytes(&size), *d = arena_alloc(arena, size);
    uint64_t state = 0x9e3779b97f4a7c15u;
    int accepted = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(d, good, size);
        for (int k = 0; k <= round % 4; k++) {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;   /* xorshift64 */
            size_t at = (size_t)(state % size);
            d[at] = round % 3 == 0 ? (unsigned char)(state >> 32) : d[at] ^ (unsigned char)(1u << (state >> 40) % 8);
        }
        read_fuzzed(d, size, &accepted);
    }
    /* Flips inside constant data or a level that stays in range still read. */
    cr_expect_gt(accepted, 0);
    cr_expect_lt(accepted, 3000);
}

/* ---- explain ---- */

Test(program, explain_lists_every_part)
{
    Program *p = round_trip(make_program(false));
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    program_explain(p, out);
    fclose(out);
    const char *expected[] = {
        "program: quantized weights",
        "  rows               8\n",
        "  sign               pair-analog\n",
        "  tiles              4\n",
        "buffers (9)",
        "     4  temp    f32[9,8]      conv.read\n",
        "     5  temp    f64[9,2]      conv.acc\n",
        "     1  const   f32[2]        conv.bias\n",
        "tiles (2)",
        /* block 2 rows x 16 columns; levels (r*7 + c*3 + t) % 4, zero for 8 of 32 cells */
        "     0  8x16              32         24  conv\n",
        "instructions (9)",
        "      0  quant        2      0      -      -  scale=0.0078125 bits=8 unsigned",
        "      1  im2col       3      2      -      -  n=1 c=1 g=1 in=4x4 k=2x2 s=1x1 d=1x1 pads=0,0,0,0 out=3x3",
        "      4  mvm          4      3      -      -  tile=1 rows=0+2 cols=0+16 src_col=2 out=8 cycles=8 dac=1b "
        "adc=4b/7 sign=pair-analog",
        "      5  combine      5      4      -      -  g=0 n=0+2/2 slices=4x2b sign=pair-analog add",
        "      6  dequant      6      5      1      -  conv n=1 c=2 pixels=9 scale=0.0015..0.00225",
        "      7  digital      7      6      -      -  relu",
        "      8  digital      8      7      6      7  concat axis=1 note_empty=[] note_floats=[1.5,-0,1e+30] "
        "note_ints=[-1,1099511627776] note_text=\"a \\\"string\\\"\" note_value=0.1",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        cr_expect(strstr(text, expected[i]), "missing:\n%s\nin:\n%s", expected[i], text);
    cr_expect_null(strstr(text, " pixels=0.."), "rows shown for an unreplicated layer");
    /* The layer column is aligned: "conv" ends the mvm row after padding, "-" the relu row. */
    const char *mvm_row = strstr(text, "      2  mvm");
    const char *relu_row = strstr(text, "      7  digital");
    cr_assert(mvm_row && relu_row);
    const char *mvm_end = strchr(mvm_row, '\n'), *relu_end = strchr(relu_row, '\n');
    cr_expect_eq(mvm_end - mvm_row - 4, relu_end - relu_row - 1, "layer columns not aligned");
    cr_expect(strncmp(mvm_end - 6, "  conv", 6) == 0);
    cr_expect(strncmp(relu_end - 3, "  -", 3) == 0);
    free(text);
}

/* A replicated layer's mvm and combine show their rows after the tile's. */
Test(program, explain_shows_replica_rows)
{
    Program *p = round_trip(make_replicated_program());
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    program_explain(p, out);
    fclose(out);
    const char *expected[] = {
        "tiles (4)",
        "      2  mvm          4      3      -      -  tile=0 rows=0+2 cols=0+16 src_col=0 out=8 pixels=0..4 cycles=8",
        "      3  combine      5      4      -      -  g=0 n=0+2/2 slices=4x2b sign=pair-analog write pixels=0..4",
        "      8  mvm          4      3      -      -  tile=3 rows=0+2 cols=0+16 src_col=2 out=8 pixels=4..9 cycles=8",
        "      9  combine      5      4      -      -  g=0 n=0+2/2 slices=4x2b sign=pair-analog add pixels=4..9",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        cr_expect(strstr(text, expected[i]), "missing:\n%s\nin:\n%s", expected[i], text);
    free(text);
}
