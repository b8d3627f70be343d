/* program_check.c: is a program that parsed also consistent?
 *
 * program_io.c has read every field and checked what it needs to build the
 * structs (counts, enums, string and buffer ids, ranks).  What is left is the
 * meaning, which the simulator relies on without checking again: buffer kinds
 * and widths (float32 or float64 arrays), tile coordinates inside their tile,
 * each instruction's buffer shapes against its parameters (docs/crossbar.md 8),
 * programmed levels within 2^cell_bits, digital ops against shape inference,
 * and that no instruction reads a buffer before something writes it.  All
 * problems are reported (up to a limit), each naming the instruction.
 *
 * Row ranges (replication, docs/crossbar.md 6) get a check of their own: a
 * combine may read only rows its mvm wrote, and for every column of a layer's
 * accumulator the writing combines' row ranges must partition its rows, with
 * every accumulating combine inside a range written before it.  Since the
 * simulator shares the memory of temporaries, a row nobody wrote would hold
 * another buffer's data, so this is checked exactly: one record per combine
 * (its columns and rows, whatever its width), then a sweep over the columns
 * where records begin or end.  Last comes the memory the simulator will take,
 * against the memory limit. */
#include "runtime/program_format.h"
#include "runtime/runtime.h"     /* sim_memory_bound */

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ERRORS = 20 };

/* Rows [begin, end) of columns [col, col_end) of one accumulator, written or
 * added by one combine: one record per combine, whatever its width. */
typedef struct {
    int acc, instr;
    int64_t col, col_end, begin, end;
} RowSpan;

typedef struct {
    RowSpan *items;
    size_t n, cap;
} RowSpans;

typedef struct {
    Reader *r;
    const Program *p;
    int n_errors;
    const char *where;          /* "instruction 5 (mvm)", or NULL */
    bool *written;              /* by buffer id: holds data at this point of the stream */
    bool *by_mvm;               /* by buffer id: some mvm writes it (the simulator may make it float64) */
    int64_t *mvm_rows;          /* by buffer id: [begin, end) an mvm last wrote, else {0, -1} */
    Arena *scratch;             /* the row spans */
    RowSpans writes, adds;      /* combine rows by accumulator column: written, accumulated */
    int *acc_writer;            /* by buffer id: a combine writing it (-1: none), for the check */
} Checker;

static void bad(Checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(Checker *c, const char *fmt, ...)
{
    if (++c->n_errors > MAX_ERRORS) {
        if (c->n_errors == MAX_ERRORS + 1)
            diag_error(c->r->diags, &c->r->loc, "too many inconsistencies, giving up");
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(c->r->diags, &c->r->loc, "%s%s%s", c->where ? c->where : "", c->where ? ": " : "", msg);
}

static const char *const kind_names[] = {
    [BUF_INPUT] = "an input", [BUF_OUTPUT] = "an output", [BUF_CONST] = "a constant", [BUF_TEMP] = "a temporary",
};

/* "buffer 3 'conv1.acc'" */
static const char *bname(const Checker *c, int id)
{
    const char *name = c->p->buffers[id].name;
    return arena_printf(c->r->diags->arena, "buffer %d '%s'", id, name ? name : "");
}

/* "f32[9,4]", or "f64[9,4]" for a wide buffer (as explain prints it). */
static const char *tname(const Checker *c, const Buffer *b)
{
    char *s = type_format(c->r->diags->arena, &b->type);
    if (b->wide)
        memcpy(s, "f64", 3);
    return s;
}

static int64_t numel(const Buffer *b) { return type_numel(&b->type); }
static int64_t last_dim(const Buffer *b) { return b->type.rank ? b->type.dims[b->type.rank - 1] : 1; }
/* A buffer as a matrix: rows of its last dimension (MatMul's leading dims are rows). */
static int64_t row_count(const Buffer *b) { return last_dim(b) ? numel(b) / last_dim(b) : 0; }

/* a * b for non-negative operands, saturating instead of overflowing. */
static int64_t mul(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

static bool in_range(int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; }

/* Slots 0..n_required-1 name buffers, the next n_optional may, the rest are -1. */
static void check_srcs(Checker *c, const Instr *in, int n_required, int n_optional)
{
    for (int k = 0; k < 3; k++) {
        if (k < n_required && in->src[k] < 0)
            bad(c, "src%d is missing", k);
        else if (k >= n_required + n_optional && in->src[k] >= 0)
            bad(c, "src%d must be unused (-1), not %d", k, in->src[k]);
    }
}

static void reads(Checker *c, int id)
{
    if (id >= 0 && !c->written[id])
        bad(c, "reads %s before anything writes it", bname(c, id));
}

static void expect_width(Checker *c, int id, bool wide, const char *role)
{
    if (id >= 0 && c->p->buffers[id].wide != wide)
        bad(c, "%s %s must hold %s", role, bname(c, id), wide ? "float64 (wide)" : "float32, not float64");
}

static void expect_float_mode(Checker *c, bool float_mode)
{
    if (float_mode != c->p->float_weights)
        bad(c, "float_mode is %d in a %s program", float_mode, c->p->float_weights ? "float-weight" : "quantized");
}

static void check_quant(Checker *c, const Instr *in)
{
    const QuantParams *q = &in->quant;
    const Buffer *src = &c->p->buffers[in->src[0]], *dst = &c->p->buffers[in->dst];
    expect_width(c, in->src[0], false, "src"), expect_width(c, in->dst, false, "dst");
    if (numel(src) != numel(dst))
        bad(c, "dst %s and src %s differ in size", tname(c, dst), tname(c, src));
    expect_float_mode(c, q->float_mode);
    /* codes of at most 16 bits (the architecture's input_bits): quant_code rounds them exactly */
    if (!q->float_mode && !in_range(q->bits, 1, 16))
        bad(c, "bits %d is out of range 1..16", q->bits);
    if (!q->float_mode && !(isfinite(q->scale) && q->scale > 0))
        bad(c, "scale %g is not a positive number", q->scale);
}

static void check_im2col(Checker *c, const Instr *in)
{
    const Im2colParams *m = &in->im2col;
    const Buffer *src = &c->p->buffers[in->src[0]], *dst = &c->p->buffers[in->dst];
    expect_width(c, in->src[0], false, "src"), expect_width(c, in->dst, false, "dst");
    if (!in_range(m->spatial, 1, 3)) {
        bad(c, "spatial rank %d is not 1, 2 or 3", m->spatial);
        return;
    }
    if (!in_range(m->batch, 1, IR_MAX_NUMEL) || !in_range(m->channels, 1, IR_MAX_NUMEL) ||
        !in_range(m->group, 1, m->channels) || m->channels % m->group != 0) {
        bad(c, "batch %lld, channels %lld, group %lld are inconsistent", (long long)m->batch,
            (long long)m->channels, (long long)m->group);
        return;
    }
    int64_t pixels = 1, kernel = 1;
    for (int i = 0; i < m->spatial; i++) {
        int64_t pb = m->pads[i], pe = m->pads[m->spatial + i];
        if (!in_range(m->in[i], 1, IR_MAX_NUMEL) || !in_range(m->kernel[i], 1, IR_MAX_NUMEL) ||
            !in_range(m->strides[i], 1, IR_MAX_NUMEL) || !in_range(m->dilations[i], 1, IR_MAX_NUMEL) ||
            !in_range(pb, 0, IR_MAX_NUMEL) || !in_range(pe, 0, IR_MAX_NUMEL)) {
            bad(c, "axis %d: extent, kernel, stride, dilation or pads out of range", i);
            return;
        }
        int64_t span = m->in[i] + pb + pe - mul(m->dilations[i], m->kernel[i] - 1) - 1;
        int64_t out = span < 0 ? 0 : span / m->strides[i] + 1;
        if (out < 1 || m->out[i] != out) {
            bad(c, "axis %d: output extent %lld, but input %lld, kernel %lld, stride %lld, dilation %lld and "
                "pads %lld+%lld give %lld", i, (long long)m->out[i], (long long)m->in[i], (long long)m->kernel[i],
                (long long)m->strides[i], (long long)m->dilations[i], (long long)pb, (long long)pe,
                (long long)out);
            return;
        }
        pixels = mul(pixels, out);
        kernel = mul(kernel, m->kernel[i]);
    }
    bool src_ok = src->type.rank == m->spatial + 2 && src->type.dims[0] == m->batch &&
                  src->type.dims[1] == m->channels;
    for (int i = 0; src_ok && i < m->spatial; i++)
        src_ok = src->type.dims[2 + i] == m->in[i];
    if (!src_ok)
        bad(c, "src is %s, not the NCHW input its parameters describe", tname(c, src));
    if (dst->type.rank != 2 || dst->type.dims[0] != mul(m->batch, pixels) ||
        dst->type.dims[1] != mul(m->channels, kernel))
        bad(c, "dst is %s, not [%lld,%lld] (batch x output pixels, channels x kernel)", tname(c, dst),
            (long long)mul(m->batch, pixels), (long long)mul(m->channels, kernel));
}

static void check_mvm(Checker *c, const Instr *in)
{
    const MvmParams *m = &in->mvm;
    const Buffer *src = &c->p->buffers[in->src[0]], *dst = &c->p->buffers[in->dst];
    expect_width(c, in->src[0], false, "src");
    if (!in_range(m->tile, 0, c->p->n_tiles - 1)) {
        bad(c, "tile %d does not exist (%d tiles)", m->tile, c->p->n_tiles);
        return;
    }
    const Tile *t = &c->p->tiles[m->tile];
    if (m->tile_row < 0 || m->rows < 1 || (int64_t)m->tile_row + m->rows > t->rows)
        bad(c, "rows %d+%d do not fit tile %d's %d rows", m->tile_row, m->rows, m->tile, t->rows);
    if (m->tile_col < 0 || m->phys_cols < 1 || (int64_t)m->tile_col + m->phys_cols > t->cols)
        bad(c, "columns %d+%d do not fit tile %d's %d columns", m->tile_col, m->phys_cols, m->tile, t->cols);
    bool analog = m->sign == SIGN_PAIR_ANALOG;
    if ((analog && m->phys_cols % 2 != 0) || m->out_cols != (analog ? m->phys_cols / 2 : m->phys_cols))
        bad(c, "%d output columns for %d physical columns under %s", m->out_cols, m->phys_cols,
            sign_mapping_name(m->sign));
    expect_float_mode(c, m->float_mode);
    /* DAC chunks below 2^16 times levels below 2^8 keep a product exact in float */
    if (!m->float_mode && !in_range(m->dac_bits, 1, 16))
        bad(c, "dac_bits %d is out of range 1..16", m->dac_bits);
    if (!m->float_mode && !in_range(m->in_bits, 1 + m->in_signed, 16))
        bad(c, "in_bits %d is out of range %d..16", m->in_bits, 1 + m->in_signed);
    /* pair-analog ADCs are signed: one bit would leave them the level 0 alone */
    int adc_min = m->sign == SIGN_PAIR_ANALOG ? 2 : 1;
    if (!m->float_mode && (!in_range(m->adc_bits, adc_min, 32) || !(isfinite(m->adc_max) && m->adc_max > 0)))
        bad(c, "ADC of %d bits (%d..32 under %s) and full scale %g is not valid", m->adc_bits, adc_min,
            sign_mapping_name(m->sign), m->adc_max);
    if (m->src_col < 0 || (int64_t)m->src_col + m->rows > last_dim(src))
        bad(c, "source columns %d+%d do not fit src %s", m->src_col, m->rows, tname(c, src));
    if (last_dim(dst) != m->out_cols || numel(dst) != mul(row_count(src), m->out_cols))
        bad(c, "dst is %s, not %lld rows of %d columns", tname(c, dst), (long long)row_count(src), m->out_cols);
    if (m->row_begin < 0 || m->row_begin > m->row_end || m->row_end > row_count(src))
        bad(c, "source rows %lld..%lld are not a range within 0..%lld", (long long)m->row_begin,
            (long long)m->row_end, (long long)row_count(src));
}

static void add_span(Checker *c, RowSpans *list, RowSpan span)
{
    ARENA_GROW(c->scratch, list->items, list->n, list->cap);
    list->items[list->n++] = span;
}

/* The combine's rows: a range of dst's rows, all written by the mvm it reads;
 * then its span of the accumulator for the partition check (columns_ok: its
 * columns lie within dst, else it is left out of that check). */
static void check_combine_rows(Checker *c, const Instr *in, bool columns_ok)
{
    const CombineParams *m = &in->combine;
    int64_t rows = row_count(&c->p->buffers[in->dst]);
    if (m->row_begin < 0 || m->row_begin > m->row_end || m->row_end > rows) {
        bad(c, "rows %lld..%lld are not a range within 0..%lld", (long long)m->row_begin, (long long)m->row_end,
            (long long)rows);
        return;
    }
    const int64_t *got = &c->mvm_rows[2 * in->src[0]];
    if (m->row_begin < m->row_end && got[0] <= got[1] && (m->row_begin < got[0] || m->row_end > got[1]))
        bad(c, "reads rows %lld..%lld of %s, but the mvm that wrote it wrote rows %lld..%lld",
            (long long)m->row_begin, (long long)m->row_end, bname(c, in->src[0]), (long long)got[0],
            (long long)got[1]);
    int instr = (int)(in - c->p->instrs);
    if (c->acc_writer[in->dst] < 0)
        c->acc_writer[in->dst] = instr;
    if (m->row_begin == m->row_end || !columns_ok)
        return;
    int64_t first = (int64_t)m->group * m->n_per_group + m->n0;
    add_span(c, m->accumulate ? &c->adds : &c->writes,
             (RowSpan){.acc = in->dst, .instr = instr, .col = first, .col_end = first + m->n_cols,
                       .begin = m->row_begin, .end = m->row_end});
}

static void check_combine(Checker *c, const Instr *in)
{
    const CombineParams *m = &in->combine;
    const Buffer *src = &c->p->buffers[in->src[0]], *dst = &c->p->buffers[in->dst];
    expect_width(c, in->dst, true, "dst");
    if (m->accumulate)
        reads(c, in->dst);
    if (m->group < 0 || m->n_per_group < 1 || m->n0 < 0 || m->n_cols < 1 ||
        (int64_t)m->n0 + m->n_cols > m->n_per_group) {
        bad(c, "columns %d+%d of group %d with %d per group are inconsistent", m->n0, m->n_cols, m->group,
            m->n_per_group);
        return;
    }
    bool columns_ok =
        last_dim(dst) % m->n_per_group == 0 && mul((int64_t)m->group + 1, m->n_per_group) <= last_dim(dst);
    if (!columns_ok)
        bad(c, "dst %s has no columns for group %d of %d", tname(c, dst), m->group, m->n_per_group);
    expect_float_mode(c, m->float_mode);
    if (!isfinite(m->offset_scale))
        bad(c, "offset_scale is not finite");
    if (!in_range(m->cell_bits, 1, 8) || !in_range(m->slices, 1, 32) ||
        (!m->float_mode && m->slices * m->cell_bits > 32)) {
        bad(c, "%d slices of %d bits are out of range (1..32 slices, 32 bits in all)", m->slices, m->cell_bits);
        return;
    }
    /* The mvm's output columns (docs/crossbar.md 5): one per (column, slice) pair
     * for pair-analog, both polarities for pair-digital, S references for offset. */
    int64_t need = (int64_t)m->n_cols * m->slices * (m->sign == SIGN_PAIR_DIGITAL ? 2 : 1) +
                   (m->sign == SIGN_OFFSET ? m->slices : 0);
    if (last_dim(src) != need || row_count(src) != row_count(dst))
        bad(c, "src %s does not hold %lld rows of %lld columns", tname(c, src), (long long)row_count(dst),
            (long long)need);
    check_combine_rows(c, in, columns_ok);
}

static void check_dequant(Checker *c, const Instr *in)
{
    const DequantParams *m = &in->dequant;
    const Buffer *src = &c->p->buffers[in->src[0]], *dst = &c->p->buffers[in->dst];
    expect_width(c, in->src[0], true, "src"), expect_width(c, in->dst, false, "dst");
    expect_width(c, in->src[1], false, "bias");
    if (!in_range(m->channels, 1, IR_MAX_NUMEL) || !in_range(m->batch, 0, IR_MAX_NUMEL) ||
        !in_range(m->pixels, 0, IR_MAX_NUMEL)) {
        bad(c, "batch %lld, channels %lld or pixels %lld out of range", (long long)m->batch,
            (long long)m->channels, (long long)m->pixels);
        return;
    }
    if (!m->out_scale && !c->p->float_weights)
        bad(c, "no output scales in a quantized program");
    for (int64_t i = 0; m->out_scale && i < m->channels; i++) {
        if (!isfinite(m->out_scale[i])) {
            bad(c, "output scale %lld is not finite", (long long)i);
            break;
        }
    }
    if (in->src[1] >= 0 && numel(&c->p->buffers[in->src[1]]) != m->channels)
        bad(c, "bias %s has %lld elements, not %lld", bname(c, in->src[1]),
            (long long)numel(&c->p->buffers[in->src[1]]), (long long)m->channels);
    if (last_dim(src) != m->channels || row_count(src) != mul(m->batch, m->pixels))
        bad(c, "src %s is not %lld rows (batch x pixels) of %lld columns", tname(c, src),
            (long long)mul(m->batch, m->pixels), (long long)m->channels);
    if (m->conv) {
        int64_t total = mul(mul(m->batch, m->channels), m->pixels);
        if (dst->type.rank < 2 || dst->type.dims[0] != m->batch || dst->type.dims[1] != m->channels ||
            numel(dst) != total)
            bad(c, "dst %s does not fit batch %lld, channels %lld, pixels %lld", tname(c, dst),
                (long long)m->batch, (long long)m->channels, (long long)m->pixels);
    } else if (numel(dst) != numel(src) || last_dim(dst) != m->channels) {
        bad(c, "dst %s does not match src %s", tname(c, dst), tname(c, src));
    }
}

/* The op against shape inference; its messages are re-reported under the instruction. */
static void check_digital(Checker *c, const Instr *in)
{
    const Op *op = in->op;
    for (int k = 0; k < 3; k++)
        if (in->src[k] != (k < op->n_inputs ? op->inputs[k]->id : -1))
            bad(c, "src%d is %d, not the op's input %d", k, in->src[k], k);
    for (int i = 0; i < op->n_inputs; i++) {
        expect_width(c, op->inputs[i]->id, false, "input");
        reads(c, op->inputs[i]->id);
        /* shape inference and the kernels take the IR's tensors, never empty */
        const Type *t = &op->inputs[i]->type;
        for (int d = 0; d < t->rank; d++)
            if (t->dims[d] < 1) {
                bad(c, "input %s is empty (%s): digital ops take no empty tensors", bname(c, op->inputs[i]->id),
                    tname(c, &c->p->buffers[op->inputs[i]->id]));
                return;
            }
    }
    expect_width(c, in->dst, false, "dst");
    Diags inner;
    diags_init(&inner, c->r->diags->arena);
    Type inferred;
    if (!ir_infer_type(op, &inferred, &inner)) {
        for (const DiagMsg *m = inner.first; m; m = m->next) {
            const char *text = strstr(m->text, "error: ");
            bad(c, "%s", text ? text + 7 : m->text);
        }
        return;
    }
    const Buffer *dst = &c->p->buffers[in->dst];
    if (!type_equal(&inferred, &dst->type))
        bad(c, "dst %s is %s but %s gives %s", bname(c, in->dst), tname(c, dst), op_info[op->kind].name,
            type_format(c->r->diags->arena, &inferred));
}

/* No instruction writes a buffer it reads (a combine that accumulates reads
 * its dst as such), and what mvms write is theirs: the simulator gives an
 * mvm's result float64 memory when its sums may pass 2^24, which only
 * combines read (either width) and only mvms write. */
static void check_aliases(Checker *c, const Instr *in)
{
    bool digital = in->opcode == INSTR_DIGITAL;
    int n = digital ? in->op->n_inputs : 3;
    for (int k = 0; k < n; k++) {
        int id = digital ? in->op->inputs[k]->id : in->src[k];
        if (id < 0)
            continue;
        if (id == in->dst)
            bad(c, "%s %s is also its dst: an instruction never writes a buffer it reads",
                digital ? "input" : arena_printf(c->r->diags->arena, "src%d", k), bname(c, id));
        else if (c->by_mvm[id] && !(in->opcode == INSTR_COMBINE && k == 0))
            bad(c, "reads %s, the result of an mvm, which only a combine (as its src0) may read", bname(c, id));
    }
    if (c->by_mvm[in->dst] && in->opcode != INSTR_MVM)
        bad(c, "writes %s, the result of an mvm, which only mvms may write", bname(c, in->dst));
}

static void check_instr(Checker *c, const Instr *in, int index)
{
    const char *name = opcode_names[in->opcode];
    c->where = in->opcode == INSTR_DIGITAL
                   ? arena_printf(c->r->diags->arena, "instruction %d (%s %s)", index, name,
                                  op_info[in->op->kind].name)
                   : arena_printf(c->r->diags->arena, "instruction %d (%s)", index, name);
    BufferKind kind = c->p->buffers[in->dst].kind;
    if (kind != BUF_TEMP && kind != BUF_OUTPUT)
        bad(c, "dst %s is %s; instructions write only temporaries and outputs", bname(c, in->dst),
            kind_names[kind]);
    check_aliases(c, in);
    if (in->opcode != INSTR_DIGITAL) {
        check_srcs(c, in, 1, in->opcode == INSTR_DEQUANT);
        for (int k = 0; k < 3; k++)
            reads(c, in->src[k]);
        /* the crossbar path computes on floats: integer and bool values stay digital */
        for (int k = -1; k < 3; k++) {
            int id = k < 0 ? in->dst : in->src[k];
            if (id >= 0 && id < c->p->n_buffers && c->p->buffers[id].type.dtype != DT_F32)
                bad(c, "%s is %s; crossbar instructions take f32 buffers only", bname(c, id),
                    dtype_name(c->p->buffers[id].type.dtype));
        }
    }
    if (in->src[0] >= 0 || in->opcode == INSTR_DIGITAL) {
        switch (in->opcode) {
        case INSTR_QUANT: check_quant(c, in); break;
        case INSTR_IM2COL: check_im2col(c, in); break;
        case INSTR_MVM: check_mvm(c, in); break;
        case INSTR_COMBINE: check_combine(c, in); break;
        case INSTR_DEQUANT: check_dequant(c, in); break;
        case INSTR_DIGITAL: check_digital(c, in); break;
        case INSTR_COUNT: break;
        }
    }
    c->written[in->dst] = true;
    int64_t *rows = &c->mvm_rows[2 * in->dst];
    rows[0] = in->opcode == INSTR_MVM ? in->mvm.row_begin : 0;
    rows[1] = in->opcode == INSTR_MVM ? in->mvm.row_end : -1;
    c->where = NULL;
}

/* Quantized tiles hold levels 0 .. 2^cell_bits - 1; float tiles finite weights. */
static void check_tiles(Checker *c)
{
    const Program *p = c->p;
    float top = (float)((1 << p->arch.cell_bits) - 1);
    if (p->arch.tiles > 0 && p->n_tiles > p->arch.tiles)
        bad(c, "the program uses %d tiles, more than the architecture's %d", p->n_tiles, p->arch.tiles);
    for (int i = 0; i < p->n_tiles; i++) {
        const Tile *t = &p->tiles[i];
        if (t->levels || t->packed)
            continue;           /* cell_bits-bit fields: levels by construction */
        for (int64_t k = 0, n = (int64_t)t->rows * t->cols; k < n; k++) {
            float v = tile_cell(t, (size_t)k);
            bool ok = p->float_weights ? isfinite(v) : v >= 0 && v <= top && v == floorf(v);
            if (!ok) {
                bad(c, "tile %d: cell (%lld, %lld) holds %g, %s", i, (long long)(k / t->cols),
                    (long long)(k % t->cols), v,
                    p->float_weights ? "not a finite weight"
                                     : arena_printf(c->r->diags->arena, "not a level 0..%g (cell_bits %d)", top,
                                                    p->arch.cell_bits));
                break;
            }
        }
    }
}

/* Every input buffer listed once, outputs listed and computed. */
static void check_io(Checker *c)
{
    const Program *p = c->p;
    int *listed = arena_array(c->r->diags->arena, (size_t)p->n_buffers + 1, sizeof(int));
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? p->n_outputs : p->n_inputs;
        const int *ids = pass ? p->outputs : p->inputs;
        BufferKind want = pass ? BUF_OUTPUT : BUF_INPUT;
        for (int i = 0; i < n; i++) {
            int id = ids[i];
            if (!in_range(id, 0, p->n_buffers - 1)) {
                bad(c, "%s %d names buffer %d, but there are %d", pass ? "output" : "input", i, id, p->n_buffers);
                continue;
            }
            if (p->buffers[id].kind != want)
                bad(c, "%s %d is %s, which is %s", pass ? "output" : "input", i, bname(c, id),
                    kind_names[p->buffers[id].kind]);
            else if (++listed[id] > 1 && !pass)
                bad(c, "input %s is listed twice", bname(c, id));
            else if (!p->buffers[id].name || !*p->buffers[id].name)
                bad(c, "%s %d is %s, which has no name (inputs are bound and outputs written by name)",
                    pass ? "output" : "input", i, bname(c, id));
            if (pass && !c->written[id])
                bad(c, "output %s is never computed", bname(c, id));
        }
    }
    for (int i = 0; i < p->n_buffers; i++) {
        const Buffer *b = &p->buffers[i];
        if ((b->kind == BUF_INPUT || b->kind == BUF_OUTPUT) && !listed[i])
            bad(c, "%s is %s but is not in the %s list", bname(c, i), kind_names[b->kind],
                b->kind == BUF_INPUT ? "input" : "output");
        if ((b->kind == BUF_INPUT || b->kind == BUF_OUTPUT) && b->wide)
            bad(c, "%s is %s but wide", bname(c, i), kind_names[b->kind]);
        if (b->wide && b->type.dtype != DT_F32)
            bad(c, "%s is wide but %s (a wide buffer is an f32 accumulator)", bname(c, i), dtype_name(b->type.dtype));
    }
}

/* Spans by accumulator, then first column. */
static int span_order(const void *a, const void *b)
{
    const RowSpan *x = a, *y = b;
    if (x->acc != y->acc)
        return x->acc < y->acc ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return (x->instr > y->instr) - (x->instr < y->instr);
}

/* Spans of one column by first row, then instruction. */
static int row_order(const void *a, const void *b)
{
    const RowSpan *x = *(const RowSpan *const *)a, *y = *(const RowSpan *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->instr > y->instr) - (x->instr < y->instr);
}

static int int64_order(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static const char *layer_of(const Checker *c, int instr)
{
    const char *layer = c->p->instrs[instr].layer;
    return layer ? layer : "-";
}

static void at_combine(Checker *c, int instr)
{
    c->where = arena_printf(c->r->diags->arena, "instruction %d (combine)", instr);
}

/* Column `col` of accumulator `acc`: the n writing spans that cover it
 * (sorted by first row) must partition its rows; false after reporting
 * (`instr` names the message when no span covers the column).  Messages
 * are made only when reported: a sweep visits up to rows x columns spans. */
static bool check_column_writes(Checker *c, int acc, int64_t col, const RowSpan *const *s, int n, int instr)
{
    int64_t rows = row_count(&c->p->buffers[acc]), expected = 0;
    if (n == 0) {
        at_combine(c, instr);
        bad(c, "no combine writes column %lld of %s", (long long)col, bname(c, acc));
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (s[i]->begin < expected) {
            at_combine(c, s[i]->instr);
            bad(c, "rows %lld..%lld of column %lld of %s are also written by instruction %d: the row ranges "
                "of layer %s's replicas overlap", (long long)s[i]->begin,
                (long long)(expected < s[i]->end ? expected : s[i]->end), (long long)col, bname(c, acc),
                s[i - 1]->instr, layer_of(c, s[i]->instr));
            return false;
        }
        if (s[i]->begin > expected) {
            at_combine(c, s[i]->instr);
            bad(c, "no combine writes rows %lld..%lld of column %lld of %s: the row ranges of layer %s's "
                "replicas must cover 0..%lld", (long long)expected, (long long)s[i]->begin, (long long)col,
                bname(c, acc), layer_of(c, s[i]->instr), (long long)rows);
            return false;
        }
        expected = s[i]->end;
    }
    if (expected < rows) {
        at_combine(c, s[n - 1]->instr);
        bad(c, "no combine writes rows %lld..%lld of column %lld of %s: the row ranges of layer %s's "
            "replicas must cover 0..%lld", (long long)expected, (long long)rows, (long long)col, bname(c, acc),
            layer_of(c, s[n - 1]->instr), (long long)rows);
        return false;
    }
    return true;
}

/* An accumulating span lies, in column col, inside one writing span of an
 * earlier combine: the one of the n (sorted) with the largest begin <= its begin. */
static bool check_column_add(Checker *c, int64_t col, const RowSpan *a, const RowSpan *const *s, int n)
{
    int lo = 0, hi = n;         /* the first span starting after a's first row */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (s[mid]->begin <= a->begin)
            lo = mid + 1;
        else
            hi = mid;
    }
    const RowSpan *w = lo > 0 ? s[lo - 1] : NULL;
    if (w && w->instr < a->instr && a->end <= w->end)
        return true;
    at_combine(c, a->instr);
    bad(c, "adds rows %lld..%lld of column %lld of %s, which no earlier combine wrote as one range",
        (long long)a->begin, (long long)a->end, (long long)col, bname(c, a->acc));
    return false;
}

/* One accumulator's spans, writing w[0..nw) and adding a[0..na) (each sorted
 * by first column).  The spans covering a column change only at their first
 * and last columns, so checking each of those columns (a sweep) checks every
 * column, in memory proportional to the spans, not to the columns. */
static void check_acc(Checker *c, int acc, const RowSpan *w, size_t nw, const RowSpan *a, size_t na)
{
    int64_t cols = last_dim(&c->p->buffers[acc]);
    /* The writing spans covering a column partition its rows, so a sweep
     * visits at most rows x columns of them: an accumulator of more float64s
     * than the memory limit holds is not swept (the memory check refuses it). */
    if ((uint64_t)numel(&c->p->buffers[acc]) > memory_limit() / sizeof(double))
        return;
    int64_t *edges = arena_array(c->scratch, 2 * (nw + na) + 1, sizeof *edges);
    size_t n_edges = 0;
    edges[n_edges++] = 0;
    for (size_t i = 0; i < nw; i++)
        edges[n_edges++] = w[i].col, edges[n_edges++] = w[i].col_end;
    for (size_t i = 0; i < na; i++)
        edges[n_edges++] = a[i].col, edges[n_edges++] = a[i].col_end;
    qsort(edges, n_edges, sizeof *edges, int64_order);
    /* the spans covering the current column; the writing ones sorted by row */
    const RowSpan **on_w = arena_array(c->scratch, nw + 1, sizeof *on_w);
    const RowSpan **on_a = arena_array(c->scratch, na + 1, sizeof *on_a);
    const RowSpan **sorted = arena_array(c->scratch, nw + 1, sizeof *sorted);
    size_t n_w = 0, n_a = 0, next_w = 0, next_a = 0;
    bool writes = nw > 0, adds = na > 0;        /* still checking: one message each per accumulator */
    for (size_t e = 0; e < n_edges && (writes || adds); e++) {
        int64_t col = edges[e];
        if ((e > 0 && col == edges[e - 1]) || col >= cols)
            continue;
        size_t k = 0;
        for (size_t i = 0; i < n_w; i++)
            if (on_w[i]->col_end > col)
                on_w[k++] = on_w[i];
        for (n_w = k; next_w < nw && w[next_w].col <= col; next_w++)
            on_w[n_w++] = &w[next_w];
        k = 0;
        for (size_t i = 0; i < n_a; i++)
            if (on_a[i]->col_end > col)
                on_a[k++] = on_a[i];
        for (n_a = k; next_a < na && a[next_a].col <= col; next_a++)
            on_a[n_a++] = &a[next_a];
        memcpy(sorted, on_w, n_w * sizeof *sorted);
        if (n_w > 1)
            qsort(sorted, n_w, sizeof *sorted, row_order);
        if (writes)
            writes = check_column_writes(c, acc, col, sorted, (int)n_w, w[next_w < nw ? next_w : nw - 1].instr);
        for (size_t i = 0; i < n_a && adds; i++)
            adds = check_column_add(c, col, on_a[i], sorted, (int)n_w);
    }
}

/* For every accumulator column: its writing combines' rows partition 0..rows
 * (the replicas of a layer, docs/crossbar.md 6), and each accumulating combine
 * lies inside one range written before it. */
static void check_partitions(Checker *c)
{
    RowSpans *w = &c->writes, *a = &c->adds;
    if (w->n > 0)               /* qsort wants a non-NULL array even for nothing */
        qsort(w->items, w->n, sizeof *w->items, span_order);
    if (a->n > 0)
        qsort(a->items, a->n, sizeof *a->items, span_order);
    for (size_t i = 0, j = 0; i < w->n || j < a->n;) {
        int acc = i < w->n && (j == a->n || w->items[i].acc <= a->items[j].acc) ? w->items[i].acc : a->items[j].acc;
        size_t i1 = i, j1 = j;
        while (i1 < w->n && w->items[i1].acc == acc)
            i1++;
        while (j1 < a->n && a->items[j1].acc == acc)
            j1++;
        check_acc(c, acc, w->n ? w->items + i : NULL, i1 - i, a->n ? a->items + j : NULL, j1 - j);
        if (i1 > i)
            c->acc_writer[acc] = -1;
        i = i1, j = j1;
    }
    for (int id = 0; id < c->p->n_buffers; id++) {
        const Buffer *acc = &c->p->buffers[id];
        if (c->acc_writer[id] >= 0 && row_count(acc) > 0 && last_dim(acc) > 0) {
            at_combine(c, c->acc_writer[id]);
            bad(c, "no combine writes any row of %s (layer %s)", bname(c, id), layer_of(c, c->acc_writer[id]));
        }
    }
    c->where = NULL;
}

void program_check(Reader *r)
{
    Checker c = {.r = r, .p = r->program, .scratch = arena_new()};
    c.written = arena_array(c.scratch, (size_t)c.p->n_buffers + 1, sizeof(bool));
    c.mvm_rows = arena_array(c.scratch, 2 * (size_t)c.p->n_buffers + 2, sizeof(int64_t));
    c.acc_writer = arena_array(c.scratch, (size_t)c.p->n_buffers + 1, sizeof(int));
    c.by_mvm = arena_array(c.scratch, (size_t)c.p->n_buffers + 1, sizeof(bool));
    for (int i = 0; i < c.p->n_buffers; i++) {
        c.written[i] = c.p->buffers[i].kind == BUF_INPUT || c.p->buffers[i].kind == BUF_CONST;
        c.mvm_rows[2 * i + 1] = -1;
        c.acc_writer[i] = -1;
    }
    for (int i = 0; i < c.p->n_instrs; i++)
        if (c.p->instrs[i].opcode == INSTR_MVM)
            c.by_mvm[c.p->instrs[i].dst] = true;
    check_tiles(&c);
    for (int i = 0; i < c.p->n_instrs; i++)
        check_instr(&c, &c.p->instrs[i], i);
    check_partitions(&c);
    check_io(&c);
    arena_free(c.scratch);
    /* last, on a program the simulator can run: whether this machine can */
    if (c.n_errors == 0)
        memory_check(sim_memory_bound(c.p), 1, "simulating the program", &r->loc, r->diags);
}
