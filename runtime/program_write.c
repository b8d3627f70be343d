/* program_write.c: a program to its file (docs/program-format.md).
 *
 * Little-endian, field by field (never a struct's memory), section after
 * section in the order of program_format.h.  The writer streams through a
 * 1 MiB buffer into its stream of the command's outputs (ir/file.c: a
 * temporary beside the target, renamed into place at commit only when every
 * output is complete), and patches each section's length when the section
 * ends (in the buffer when it is still there, else with a seek).  A stream
 * that cannot seek (a pipe, a FIFO, a terminal) gets the whole file held in
 * the buffer and written at the end.  Tiles, most of the bytes, are packed
 * straight into the buffer.  Names are stored once, in a string table, and
 * referred to by index. */
#include "runtime/program_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OUT_BUFFER = 1 << 20 };

typedef struct {
    FILE *fp;
    off_t base;                 /* where the file starts in fp */
    bool hold;                  /* fp cannot seek: the buffer grows to the whole file */
    unsigned char *buf;         /* malloc'ed */
    size_t n, cap;              /* bytes in buf, its size */
    uint64_t flushed;           /* bytes already handed to fp */
    bool failed;
    int err;                    /* errno of the first failure */
    int bad_tile;               /* a tile with a level beyond cell_bits, else -1 */
} Out;

static void out_flush(Out *o)
{
    if (o->n && !o->failed && fwrite(o->buf, 1, o->n, o->fp) != o->n) {
        o->failed = true;
        o->err = errno ? errno : EIO;
    }
    o->flushed += o->n;
    o->n = 0;
}

/* Room for k more bytes (at most OUT_BUFFER unless the buffer holds the
 * whole file): the buffer is written out, or grown (from nothing at first). */
static void out_room(Out *o, size_t k)
{
    if (o->cap - o->n >= k)
        return;
    if (!o->hold && o->cap) {
        out_flush(o);
        return;
    }
    size_t cap = 2 * o->cap > o->n + k ? 2 * o->cap : o->n + k;
    unsigned char *buf = realloc(o->buf, cap);
    if (!buf) {
        fprintf(stderr, "xbarc: out of memory (a program buffer of %zu bytes)\n", cap);
        abort();
    }
    o->buf = buf;
    o->cap = cap;
}

static void put_bytes(Out *o, const void *data, size_t n)
{
    const unsigned char *s = data;
    if (o->hold)
        out_room(o, n);
    while (n) {
        if (o->n == o->cap)
            out_flush(o);
        size_t k = o->cap - o->n < n ? o->cap - o->n : n;
        memcpy(o->buf + o->n, s, k);
        o->n += k;
        s += k;
        n -= k;
    }
}

static void put_u8(Out *o, unsigned v)
{
    out_room(o, 1);
    o->buf[o->n++] = (unsigned char)v;
}

static void put_u32(Out *o, uint32_t v)
{
    out_room(o, 4);
    unsigned char *b = o->buf + o->n;
    b[0] = (unsigned char)v, b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16), b[3] = (unsigned char)(v >> 24);
    o->n += 4;
}

static void put_u64(Out *o, uint64_t v) { put_u32(o, (uint32_t)v), put_u32(o, (uint32_t)(v >> 32)); }
static void put_i32(Out *o, int v) { put_u32(o, (uint32_t)v); }
static void put_i64(Out *o, int64_t v) { put_u64(o, (uint64_t)v); }

static void put_f32(Out *o, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    put_u32(o, u);
}

static void put_f64(Out *o, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    put_u64(o, u);
}

static uint64_t begin_section(Out *o, int section)
{
    put_bytes(o, program_sections[section].tag, 4);
    uint64_t at = o->flushed + o->n;
    put_u64(o, 0);
    return at;
}

/* Patches the length field at `at`: in the buffer when it is still there. */
static void end_section(Out *o, uint64_t at)
{
    uint64_t length = o->flushed + o->n - (at + 8);
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(length >> (8 * i));
    if (at >= o->flushed) {
        memcpy(o->buf + (at - o->flushed), b, 8);
        return;
    }
    out_flush(o);
    if (!o->failed && (fseeko(o->fp, o->base + (off_t)at, SEEK_SET) != 0 || fwrite(b, 1, 8, o->fp) != 8 ||
                       fseeko(o->fp, 0, SEEK_END) != 0)) {
        o->failed = true;
        o->err = errno ? errno : EIO;
    }
}

/* The string table: every name once, found again by an open-addressing hash. */
typedef struct {
    Arena *arena;
    const char **strings;
    uint32_t n, cap;
    uint32_t *slots;            /* string index + 1, 0 when empty */
    uint32_t n_slots;           /* a power of two, at least twice n */
} Strings;

static uint32_t *find_slot(const Strings *t, const char *s)
{
    uint64_t h = 14695981039346656037u;   /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        h = (h ^ *c) * 1099511628211u;
    for (uint32_t i = (uint32_t)h & (t->n_slots - 1);; i = (i + 1) & (t->n_slots - 1))
        if (!t->slots[i] || strcmp(t->strings[t->slots[i] - 1], s) == 0)
            return &t->slots[i];
}

static void intern(Strings *t, const char *s)
{
    if (!s)
        return;
    if (2 * (t->n + 1) > t->n_slots) {
        Strings bigger = *t;
        bigger.n_slots = t->n_slots ? 2 * t->n_slots : 256;
        bigger.slots = arena_array(t->arena, bigger.n_slots, sizeof(uint32_t));
        for (uint32_t i = 0; i < t->n; i++)
            *find_slot(&bigger, t->strings[i]) = i + 1;
        *t = bigger;
    }
    uint32_t *slot = find_slot(t, s);
    if (*slot)
        return;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        const char **grown = arena_array(t->arena, t->cap, sizeof *grown);
        if (t->n)
            memcpy(grown, t->strings, t->n * sizeof *grown);
        t->strings = grown;
    }
    t->strings[t->n++] = s;
    *slot = t->n;
}

static void put_string(Out *o, const Strings *t, const char *s)
{
    put_u32(o, s ? *find_slot(t, s) - 1 : NO_STRING);
}

static void collect_strings(Strings *t, const Program *p)
{
    for (int i = 0; i < p->n_buffers; i++)
        intern(t, p->buffers[i].name);
    for (int i = 0; i < p->n_instrs; i++) {
        const Instr *in = &p->instrs[i];
        intern(t, in->layer);
        if (in->opcode != INSTR_DIGITAL)
            continue;
        intern(t, op_info[in->op->kind].name);
        intern(t, in->op->loc.node);
        intern(t, in->op->loc.node_op);
        for (int a = 0; a < in->op->n_attrs; a++) {
            intern(t, in->op->attrs[a].name);
            if (in->op->attrs[a].kind == ATTR_STRING)
                intern(t, in->op->attrs[a].s);
        }
    }
}

static void write_arch(Out *o, const Arch *a)
{
    put_i32(o, a->rows), put_i32(o, a->cols), put_i32(o, a->cell_bits);
    put_f64(o, a->g_min_us), put_f64(o, a->g_max_us);
    put_i32(o, a->weight_bits), put_u8(o, a->weight_per_layer);
    put_i32(o, a->input_bits), put_i32(o, a->dac_bits), put_i32(o, a->adc_bits);
    put_i32(o, a->cols_per_adc), put_u8(o, (unsigned)a->sign), put_i32(o, a->tiles);
}

/* n levels packed at `bits` bits each into packed_bytes(n, bits) bytes
 * (docs/program-format.md, TILE).  Returns the OR of all levels, so that the
 * caller sees a level that does not fit without a pass of its own.  Eight
 * levels are eight bytes and b whole bytes when packed: the common widths fold
 * a 64-bit word with shifts and masks, the others go through a bit stream. */
static unsigned pack_levels(const uint8_t *levels, size_t n, int bits, unsigned char *out)
{
    uint64_t seen = 0;
    size_t k = 0;
    if (bits == 1 || bits == 2 || bits == 4 || bits == 8) {
        for (; k + 8 <= n; k += 8, out += bits) {
            uint64_t x;
            memcpy(&x, levels + k, 8);
            seen |= x;
            if (bits <= 4) {    /* pairs of bytes into one, to 2 or 4 bytes */
                x = (x | x >> (8 - bits)) & (bits == 1 ? 0x0003000300030003u : bits == 2 ? 0x000f000f000f000fu
                                                                                            : 0x00ff00ff00ff00ffu);
                x = (x | x >> (16 - 2 * bits)) & (bits == 4 ? 0x0000ffff0000ffffu : 0x000000ff000000ffu);
                x = x | x >> (32 - 4 * bits);
            }
            for (int b = 0; b < bits; b++)
                out[b] = (unsigned char)(x >> (8 * b));
        }
    }
    uint32_t acc = 0;
    int filled = 0;
    for (; k < n; k++) {
        seen |= levels[k];
        acc |= (uint32_t)levels[k] << filled;
        for (filled += bits; filled >= 8; filled -= 8, acc >>= 8)
            *out++ = (unsigned char)acc;
    }
    if (filled)
        *out = (unsigned char)acc;
    for (int b = 1; b < 8; b++)
        seen |= seen >> (8 * b);
    return (unsigned)(seen & 0xff);
}

/* A quantized tile goes out packed, a float-weight one as f32.  A quantized
 * tile given as float cells (built by hand) is packed when every cell is a
 * level; otherwise it goes out as f32, for the reader to refuse by cell.
 * Packed cells go straight into the buffer when they fit in it. */
static void write_tile(Out *o, const Tile *tile, const Program *p, uint8_t *levels, unsigned char *packed)
{
    size_t n = (size_t)tile->rows * (size_t)tile->cols;
    int bits = p->arch.cell_bits;
    bool pack = !p->float_weights && bits >= 1 && bits <= 8;
    bool as_read = pack && tile->packed && tile->packed_bits == bits;     /* the same bytes */
    if (pack && tile->packed && !as_read)
        tile_levels(tile, 0, n, levels);    /* read at other bits: repacked below */
    if (pack && !tile->levels && !tile->packed) {
        float top = (float)((1 << bits) - 1);
        for (size_t i = 0; i < n && pack; i++) {
            float v = tile->cells[i];
            pack = v >= 0 && v <= top && v == (float)(int)v;
            levels[i] = pack ? (uint8_t)v : 0;
        }
    }
    put_i32(o, tile->rows), put_i32(o, tile->cols), put_u8(o, pack ? CELLS_PACKED : CELLS_F32);
    put_u32(o, tile->writes);
    put_u8(o, tile->cell_writes != NULL);
    if (as_read) {
        put_bytes(o, tile->packed, packed_bytes(n, bits));
    } else if (pack) {
        size_t size = packed_bytes(n, bits);
        bool direct = o->hold || size <= OUT_BUFFER;
        if (direct)
            out_room(o, size);
        if (pack_levels(tile->levels ? tile->levels : levels, n, bits, direct ? o->buf + o->n : packed) >> bits) {
            o->failed = true;
            o->bad_tile = (int)(tile - p->tiles);
        }
        if (direct)
            o->n += size;
        else
            put_bytes(o, packed, size);
    } else {
        for (size_t i = 0; i < n; i++)
            put_f32(o, tile_cell(tile, i));
    }
    for (size_t i = 0; tile->cell_writes && i < n; i++)
        put_u32(o, tile->cell_writes[i]);
}

static void write_digital(Out *o, const Strings *t, const Op *op)
{
    put_string(o, t, op_info[op->kind].name);
    put_string(o, t, op->loc.node), put_i32(o, op->loc.node_index), put_string(o, t, op->loc.node_op);
    put_u32(o, (uint32_t)op->n_inputs);
    for (int i = 0; i < op->n_inputs; i++)
        put_i32(o, op->inputs[i]->id);
    put_u32(o, (uint32_t)op->n_attrs);
    for (int i = 0; i < op->n_attrs; i++) {
        const Attr *a = &op->attrs[i];
        put_string(o, t, a->name), put_u8(o, (unsigned)a->kind);
        switch (a->kind) {
        case ATTR_INT: put_i64(o, a->i); break;
        case ATTR_FLOAT: put_f32(o, a->f); break;
        case ATTR_INTS:
            put_u32(o, (uint32_t)a->count);
            for (int k = 0; k < a->count; k++)
                put_i64(o, a->ints[k]);
            break;
        case ATTR_FLOATS:
            put_u32(o, (uint32_t)a->count);
            for (int k = 0; k < a->count; k++)
                put_f32(o, a->floats[k]);
            break;
        case ATTR_STRING: put_string(o, t, a->s); break;
        }
    }
}

static void write_instr(Out *o, const Strings *t, const Instr *in)
{
    put_u8(o, (unsigned)in->opcode), put_i32(o, in->dst);
    for (int i = 0; i < 3; i++)
        put_i32(o, in->src[i]);
    put_string(o, t, in->layer);
    switch (in->opcode) {
    case INSTR_QUANT: {
        const QuantParams *q = &in->quant;
        put_f32(o, q->scale), put_i32(o, q->bits), put_u8(o, q->is_signed), put_u8(o, q->float_mode);
        break;
    }
    case INSTR_IM2COL: {
        const Im2colParams *c = &in->im2col;
        put_u8(o, (unsigned)c->spatial), put_i64(o, c->batch), put_i64(o, c->channels), put_i64(o, c->group);
        for (int i = 0; i < 3; i++)
            put_i64(o, c->in[i]), put_i64(o, c->kernel[i]), put_i64(o, c->out[i]),
                put_i64(o, c->strides[i]), put_i64(o, c->dilations[i]);
        for (int i = 0; i < 6; i++)
            put_i64(o, c->pads[i]);
        break;
    }
    case INSTR_MVM: {
        const MvmParams *m = &in->mvm;
        put_i32(o, m->tile), put_i32(o, m->tile_row), put_i32(o, m->tile_col), put_i32(o, m->rows);
        put_i32(o, m->src_col), put_i32(o, m->phys_cols), put_i32(o, m->out_cols);
        put_i32(o, m->dac_bits), put_i32(o, m->in_bits), put_u8(o, m->in_signed), put_u8(o, (unsigned)m->sign);
        put_i32(o, m->adc_bits), put_f32(o, m->adc_max), put_u8(o, m->float_mode);
        put_i64(o, m->row_begin), put_i64(o, m->row_end);
        break;
    }
    case INSTR_COMBINE: {
        const CombineParams *c = &in->combine;
        put_i32(o, c->group), put_i32(o, c->n0), put_i32(o, c->n_cols), put_i32(o, c->n_per_group);
        put_i32(o, c->slices), put_i32(o, c->cell_bits), put_u8(o, (unsigned)c->sign);
        put_u8(o, c->accumulate), put_u8(o, c->float_mode), put_f32(o, c->offset_scale);
        put_i64(o, c->row_begin), put_i64(o, c->row_end);
        break;
    }
    case INSTR_DEQUANT: {
        const DequantParams *d = &in->dequant;
        put_u8(o, d->conv), put_i64(o, d->batch), put_i64(o, d->channels), put_i64(o, d->pixels);
        put_u32(o, d->out_scale ? (uint32_t)d->channels : 0);
        for (int64_t i = 0; d->out_scale && i < d->channels; i++)
            put_f32(o, d->out_scale[i]);
        break;
    }
    case INSTR_DIGITAL: write_digital(o, t, in->op); break;
    case INSTR_COUNT: break;
    }
}

static void write_program(Out *o, Arena *scratch, const Program *p)
{
    Strings t = {.arena = scratch};
    collect_strings(&t, p);

    put_bytes(o, PROGRAM_MAGIC, 8);
    put_u32(o, PROGRAM_VERSION);

    uint64_t at = begin_section(o, SEC_ARCH);
    write_arch(o, &p->arch);
    end_section(o, at);

    at = begin_section(o, SEC_FLAGS);
    put_u32(o, (p->float_weights ? FLAG_FLOAT_WEIGHTS : 0) | (p->tuned ? FLAG_TUNED : 0));
    const char *chip = p->tuned && p->tuned_chip ? p->tuned_chip : "";
    size_t chip_len = strlen(chip) < PROGRAM_MAX_CHIP_TEXT ? strlen(chip) : PROGRAM_MAX_CHIP_TEXT;
    put_u64(o, p->tuned ? p->tuned_seed : 0);
    put_u32(o, (uint32_t)chip_len);
    put_bytes(o, chip, chip_len);
    end_section(o, at);

    at = begin_section(o, SEC_STRINGS);
    put_u32(o, t.n);
    for (uint32_t i = 0; i < t.n; i++) {
        size_t len = strlen(t.strings[i]);
        put_u32(o, (uint32_t)len);
        put_bytes(o, t.strings[i], len);
    }
    end_section(o, at);

    /* Constants in buffer order; each const buffer then names its offset. */
    uint64_t n_consts = 0;
    for (int i = 0; i < p->n_buffers; i++)
        if (p->buffers[i].kind == BUF_CONST)
            n_consts += (uint64_t)type_numel(&p->buffers[i].type);
    at = begin_section(o, SEC_CONSTS);
    put_u64(o, n_consts);
    for (int i = 0; i < p->n_buffers; i++) {
        const Buffer *b = &p->buffers[i];
        for (int64_t k = 0, n = type_numel(&b->type); b->kind == BUF_CONST && k < n; k++)
            put_f32(o, b->data[k]);
    }
    end_section(o, at);

    at = begin_section(o, SEC_BUFFERS);
    put_u32(o, (uint32_t)p->n_buffers);
    uint64_t offset = 0;
    for (int i = 0; i < p->n_buffers; i++) {
        const Buffer *b = &p->buffers[i];
        put_string(o, &t, b->name), put_u8(o, (unsigned)b->kind), put_u8(o, b->wide);
        put_u8(o, (unsigned)b->type.dtype), put_u8(o, (unsigned)b->type.rank);
        for (int d = 0; d < b->type.rank; d++)
            put_i64(o, b->type.dims[d]);
        put_u64(o, b->kind == BUF_CONST ? offset : 0);
        if (b->kind == BUF_CONST)
            offset += (uint64_t)type_numel(&b->type);
    }
    end_section(o, at);

    at = begin_section(o, SEC_TILES);
    put_u32(o, (uint32_t)p->n_tiles);
    size_t max_cells = 1;
    for (int i = 0; i < p->n_tiles; i++)
        if ((size_t)p->tiles[i].rows * (size_t)p->tiles[i].cols > max_cells)
            max_cells = (size_t)p->tiles[i].rows * (size_t)p->tiles[i].cols;
    uint8_t *levels = arena_alloc(scratch, max_cells);
    unsigned char *packed = arena_alloc(scratch, max_cells);
    for (int i = 0; i < p->n_tiles && !o->failed; i++)
        write_tile(o, &p->tiles[i], p, levels, packed);
    end_section(o, at);

    at = begin_section(o, SEC_INSTRS);
    put_u32(o, (uint32_t)p->n_instrs);
    for (int i = 0; i < p->n_instrs; i++)
        write_instr(o, &t, &p->instrs[i]);
    end_section(o, at);

    at = begin_section(o, SEC_IO);
    put_u32(o, (uint32_t)p->n_inputs);
    for (int i = 0; i < p->n_inputs; i++)
        put_i32(o, p->inputs[i]);
    put_u32(o, (uint32_t)p->n_outputs);
    for (int i = 0; i < p->n_outputs; i++)
        put_i32(o, p->outputs[i]);
    end_section(o, at);
}

/* What the format cannot express is the emitter's bug, but say so rather than crash. */
static bool writable(const Program *p, const Loc *loc, Diags *diags)
{
    for (int i = 0; i < p->n_instrs; i++) {
        const Instr *in = &p->instrs[i];
        if ((unsigned)in->opcode >= INSTR_COUNT) {
            diag_error(diags, loc, "instruction %d has an invalid opcode %d", i, (int)in->opcode);
            return false;
        }
        if (in->opcode == INSTR_DIGITAL && (!in->op || !in->op->result || in->op->result->id != in->dst)) {
            diag_error(diags, loc, "instruction %d (digital) has no op, or its op's result is not buffer %d",
                       i, in->dst);
            return false;
        }
    }
    for (int i = 0; i < p->n_buffers; i++) {
        if (p->buffers[i].kind == BUF_CONST && !p->buffers[i].data && type_numel(&p->buffers[i].type) > 0) {
            diag_error(diags, loc, "constant buffer %d has no data", i);
            return false;
        }
    }
    return true;
}

bool program_write(const Program *program, Outputs *outs, const char *path, Diags *diags)
{
    Loc loc = {.file = arena_strdup(diags->arena, path)};
    if (!writable(program, &loc, diags))
        return false;
    FILE *fp = outputs_open(outs, path);
    if (!fp)
        return false;
    Arena *scratch = arena_new();
    Out o = {.fp = fp, .base = ftello(fp), .bad_tile = -1};
    /* appending, a seek is no use either: the patch would land at the end */
    o.hold = o.base < 0 || (fcntl(fileno(fp), F_GETFL) & O_APPEND);
    errno = 0;              /* ftello's ESPIPE is no write error */
    out_room(&o, OUT_BUFFER);
    write_program(&o, scratch, program);
    out_flush(&o);
    free(o.buf);
    if (o.bad_tile >= 0)    /* the emitter's bug, not the file's */
        diag_error(diags, &loc, "tile %d holds a level above %d (cell_bits %d)", o.bad_tile,
                   (1 << program->arch.cell_bits) - 1, program->arch.cell_bits);
    else if (o.failed)
        errno = o.err;      /* what outputs_commit reports for the stream */
    arena_free(scratch);
    return !o.failed;
}
