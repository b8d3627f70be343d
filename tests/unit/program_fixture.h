/* program_fixture.h: the hand-built program of the program-file tests.
 *
 * One 2x2 convolution of a 4x4 image cut into two row blocks on two tiles,
 * then a relu and a concat of three inputs, so it has one instruction of every
 * opcode; plus a replicated variant, a round trip through a file in a fresh
 * directory, and field-by-field comparisons of two programs.  Included by
 * test_program.c and test_program_bytes.c (one Criterion binary each). */
#ifndef XBARC_TEST_PROGRAM_FIXTURE_H
#define XBARC_TEST_PROGRAM_FIXTURE_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/program.h"

#define TEST_FIXTURE
#include "test_support.h"

static char dir[64];

static inline void setup(void)
{
    test_setup();
    strcpy(dir, "/tmp/test_program.XXXXXX");
    cr_assert(mkdtemp(dir));
}

static inline void teardown(void)
{
    const char *names[] = {"a.xbp", "b.xbp", "fuzz.xbp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(arena_printf(arena, "%s/%s", dir, names[i]));
    rmdir(dir);
    test_teardown();
}

static inline const char *path_in_dir(const char *name) { return arena_printf(arena, "%s/%s", dir, name); }

/* ---- the hand-built program ---- */

enum { B_X, B_BIAS, B_XQ, B_COLS, B_MVM, B_ACC, B_Y, B_RELU, B_CAT, N_BUFFERS };

static inline Value *value_of(Program *p, int id)
{
    Value *v = arena_alloc(arena, sizeof *v);
    v->id = id;
    v->name = p->buffers[id].name;
    v->type = p->buffers[id].type;
    return v;
}

static inline Instr *instr(Program *p, int i, Opcode opcode, int dst, int src0, int src1, const char *layer)
{
    Instr *in = &p->instrs[i];
    in->opcode = opcode;
    in->dst = dst;
    in->src[0] = src0, in->src[1] = src1, in->src[2] = -1;
    in->layer = layer;
    return in;
}

static inline void set_buffer(Program *p, int id, const char *name, BufferKind kind, bool wide, int rank, ...)
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

static inline void set_mvm(Instr *in, int tile, int src_col, bool float_mode)
{
    in->mvm = (MvmParams){.tile = tile, .tile_row = 0, .tile_col = 0, .rows = 2, .src_col = src_col,
                          .phys_cols = 16, .out_cols = 8, .dac_bits = 1, .in_bits = 8, .in_signed = false,
                          .sign = SIGN_PAIR_ANALOG, .adc_bits = 4, .adc_max = 7.0f, .float_mode = float_mode,
                          .row_begin = 0, .row_end = 9};
}

static inline void set_combine(Instr *in, bool accumulate, bool float_mode)
{
    in->combine = (CombineParams){.group = 0, .n0 = 0, .n_cols = 2, .n_per_group = 2, .slices = 4,
                                  .cell_bits = 2, .sign = SIGN_PAIR_ANALOG, .accumulate = accumulate,
                                  .float_mode = float_mode, .offset_scale = float_mode ? 0.75f : 0.0f,
                                  .row_begin = 0, .row_end = 9};
}

/* x[1,1,4,4] -> quant -> im2col [9,4] -> two row blocks (tiles 0 and 1) into a
 * wide accumulator [9,2] -> dequant y[1,2,3,3] -> relu -> concat(relu, y, relu). */
static inline Program *make_program(bool float_weights)
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
static inline Program *make_replicated_program(void)
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
static inline void set_rows(Program *p, int k, int64_t begin, int64_t end)
{
    if (p->instrs[k].opcode == INSTR_MVM)
        p->instrs[k].mvm.row_begin = begin, p->instrs[k].mvm.row_end = end;
    else
        p->instrs[k].combine.row_begin = begin, p->instrs[k].combine.row_end = end;
}

/* ---- comparing programs field by field ---- */

static inline void expect_same_string(const char *a, const char *b, const char *what)
{
    cr_expect((a == NULL) == (b == NULL), "%s: one is NULL", what);
    if (a && b)
        cr_expect_str_eq(a, b, "%s", what);
}

static inline void expect_same_bits(const float *a, const float *b, int64_t n, const char *what)
{
    cr_expect(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "%s differ", what);
}

static inline void expect_same_op(const Op *a, const Op *b, const Program *read)
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

static inline void expect_same_instr(const Instr *a, const Instr *b, const Program *read)
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

static inline void expect_same_program(const Program *a, const Program *b)
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
        cr_expect(a->tiles[i].rows == b->tiles[i].rows && a->tiles[i].cols == b->tiles[i].cols &&
                  a->tiles[i].writes == b->tiles[i].writes);
        /* levels may come back as bytes where floats went out: compare values, bit for bit */
        size_t n = (size_t)a->tiles[i].rows * (size_t)a->tiles[i].cols;
        float *x = arena_array(arena, n, sizeof(float)), *y = arena_array(arena, n, sizeof(float));
        for (size_t k = 0; k < n; k++)
            x[k] = tile_cell(&a->tiles[i], k), y[k] = tile_cell(&b->tiles[i], k);
        expect_same_bits(x, y, (int64_t)n, "tile cells");
        cr_expect((a->tiles[i].cell_writes == NULL) == (b->tiles[i].cell_writes == NULL), "tile %d write counts", i);
        for (size_t k = 0; a->tiles[i].cell_writes && b->tiles[i].cell_writes && k < n; k++)
            cr_expect_eq(a->tiles[i].cell_writes[k], b->tiles[i].cell_writes[k], "tile %d cell %zu writes", i, k);
        cr_expect(b->float_weights ? b->tiles[i].cells && !b->tiles[i].levels && !b->tiles[i].packed
                                   : b->tiles[i].levels || b->tiles[i].packed,
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

/* Writes p to path, a command's one output (ir/file.c). */
static inline bool write_program_file(const Program *p, const char *path)
{
    Outputs *outs = outputs_new(arena, &diags);
    return outputs_commit(outs, program_write(p, outs, path, &diags));
}

static inline Program *round_trip(const Program *p)
{
    const char *path = path_in_dir("a.xbp");
    cr_assert(write_program_file(p, path), "%s", diags.first ? diags.first->text : "");
    Program *back = program_read(arena, path, &diags);
    if (!back)
        diags_print(&diags, stderr);
    cr_assert(back);
    cr_assert_eq(diags.n_errors, 0);
    return back;
}

#endif
