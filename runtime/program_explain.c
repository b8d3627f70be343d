/* program_explain.c: a program as a table, like SQLite's EXPLAIN.
 *
 * Four blocks: the architecture (one field a line), the buffers, the tiles
 * (size, cells the program's blocks cover, cells holding a nonzero level, the
 * layers reading them), then one row per instruction with its operands, its
 * parameters spelled compactly and the layer it belongs to.  Each row's text is
 * built first so that every column can be padded to its widest entry; the
 * layer column comes after the details, padded to the widest of the rows
 * under DETAILS_PAD_MAX characters, so that one long attribute list pushes only
 * its own layer name to the right. */
#include "runtime/program.h"

#include <string.h>

const char *const opcode_names[INSTR_COUNT] = {
#define X(id, name) [INSTR_##id] = name,
    PROGRAM_OPCODES(X)
#undef X
};

enum { DETAILS_PAD_MAX = 100 };

static const char *const buffer_kinds[] = {
    [BUF_INPUT] = "input", [BUF_OUTPUT] = "output", [BUF_CONST] = "const", [BUF_TEMP] = "temp",
};

/* A growing line of text in the arena. */
typedef struct {
    Arena *arena;
    char *s;
    size_t n, cap;
} Text;

static void add(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(Text *t, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0 && t->n + (size_t)n + 1 > t->cap) {
        size_t cap = 2 * (t->n + (size_t)n + 1) + 64;
        char *s = arena_alloc(t->arena, cap);
        if (t->n)
            memcpy(s, t->s, t->n);
        t->s = s;
        t->cap = cap;
    }
    if (n > 0)
        vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap2);
    va_end(ap2);
    t->n += n > 0 ? (size_t)n : 0;
}

static const char *text(const Text *t) { return t->s ? t->s : ""; }

static const char *buffer_type(Arena *arena, const Buffer *b)
{
    char *s = type_format(arena, &b->type);
    if (b->wide)
        memcpy(s, "f64", 3);    /* float64 accumulators */
    return s;
}

static void add_ints(Text *t, const char *sep, const int64_t *v, int n)
{
    for (int i = 0; i < n; i++)
        add(t, "%s%lld", i ? sep : "", (long long)v[i]);
}

static void explain_arch(const Program *p, FILE *out)
{
    const Arch *a = &p->arch;
    fprintf(out, "program: %s weights\n", p->float_weights ? "float" : "quantized");
    if (p->tuned)
        fprintf(out, "fine-tuned for the chip of seed %llu: %s\n", (unsigned long long)p->tuned_seed,
                p->tuned_chip && *p->tuned_chip ? p->tuned_chip : "ideal (no non-idealities)");
    fprintf(out, "\narchitecture\n");
    fprintf(out, "  %-18s %d\n  %-18s %d\n  %-18s %d\n", "rows", a->rows, "cols", a->cols, "cell_bits",
            a->cell_bits);
    fprintf(out, "  %-18s %g\n  %-18s %g\n", "g_min_us", a->g_min_us, "g_max_us", a->g_max_us);
    fprintf(out, "  %-18s %d\n  %-18s %s\n", "weight_bits", a->weight_bits, "weight_granularity",
            a->weight_per_layer ? "layer" : "channel");
    fprintf(out, "  %-18s %d\n  %-18s %d\n  %-18s %d\n  %-18s %d\n", "input_bits", a->input_bits, "dac_bits",
            a->dac_bits, "adc_bits", a->adc_bits, "cols_per_adc", a->cols_per_adc);
    fprintf(out, "  %-18s %s\n", "sign", sign_mapping_name(a->sign));
    if (a->tiles > 0)
        fprintf(out, "  %-18s %d\n", "tiles", a->tiles);
    else
        fprintf(out, "  %-18s unbounded\n", "tiles");
}

static void explain_buffers(const Program *p, Arena *arena, FILE *out)
{
    int type_w = 4;
    for (int i = 0; i < p->n_buffers; i++) {
        int w = (int)strlen(buffer_type(arena, &p->buffers[i]));
        type_w = w > type_w ? w : type_w;
    }
    fprintf(out, "\nbuffers (%d)\n  %4s  %-6s  %-*s  %s\n", p->n_buffers, "id", "kind", type_w, "type", "name");
    for (int i = 0; i < p->n_buffers; i++) {
        const Buffer *b = &p->buffers[i];
        fprintf(out, "  %4d  %-6s  %-*s  %s\n", i, buffer_kinds[b->kind], type_w, buffer_type(arena, b),
                b->name ? b->name : "-");
    }
}

/* Distinct layer names, in first-use order. */
typedef struct {
    const char **names;
    int n, cap;
} Layers;

static void add_layer(Arena *arena, Layers *l, const char *name)
{
    for (int i = l->n - 1; i >= 0; i--)
        if (strcmp(l->names[i], name) == 0)
            return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4;
        const char **grown = arena_array(arena, (size_t)l->cap, sizeof *grown);
        if (l->n)
            memcpy(grown, l->names, (size_t)l->n * sizeof *grown);
        l->names = grown;
    }
    l->names[l->n++] = name;
}

/* Cells covered by the blocks read from each tile (a block read twice counts
 * once), cells holding a nonzero level, and the layers that read the tile. */
static void explain_tiles(const Program *p, Arena *arena, FILE *out)
{
    bool **used = arena_array(arena, (size_t)p->n_tiles + 1, sizeof(bool *));
    Layers *layers = arena_array(arena, (size_t)p->n_tiles + 1, sizeof(Layers));
    for (int k = 0; k < p->n_instrs; k++) {
        const MvmParams *m = &p->instrs[k].mvm;
        if (p->instrs[k].opcode != INSTR_MVM || m->tile < 0 || m->tile >= p->n_tiles)
            continue;
        const Tile *t = &p->tiles[m->tile];
        if (!used[m->tile])
            used[m->tile] = arena_array(arena, (size_t)t->rows * (size_t)t->cols + 1, sizeof(bool));
        for (int r = m->tile_row < 0 ? 0 : m->tile_row; r < m->tile_row + m->rows && r < t->rows; r++)
            for (int c = m->tile_col < 0 ? 0 : m->tile_col; c < m->tile_col + m->phys_cols && c < t->cols; c++)
                used[m->tile][(size_t)r * (size_t)t->cols + (size_t)c] = true;
        add_layer(arena, &layers[m->tile], p->instrs[k].layer ? p->instrs[k].layer : "-");
    }
    fprintf(out, "\ntiles (%d)\n  %4s  %-9s  %9s  %9s  %s\n", p->n_tiles, "tile", "size", "used", "nonzero",
            "layers");
    for (int i = 0; i < p->n_tiles; i++) {
        const Tile *t = &p->tiles[i];
        size_t n = (size_t)t->rows * (size_t)t->cols, n_used = 0, n_nonzero = 0;
        for (size_t k = 0; k < n; k++)
            n_used += used[i] && used[i][k], n_nonzero += tile_cell(t, k) != 0;
        char size[32];
        snprintf(size, sizeof size, "%dx%d", t->rows, t->cols);
        fprintf(out, "  %4d  %-9s  %9zu  %9zu  ", i, size, n_used, n_nonzero);
        for (int k = 0; k < layers[i].n; k++)
            fprintf(out, "%s%s", k ? "," : "", layers[i].names[k]);
        fprintf(out, "%s\n", layers[i].n ? "" : "(unused)");
    }
    bool header = false;
    for (int i = 0; i < p->n_tiles; i++) {
        const Tile *t = &p->tiles[i];
        size_t n = (size_t)t->rows * (size_t)t->cols;
        uint64_t total = 0;
        uint32_t most = 0;
        for (size_t k = 0; t->cell_writes && k < n; k++)
            total += t->cell_writes[k], most = t->cell_writes[k] > most ? t->cell_writes[k] : most;
        if (!t->cell_writes)
            continue;
        if (!header)
            fprintf(out, "\ncell writes (in-memory training)\n  %4s  %12s  %10s  %12s\n", "tile", "total", "most",
                    "mean"), header = true;
        fprintf(out, "  %4d  %12llu  %10u  %12.2f\n", i, (unsigned long long)total, most, (double)total / (double)n);
    }
}

static void add_attr(Text *t, const Attr *a)
{
    add(t, " %s=", a->name);
    switch (a->kind) {
    case ATTR_INT: add(t, "%lld", (long long)a->i); break;
    case ATTR_FLOAT: add(t, "%g", a->f); break;
    case ATTR_INTS:
        add(t, "[");
        add_ints(t, ",", a->ints, a->count);
        add(t, "]");
        break;
    case ATTR_FLOATS:
        add(t, "[");
        for (int i = 0; i < a->count; i++)
            add(t, "%s%g", i ? "," : "", a->floats[i]);
        add(t, "]");
        break;
    case ATTR_STRING:
        add(t, "\"");
        for (const char *c = a->s; *c; c++)
            add(t, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        add(t, "\"");
        break;
    }
}

/* Input passes and DAC cycles of one read: "8" or "2x7" for signed codes. */
static void add_cycles(Text *t, const MvmParams *m)
{
    int magnitude = m->in_bits - m->in_signed;
    int cycles = m->dac_bits > 0 ? (magnitude + m->dac_bits - 1) / m->dac_bits : 0;
    if (m->in_signed)
        add(t, " cycles=2x%d", cycles);
    else
        add(t, " cycles=%d", cycles);
}

/* Rows of a buffer read as a matrix of its last dimension (docs/crossbar.md 8). */
static int64_t buffer_rows(const Program *p, int id)
{
    if (id < 0 || id >= p->n_buffers)
        return -1;
    const Type *t = &p->buffers[id].type;
    int64_t width = t->rank > 0 ? t->dims[t->rank - 1] : 1;
    return width > 0 ? type_numel(t) / width : 0;
}

/* A replica's share of the source rows, when it is not all of them. */
static void add_pixels(Text *t, int64_t begin, int64_t end, int64_t rows)
{
    if (begin != 0 || end != rows)
        add(t, " pixels=%lld..%lld", (long long)begin, (long long)end);
}

static void instr_details(Text *t, const Program *p, const Instr *in)
{
    switch (in->opcode) {
    case INSTR_QUANT:
        if (in->quant.float_mode)
            add(t, "float");
        else
            add(t, "scale=%g bits=%d %s", in->quant.scale, in->quant.bits, in->quant.is_signed ? "signed" : "unsigned");
        break;
    case INSTR_IM2COL: {
        const Im2colParams *c = &in->im2col;
        int s = c->spatial >= 1 && c->spatial <= 3 ? c->spatial : 0;
        add(t, "n=%lld c=%lld g=%lld in=", (long long)c->batch, (long long)c->channels, (long long)c->group);
        add_ints(t, "x", c->in, s);
        add(t, " k=");
        add_ints(t, "x", c->kernel, s);
        add(t, " s=");
        add_ints(t, "x", c->strides, s);
        add(t, " d=");
        add_ints(t, "x", c->dilations, s);
        add(t, " pads=");
        add_ints(t, ",", c->pads, 2 * s);
        add(t, " out=");
        add_ints(t, "x", c->out, s);
        break;
    }
    case INSTR_MVM: {
        const MvmParams *m = &in->mvm;
        add(t, "tile=%d rows=%d+%d cols=%d+%d src_col=%d out=%d", m->tile, m->tile_row, m->rows, m->tile_col,
            m->phys_cols, m->src_col, m->out_cols);
        add_pixels(t, m->row_begin, m->row_end, buffer_rows(p, in->src[0]));
        if (m->float_mode) {
            add(t, " float");
        } else {
            add_cycles(t, m);
            add(t, " dac=%db adc=%db/%g", m->dac_bits, m->adc_bits, m->adc_max);
        }
        add(t, " sign=%s", sign_mapping_name(m->sign));
        break;
    }
    case INSTR_COMBINE: {
        const CombineParams *c = &in->combine;
        add(t, "g=%d n=%d+%d/%d slices=%dx%db sign=%s %s", c->group, c->n0, c->n_cols, c->n_per_group, c->slices,
            c->cell_bits, sign_mapping_name(c->sign), c->accumulate ? "add" : "write");
        add_pixels(t, c->row_begin, c->row_end, buffer_rows(p, in->dst));
        if (c->float_mode)
            add(t, " float offset=%g", c->offset_scale);
        break;
    }
    case INSTR_DEQUANT: {
        const DequantParams *d = &in->dequant;
        if (d->conv)
            add(t, "conv n=%lld c=%lld pixels=%lld", (long long)d->batch, (long long)d->channels,
                (long long)d->pixels);
        else
            add(t, "matmul c=%lld", (long long)d->channels);
        if (d->out_scale && d->channels > 0) {
            float lo = d->out_scale[0], hi = d->out_scale[0];
            for (int64_t i = 1; i < d->channels; i++)
                lo = d->out_scale[i] < lo ? d->out_scale[i] : lo, hi = d->out_scale[i] > hi ? d->out_scale[i] : hi;
            add(t, lo == hi ? " scale=%g" : " scale=%g..%g", lo, hi);
        }
        break;
    }
    case INSTR_DIGITAL: {
        const Op *op = in->op;
        add(t, "%s", op_info[op->kind].name);
        if (op->n_inputs > 3) {
            add(t, " in=");
            for (int i = 0; i < op->n_inputs; i++)
                add(t, "%s%d", i ? "," : "", op->inputs[i]->id);
        }
        for (int i = 0; i < op->n_attrs; i++)
            add_attr(t, &op->attrs[i]);
        /* A product left to the digital units (attention's q k^T, its
         * weights times V): its MACs, so a reader sees what the crossbars
         * did not do (docs/perf.md 3). */
        double macs = ir_op_macs(op);
        if (macs > 0)
            add(t, " macs=%.0f", macs);
        break;
    }
    case INSTR_COUNT: break;
    }
}

static void explain_instrs(const Program *p, Arena *arena, FILE *out)
{
    const char **details = arena_array(arena, (size_t)p->n_instrs + 1, sizeof(char *));
    int width = 7;
    for (int i = 0; i < p->n_instrs; i++) {
        Text t = {.arena = arena};
        instr_details(&t, p, &p->instrs[i]);
        details[i] = text(&t);
        if ((int)t.n > width && t.n <= DETAILS_PAD_MAX)
            width = (int)t.n;
    }
    fprintf(out, "\ninstructions (%d)\n  %5s  %-7s  %5s  %5s  %5s  %5s  %-*s  %s\n", p->n_instrs, "addr", "opcode",
            "dst", "src0", "src1", "src2", width, "details", "layer");
    for (int i = 0; i < p->n_instrs; i++) {
        const Instr *in = &p->instrs[i];
        char src[3][16];
        for (int k = 0; k < 3; k++) {
            if (in->src[k] < 0)
                strcpy(src[k], "-");
            else
                snprintf(src[k], sizeof src[k], "%d", in->src[k]);
        }
        fprintf(out, "  %5d  %-7s  %5d  %5s  %5s  %5s  %-*s  %s\n", i, opcode_names[in->opcode], in->dst, src[0],
                src[1], src[2], width, details[i], in->layer ? in->layer : "-");
    }
}

void program_explain(const Program *program, FILE *out)
{
    Arena *scratch = arena_new();
    explain_arch(program, out);
    explain_buffers(program, scratch, out);
    explain_tiles(program, scratch, out);
    explain_instrs(program, scratch, out);
    arena_free(scratch);
}
