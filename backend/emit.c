/* emit.c: a mapped graph becomes a crossbar program.
 *
 * Every value gets a buffer; every digital op becomes one `digital`
 * instruction; every xbar op becomes quant, im2col (conv form), one mvm and one
 * combine per block, and dequant (docs/crossbar.md section 8).  A replicated
 * layer (attribute `replicas` = r) has r copies of every block, numbered
 * replica-major; replica j's mvm and combine carry its share of the source
 * rows, [floor(j P / r), floor((j + 1) P / r)) (section 6).  While emitting
 * the blocks, the tiles are programmed: each block's cells get the levels of its
 * weight slices (section 5).  All decisions were taken by the passes and are read
 * from the op's attributes; the emitter checks that blocks fit their tiles and
 * never overlap, since a wrong placement would silently mix currents.
 * emit_reprogram_layer() writes new weights into an existing program's blocks
 * of one layer through the same level tables (hybrid fine-tuning). */
#include "backend/backend.h"

#include <math.h>
#include <string.h>

enum { MAX_TILES = 1 << 24 };   /* 2^24 tiles of 128 x 128 would be 256 GiB of cells */

/* A block's rectangle on its tile, for the overlap check. */
typedef struct {
    int row, col, rows, cols;
    int next;                           /* the tile's previous rect, -1 at the end */
} Rect;

typedef struct {
    Arena *arena;
    const Graph *g;
    const Arch *arch;
    Diags *diags;
    int *buffer_of;                     /* by value id, -1 when none yet */
    Buffer *buffers; int n_buffers, cap_buffers;
    Instr *instrs; int n_instrs, cap_instrs;
    Tile *tiles; int n_tiles;
    Rect *rects; int n_rects, cap_rects;    /* the blocks placed so far */
    int *first_rect;                    /* per tile, its last rect (-1: none), linked by Rect.next */
} Emitter;

/* Grows an arena array by doubling (the old copy stays in the arena). */
static int add_buffer(Emitter *e, const char *name, BufferKind kind, bool wide, Type type, float *data)
{
    ARENA_GROW(e->arena, e->buffers, e->n_buffers, e->cap_buffers);
    Buffer *b = &e->buffers[e->n_buffers];
    *b = (Buffer){.name = arena_strdup(e->arena, name), .kind = kind, .wide = wide, .type = type, .data = data};
    return e->n_buffers++;
}

static Instr *add_instr(Emitter *e, Opcode opcode, int dst, int src0, int src1, const char *layer)
{
    ARENA_GROW(e->arena, e->instrs, e->n_instrs, e->cap_instrs);
    Instr *in = &e->instrs[e->n_instrs++];
    memset(in, 0, sizeof *in);
    in->opcode = opcode;
    in->dst = dst;
    in->src[0] = src0;
    in->src[1] = src1;
    in->src[2] = -1;
    in->layer = layer;
    return in;
}

static Type matrix_type(int64_t rows, int64_t cols)
{
    int64_t dims[2] = {rows, cols};
    return type_make(2, dims);
}

/* The buffer holding value v: inputs and constants get theirs on first use. */
static int buffer_for(Emitter *e, const Value *v)
{
    if (e->buffer_of[v->id] >= 0)
        return e->buffer_of[v->id];
    BufferKind kind = v->is_input ? BUF_INPUT : v->data ? BUF_CONST : BUF_TEMP;
    for (int i = 0; i < e->g->n_outputs; i++)
        if (e->g->outputs[i] == v && kind == BUF_TEMP)
            kind = BUF_OUTPUT;
    e->buffer_of[v->id] = add_buffer(e, v->name, kind, false, v->type, v->data);
    return e->buffer_of[v->id];
}

/* ---- digital ops ---- */

/* A copy of `op` whose values carry buffer ids (docs: program.h, INSTR_DIGITAL). */
static Op *digital_op(Emitter *e, const Op *op)
{
    Op *copy = arena_alloc(e->arena, sizeof *copy);
    copy->kind = op->kind;
    copy->loc = op->loc;
    copy->n_inputs = op->n_inputs;
    copy->inputs = arena_array(e->arena, (size_t)op->n_inputs, sizeof(Value *));
    for (int i = 0; i < op->n_inputs; i++) {
        Value *v = arena_alloc(e->arena, sizeof *v);
        v->name = op->inputs[i]->name;
        v->type = op->inputs[i]->type;
        v->id = buffer_for(e, op->inputs[i]);
        copy->inputs[i] = v;
    }
    Value *r = arena_alloc(e->arena, sizeof *r);
    r->name = op->result->name;
    r->type = op->result->type;
    r->id = buffer_for(e, op->result);
    r->def = copy;
    copy->result = r;
    copy->n_attrs = op->n_attrs;
    copy->attrs = arena_array(e->arena, (size_t)(op->n_attrs ? op->n_attrs : 1), sizeof(Attr));
    if (op->n_attrs)
        memcpy(copy->attrs, op->attrs, (size_t)op->n_attrs * sizeof(Attr));
    return copy;
}

static void emit_digital(Emitter *e, const Op *op)
{
    Op *copy = digital_op(e, op);
    Instr *in = add_instr(e, INSTR_DIGITAL, copy->result->id, copy->inputs[0]->id,
                          op->n_inputs > 1 ? copy->inputs[1]->id : -1, ir_layer_name(e->g, op));
    in->src[2] = op->n_inputs > 2 ? copy->inputs[2]->id : -1;
    in->op = copy;
}

/* ---- crossbar layers ---- */

/* The mapping attributes of one xbar op, read and checked once. */
typedef struct {
    const Op *op;                       /* NULL when reprogramming a program's layer */
    const char *name;                   /* its result value, for buffer names */
    const char *layer;                  /* the layer's name (ir_layer_name): its instructions' `layer` */
    Loc loc;
    bool quantized, conv;
    int64_t groups, k, n;               /* w is [G, K, N] */
    const float *w;
    bool w_checked;                     /* the verifier found w integers within +-qmax of w_bits */
    int in_bits;
    bool in_signed;
    float in_scale;
    const float *w_scale;               /* [G*N] */
    int w_bits, cell_bits, slices;
    SignMapping sign;
    const int64_t *row_splits, *col_splits, *place, *adc_bits;
    int n_row_blocks, n_col_blocks;
    int replicas;                       /* r: place, adc_bits, adc_max hold r copies of the blocks */
    const float *adc_max;
    float offset;                       /* offset mapping: what is added to every weight */
} Layer;

static const Attr *need(Emitter *e, const Op *op, const char *name, AttrKind kind)
{
    const Attr *a = ir_attr(op, name);
    if (!a || a->kind != kind) {
        diag_error(e->diags, &op->loc, "xbar %%%s: attribute '%s' is missing or of the wrong kind "
                   "(run the mapping pipeline first)", op->result->name, name);
        return NULL;
    }
    return a;
}

static bool read_layer(Emitter *e, const Op *op, Layer *L)
{
    memset(L, 0, sizeof *L);
    L->op = op;
    L->name = op->result->name;
    L->layer = ir_layer_name(e->g, op);
    L->loc = op->loc;
    const Value *w = op->inputs[1];
    L->groups = w->type.dims[0];
    L->k = w->type.dims[1];
    L->n = w->type.dims[2];
    L->w = w->data;
    const Attr *form = need(e, op, "form", ATTR_STRING);
    const Attr *slices = need(e, op, "slices", ATTR_INT);
    const Attr *cell_bits = need(e, op, "cell_bits", ATTR_INT);
    const Attr *sign = need(e, op, "sign", ATTR_STRING);
    const Attr *rows = need(e, op, "row_splits", ATTR_INTS);
    const Attr *cols = need(e, op, "col_splits", ATTR_INTS);
    const Attr *place = need(e, op, "place", ATTR_INTS);
    const Attr *adc_bits = need(e, op, "adc_bits", ATTR_INTS);
    const Attr *adc_max = need(e, op, "adc_max", ATTR_FLOATS);
    if (!form || !slices || !cell_bits || !sign || !rows || !cols || !place || !adc_bits || !adc_max)
        return false;
    L->conv = strcmp(form->s, "conv") == 0;
    L->slices = (int)slices->i;
    L->cell_bits = (int)cell_bits->i;
    if (!sign_mapping_from_name(sign->s, &L->sign)) {
        diag_error(e->diags, &op->loc, "xbar %%%s: unknown sign mapping '%s'", op->result->name, sign->s);
        return false;
    }
    L->row_splits = rows->ints;
    L->col_splits = cols->ints;
    L->n_row_blocks = rows->count - 1;
    L->n_col_blocks = cols->count - 1;
    L->place = place->ints;
    L->adc_bits = adc_bits->ints;
    L->adc_max = adc_max->floats;
    const Attr *replicas = ir_attr(op, "replicas");
    if (replicas && (replicas->kind != ATTR_INT || replicas->i < 1 || replicas->i > INT32_MAX)) {
        diag_error(e->diags, &op->loc, "xbar %%%s: attribute 'replicas' must be an integer >= 1",
                   op->result->name);
        return false;
    }
    L->replicas = replicas ? (int)replicas->i : 1;
    int64_t blocks = L->replicas * L->groups * L->n_row_blocks * L->n_col_blocks;
    if (L->n_row_blocks < 1 || L->n_col_blocks < 1 || place->count != 3 * blocks ||
        adc_bits->count != blocks || adc_max->count != blocks) {
        diag_error(e->diags, &op->loc, "xbar %%%s: %lld blocks (%d replicas), but place has %d entries, "
                   "adc_bits %d, adc_max %d", op->result->name, (long long)blocks, L->replicas, place->count,
                   adc_bits->count, adc_max->count);
        return false;
    }
    L->quantized = ir_attr(op, "in_scale") != NULL;
    if (L->quantized) {
        const Attr *in_bits = need(e, op, "in_bits", ATTR_INT);
        const Attr *w_bits = need(e, op, "w_bits", ATTR_INT);
        const Attr *w_scale = need(e, op, "w_scale", ATTR_FLOATS);
        if (!in_bits || !w_bits || !w_scale)
            return false;
        L->in_bits = (int)in_bits->i;
        L->w_bits = (int)w_bits->i;
        L->w_checked = op->inputs[1]->checked_w_bits == L->w_bits;
        L->w_scale = w_scale->floats;
        L->in_scale = ir_attr_float(op, "in_scale", 1.0f);
        L->in_signed = ir_attr_int(op, "in_signed", 0) != 0;
        L->offset = (float)((1 << (L->w_bits - 1)) - 1);
    } else {
        float max_abs = 0;
        for (int64_t i = 0; i < L->groups * L->k * L->n; i++)
            max_abs = fmaxf(max_abs, fabsf(L->w[i]));
        L->offset = max_abs;
    }
    return true;
}

/* Physical columns per weight column, and reference columns per block. */
static int polarities(const Layer *L) { return cell_polarities(L->sign); }
static int ref_cols(const Layer *L) { return cell_ref_cols(L->sign, L->slices); }

/* The cells of one weight column for every quantized weight value: entry
 * w + qmax holds its S * P levels in column order (slice, polarity), so that a
 * block row is programmed with one copy per weight.  The reference columns'
 * levels (offset mapping) follow the last entry. */
static uint8_t *level_table(Emitter *e, const Layer *L)
{
    int64_t qmax = (int64_t)L->offset;
    int S = L->slices, W = S * polarities(L);
    uint8_t *table = arena_array(e->arena, (size_t)(2 * qmax + 2), (size_t)W);
    int levels[2 * CELL_MAX_SLICES];
    for (int64_t w = -qmax; w <= qmax; w++) {
        uint8_t *cells = table + (size_t)(w + qmax) * (size_t)W;
        cell_encode(L->sign, S, L->cell_bits, w, qmax, levels);
        for (int c = 0; c < W; c++)
            cells[c] = (uint8_t)levels[c];
    }
    for (int s = 0; s < ref_cols(L); s++)
        table[(size_t)(2 * qmax + 1) * (size_t)W + (size_t)s] = (uint8_t)cell_slice_level(qmax, s, L->cell_bits);
    return table;
}

/* Refuses a block whose rectangle meets one placed before on its tile, naming
 * the first shared cell in row-major order (the emitter's last line of defence
 * against a placement that would mix currents). */
static bool claim_rect(Emitter *e, const Layer *L, int block, int tile, int row0, int col0, int rows, int cols)
{
    int hit_row = -1, hit_col = -1;
    for (int i = e->first_rect[tile]; i >= 0; i = e->rects[i].next) {
        const Rect *r = &e->rects[i];
        int top = row0 > r->row ? row0 : r->row, left = col0 > r->col ? col0 : r->col;
        int bottom = row0 + rows < r->row + r->rows ? row0 + rows : r->row + r->rows;
        int right = col0 + cols < r->col + r->cols ? col0 + cols : r->col + r->cols;
        if (top < bottom && left < right && (hit_row < 0 || top < hit_row || (top == hit_row && left < hit_col)))
            hit_row = top, hit_col = left;
    }
    if (hit_row >= 0) {
        diag_error(e->diags, &L->loc, "layer %s: block %d overlaps another block on tile %d at cell (%d, %d)",
                   L->layer, block, tile, hit_row, hit_col);
        return false;
    }
    ARENA_GROW(e->arena, e->rects, e->n_rects, e->cap_rects);
    e->rects[e->n_rects] = (Rect){.row = row0, .col = col0, .rows = rows, .cols = cols, .next = e->first_rect[tile]};
    e->first_rect[tile] = e->n_rects++;
    return true;
}

/* One row of a quantized block: each weight's cells copied from the table. */
static bool program_level_row(Emitter *e, const Layer *L, const uint8_t *table, const float *w, int64_t n_cols,
                              uint8_t *row, int phys_cols)
{
    int W = L->slices * polarities(L);
    float qmax = L->offset;
    /* Weights the verifier checked (ir/xbar.c) are not checked again. */
    for (int64_t n = 0; !L->w_checked && n < n_cols; n++) {
        float v = w[n];
        if (!(v >= -qmax && v <= qmax) || v != (float)(int32_t)v) {
            diag_error(e->diags, &L->loc, "layer %s: quantized weight %g is not an integer within +-%g",
                       L->layer, v, qmax);
            return false;
        }
    }
    const uint8_t *zero = table + (size_t)(int32_t)qmax * (size_t)W;     /* the cells of weight 0 */
    if (W == 8) {       /* the default: 4 slices of a pair, one store */
        for (int64_t n = 0; n < n_cols; n++)
            memcpy(row + 8 * n, zero + 8 * (ptrdiff_t)(int32_t)w[n], 8);
    } else {
        for (int64_t n = 0; n < n_cols; n++)
            memcpy(row + (size_t)W * (size_t)n, zero + (ptrdiff_t)W * (int32_t)w[n], (size_t)W);
    }
    if (ref_cols(L))
        memcpy(row + phys_cols - ref_cols(L), table + (size_t)(2 * (int64_t)qmax + 1) * (size_t)W,
               (size_t)ref_cols(L));
    return true;
}

/* One row of a float-weight block: pair max(w, 0) / max(-w, 0), or w + offset. */
static void program_float_row(const Layer *L, const float *w, int64_t n_cols, float *row, int phys_cols)
{
    int S = L->slices, P = polarities(L);
    for (int64_t n = 0; n < n_cols; n++) {
        for (int s = 0; s < S; s++) {
            float *cell = row + (n * S + s) * P;
            if (P == 2) {
                cell[0] = fmaxf(w[n], 0);
                cell[1] = fmaxf(-w[n], 0);
            } else {
                cell[0] = w[n] + L->offset;
            }
        }
    }
    for (int s = 0; s < ref_cols(L); s++)
        row[phys_cols - ref_cols(L) + s] = L->offset;
}

/* The cells of one block (group g, rows k0..k1, weight columns n0..n1) at
 * (row0, col0) of tile t, whose fit was checked. */
static bool write_block(Emitter *e, const Layer *L, const uint8_t *table, Tile *t, int64_t row0, int64_t col0,
                        int64_t g, int64_t k0, int64_t k1, int64_t n0, int64_t n1, int phys_cols)
{
    for (int64_t k = k0; k < k1; k++) {
        size_t at = (size_t)(row0 + k - k0) * (size_t)t->cols + (size_t)col0;
        const float *w = L->w + (g * L->k + k) * L->n + n0;
        if (!L->quantized)
            program_float_row(L, w, n1 - n0, t->cells + at, phys_cols);
        else if (!program_level_row(e, L, table, w, n1 - n0, t->levels + at, phys_cols))
            return false;
    }
    return true;
}

/* Programs block b (group g, rows k0..k1, weight columns n0..n1) into its tile,
 * row by row. */
static bool program_block(Emitter *e, const Layer *L, const uint8_t *table, int block, int64_t g, int64_t k0,
                          int64_t k1, int64_t n0, int64_t n1, int phys_cols)
{
    int64_t tile = L->place[3 * block], row0 = L->place[3 * block + 1], col0 = L->place[3 * block + 2];
    if (tile < 0 || tile >= e->n_tiles || row0 < 0 || col0 < 0 || row0 + (k1 - k0) > e->arch->rows ||
        col0 + phys_cols > e->arch->cols) {
        diag_error(e->diags, &L->loc, "layer %s: block %d (%lld rows x %d columns) at tile %lld (%lld, %lld) "
                   "does not fit a %d x %d crossbar", L->layer, block, (long long)(k1 - k0), phys_cols,
                   (long long)tile, (long long)row0, (long long)col0, e->arch->rows, e->arch->cols);
        return false;
    }
    if (!claim_rect(e, L, block, (int)tile, (int)row0, (int)col0, (int)(k1 - k0), phys_cols))
        return false;
    return write_block(e, L, table, &e->tiles[tile], row0, col0, g, k0, k1, n0, n1, phys_cols);
}

/* Replica j of a layer: for each of its blocks (numbered replica-major, then
 * g, row block, column block), the cells, one mvm and one combine, over its
 * share [floor(j P / r), floor((j + 1) P / r)) of the P source rows of `src`. */
static bool emit_replica(Emitter *e, const Layer *L, const uint8_t *table, int j, int64_t P, int src, int acc)
{
    const char *name = L->name;
    int64_t row_begin = j * P / L->replicas, row_end = (j + 1) * P / L->replicas;
    int block = (int)(j * L->groups * L->n_row_blocks * L->n_col_blocks);
    for (int64_t g = 0; g < L->groups; g++) {
        for (int rb = 0; rb < L->n_row_blocks; rb++) {
            int64_t k0 = L->row_splits[rb], k1 = L->row_splits[rb + 1];
            for (int cb = 0; cb < L->n_col_blocks; cb++, block++) {
                int64_t n0 = L->col_splits[cb], n1 = L->col_splits[cb + 1];
                int phys_cols = (int)((n1 - n0) * L->slices * polarities(L)) + ref_cols(L);
                if (!program_block(e, L, table, block, g, k0, k1, n0, n1, phys_cols))
                    return false;
                int out_cols = L->sign == SIGN_PAIR_ANALOG ? phys_cols / 2 : phys_cols;
                int out = add_buffer(e, arena_printf(e->arena, "%s.block%d", name, block), BUF_TEMP, false,
                                     matrix_type(P, out_cols), NULL);
                Instr *mvm = add_instr(e, INSTR_MVM, out, src, -1, L->layer);
                mvm->mvm = (MvmParams){
                    .tile = (int)L->place[3 * block], .tile_row = (int)L->place[3 * block + 1],
                    .tile_col = (int)L->place[3 * block + 2], .rows = (int)(k1 - k0),
                    .src_col = (int)(g * L->k + k0), .phys_cols = phys_cols, .out_cols = out_cols,
                    .dac_bits = e->arch->dac_bits, .in_bits = L->in_bits, .in_signed = L->in_signed,
                    .sign = L->sign, .adc_bits = (int)L->adc_bits[block], .adc_max = L->adc_max[block],
                    .float_mode = !L->quantized, .row_begin = row_begin, .row_end = row_end};
                Instr *comb = add_instr(e, INSTR_COMBINE, acc, out, -1, L->layer);
                comb->combine = (CombineParams){
                    .group = (int)g, .n0 = (int)n0, .n_cols = (int)(n1 - n0), .n_per_group = (int)L->n,
                    .slices = L->slices, .cell_bits = L->cell_bits, .sign = L->sign, .accumulate = rb > 0,
                    .float_mode = !L->quantized, .offset_scale = L->offset,
                    .row_begin = row_begin, .row_end = row_end};
            }
        }
    }
    return true;
}

static void emit_xbar(Emitter *e, const Op *op)
{
    Layer L;
    if (!read_layer(e, op, &L))
        return;
    const Value *x = op->inputs[0], *y = op->result;
    const char *name = y->name;
    int64_t G = L.groups, K = L.k, N = L.n;
    int64_t P = L.conv ? y->type.dims[0] * (type_numel(&y->type) / (y->type.dims[0] * y->type.dims[1]))
                       : type_numel(&x->type) / K;

    /* quant: activations to codes (as they are in a float-weight program). */
    Type codes_type = L.conv ? x->type : matrix_type(P, K);
    int codes = add_buffer(e, arena_printf(e->arena, "%s.codes", name), BUF_TEMP, false, codes_type, NULL);
    Instr *q = add_instr(e, INSTR_QUANT, codes, buffer_for(e, x), -1, L.layer);
    q->quant = (QuantParams){.scale = L.in_scale, .bits = L.in_bits, .is_signed = L.in_signed,
                             .float_mode = !L.quantized};

    /* im2col: one row of G*K codes per output pixel. */
    int rows_buffer = codes;
    if (L.conv) {
        rows_buffer = add_buffer(e, arena_printf(e->arena, "%s.rows", name), BUF_TEMP, false,
                                 matrix_type(P, G * K), NULL);
        Instr *ic = add_instr(e, INSTR_IM2COL, rows_buffer, codes, -1, L.layer);
        Im2colParams *p = &ic->im2col;
        p->spatial = x->type.rank - 2;
        p->batch = x->type.dims[0];
        p->channels = x->type.dims[1];
        p->group = G;
        const int64_t *kernel, *strides, *pads, *dilations;
        int nk = ir_attr_ints(op, "kernel", &kernel), ns = ir_attr_ints(op, "strides", &strides);
        int np = ir_attr_ints(op, "pads", &pads), nd = ir_attr_ints(op, "dilations", &dilations);
        for (int i = 0; i < p->spatial; i++) {
            p->in[i] = x->type.dims[2 + i];
            p->out[i] = y->type.dims[2 + i];
            p->kernel[i] = nk == p->spatial ? kernel[i] : 1;
            p->strides[i] = ns == p->spatial ? strides[i] : 1;
            p->dilations[i] = nd == p->spatial ? dilations[i] : 1;
            p->pads[i] = np == 2 * p->spatial ? pads[i] : 0;
            p->pads[p->spatial + i] = np == 2 * p->spatial ? pads[p->spatial + i] : 0;
        }
    }

    /* Blocks: mvm reads, combine recombines into the wide accumulator. */
    int acc = add_buffer(e, arena_printf(e->arena, "%s.acc", name), BUF_TEMP, true, matrix_type(P, G * N), NULL);
    const uint8_t *table = L.quantized ? level_table(e, &L) : NULL;
    for (int j = 0; j < L.replicas; j++)
        if (!emit_replica(e, &L, table, j, P, rows_buffer, acc))
            return;

    /* dequant: scale, bias, back to the layer's layout. */
    int bias = op->n_inputs > 2 ? buffer_for(e, op->inputs[2]) : -1;
    Instr *dq = add_instr(e, INSTR_DEQUANT, buffer_for(e, y), acc, bias, L.layer);
    DequantParams *d = &dq->dequant;
    d->conv = L.conv;
    d->batch = L.conv ? y->type.dims[0] : 1;
    d->channels = G * N;
    d->pixels = L.conv ? P / d->batch : P;
    d->out_scale = arena_array(e->arena, (size_t)(G * N), sizeof(float));
    for (int64_t c = 0; c < G * N; c++)
        d->out_scale[c] = L.quantized ? L.in_scale * L.w_scale[c] : 1.0f;
}

/* All tiles the placement names, zeroed (cells no block covers hold level 0):
 * one array of levels for a quantized program, of floats for a float-weight one. */
static bool make_tiles(Emitter *e, int64_t n_tiles, bool float_weights)
{
    size_t per_tile = (size_t)e->arch->rows * (size_t)e->arch->cols;
    if (n_tiles > MAX_TILES) {
        diag_error(e->diags, NULL, "the placement names tile %lld, more than %d tiles: run place",
                   (long long)(n_tiles - 1), MAX_TILES);
        return false;
    }
    const char *what = arena_printf(e->diags->arena, "the program's %lld tiles of %dx%d cells", (long long)n_tiles,
                                    e->arch->rows, e->arch->cols);
    if (!memory_check((uint64_t)n_tiles * per_tile, float_weights ? sizeof(float) : 1, what, NULL, e->diags))
        return false;
    e->n_tiles = (int)n_tiles;
    e->tiles = arena_array(e->arena, (size_t)n_tiles + 1, sizeof(Tile));
    e->first_rect = arena_array(e->arena, (size_t)n_tiles + 1, sizeof(int));
    uint8_t *levels = float_weights ? NULL : arena_array(e->arena, (size_t)n_tiles, per_tile);
    float *cells = float_weights ? arena_array(e->arena, (size_t)n_tiles * per_tile, sizeof(float)) : NULL;
    for (int64_t t = 0; t < n_tiles; t++) {
        e->tiles[t] = (Tile){.rows = e->arch->rows, .cols = e->arch->cols,
                             .levels = levels ? levels + t * per_tile : NULL,
                             .cells = cells ? cells + t * per_tile : NULL};
        e->first_rect[t] = -1;
    }
    return true;
}

Program *emit_program(Arena *arena, const Graph *g, Diags *diags)
{
    if (!g->arch) {
        diag_error(diags, NULL, "graph @%s has no architecture: run lower-xbar first", g->name);
        return NULL;
    }
    Emitter e = {.arena = arena, .g = g, .arch = g->arch, .diags = diags};
    e.buffer_of = arena_array(arena, (size_t)g->n_values + 1, sizeof(int));
    for (int i = 0; i < g->n_values; i++)
        e.buffer_of[i] = -1;
    Program *p = arena_alloc(arena, sizeof *p);
    p->arena = arena;
    p->arch = *g->arch;
    p->n_inputs = g->n_inputs;
    p->inputs = arena_array(arena, (size_t)g->n_inputs + 1, sizeof(int));
    for (int i = 0; i < g->n_inputs; i++)
        p->inputs[i] = buffer_for(&e, g->inputs[i]);

    int errors = diags->n_errors;
    bool any_quantized = false, any_float = false;
    int64_t last_tile = -1;
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        if (op->dead || op->kind != OP_XBAR)
            continue;
        bool quantized = ir_attr(op, "in_scale") != NULL;
        any_quantized |= quantized;
        any_float |= !quantized;
        const int64_t *place;
        int n_place = ir_attr_ints(op, "place", &place);
        for (int k = 0; k + 2 < n_place; k += 3)
            last_tile = place[k] > last_tile ? place[k] : last_tile;
    }
    if (any_quantized && any_float) {
        diag_error(diags, NULL, "graph @%s mixes quantized and float-weight crossbar layers", g->name);
        return NULL;
    }
    if (!make_tiles(&e, last_tile + 1, any_float))
        return NULL;
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        if (op->dead)
            continue;
        if (op->kind == OP_XBAR)
            emit_xbar(&e, op);
        else
            emit_digital(&e, op);
    }

    p->n_outputs = g->n_outputs;
    p->outputs = arena_array(arena, (size_t)g->n_outputs + 1, sizeof(int));
    for (int i = 0; i < g->n_outputs; i++) {
        p->outputs[i] = buffer_for(&e, g->outputs[i]);
        if (e.buffers[p->outputs[i]].kind != BUF_OUTPUT)
            diag_error(diags, NULL, "output %%%s is a graph input or a constant, which a program cannot return",
                       g->outputs[i]->name);
    }
    if (diags->n_errors > errors)
        return NULL;
    p->float_weights = any_float;
    p->n_buffers = e.n_buffers;
    p->buffers = e.buffers;
    p->n_instrs = e.n_instrs;
    p->instrs = e.instrs;
    p->n_tiles = e.n_tiles;
    p->tiles = e.tiles;
    return p;
}

/* ---- reprogramming one layer of a program ---- */

/* Bad input to emit_reprogram_layer: a message naming the program's layer. */
static bool reprogram_error(Diags *diags, const char *layer, const char *what, int instr)
{
    Loc loc = {0};
    diag_error(diags, &loc, "reprogramming layer %s: %s (instruction %d)", layer, what, instr);
    return false;
}

bool emit_reprogram_layer(Program *p, const char *layer, const float *w_q, int64_t groups, int64_t k, int64_t n,
                          Diags *diags)
{
    if (p->float_weights)
        return reprogram_error(diags, layer, "a float-weight program has no levels", 0);
    Emitter e = {.arena = p->arena, .arch = &p->arch, .diags = diags, .tiles = p->tiles, .n_tiles = p->n_tiles};
    Layer L = {.name = layer, .layer = layer, .quantized = true, .groups = groups, .k = k, .n = n, .w = w_q,
               .w_bits = p->arch.weight_bits, .offset = (float)((1 << (p->arch.weight_bits - 1)) - 1)};
    const uint8_t *table = NULL;
    int blocks = 0;
    /* The blocks as the emitter laid them out: each mvm of the layer followed
     * by its combine, which says which group and weight columns it holds. */
    for (int i = 0; i < p->n_instrs; i++) {
        const Instr *mvm = &p->instrs[i];
        if (mvm->opcode != INSTR_MVM || !mvm->layer || strcmp(mvm->layer, layer) != 0)
            continue;
        const Instr *comb = i + 1 < p->n_instrs ? &p->instrs[i + 1] : NULL;
        if (!comb || comb->opcode != INSTR_COMBINE || comb->src[0] != mvm->dst)
            return reprogram_error(diags, layer, "an mvm not followed by its combine", i);
        const MvmParams *m = &mvm->mvm;
        const CombineParams *c = &comb->combine;
        if (!table) {
            L.slices = c->slices, L.cell_bits = c->cell_bits, L.sign = c->sign;
            table = level_table(&e, &L);
        } else if (c->slices != L.slices || c->cell_bits != L.cell_bits || c->sign != L.sign) {
            return reprogram_error(diags, layer, "blocks with different cell codings", i + 1);
        }
        int64_t g = c->group, k0 = m->src_col - g * k, k1 = k0 + m->rows, n0 = c->n0, n1 = n0 + c->n_cols;
        int phys_cols = (int)((n1 - n0) * L.slices * polarities(&L)) + ref_cols(&L);
        if (g < 0 || g >= groups || k0 < 0 || k1 > k || n0 < 0 || n1 > n || c->n_per_group != n)
            return reprogram_error(diags, layer, "a block outside the given weight matrix", i);
        if (m->float_mode || phys_cols != m->phys_cols || m->tile < 0 || m->tile >= p->n_tiles)
            return reprogram_error(diags, layer, "a block that does not match its combine or its tile", i);
        Tile *t = &p->tiles[m->tile];
        if (m->tile_row < 0 || m->tile_col < 0 || m->tile_row + m->rows > t->rows ||
            m->tile_col + phys_cols > t->cols)
            return reprogram_error(diags, layer, "a block that does not fit its tile", i);
        tile_unpack(p->arena, t);   /* packed as read, or integer-valued float cells: levels from now on */
        if (!write_block(&e, &L, table, t, m->tile_row, m->tile_col, g, k0, k1, n0, n1, phys_cols))
            return false;
        blocks++;
    }
    if (!blocks)
        return reprogram_error(diags, layer, "the program has no mvm of this layer", p->n_instrs);
    return true;
}
