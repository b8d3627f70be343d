/* program_io.c: a program from its file (docs/program-format.md).
 *
 * The reader never trusts the file.  It maps it whole (file_read), then
 * reads through a cursor bounded by the current section: every count is
 * checked against the bytes left before anything is allocated, so a corrupt count cannot ask for gigabytes, and every
 * enum, string index and buffer id is checked before it is used.  A structural
 * error (truncation, a bad tag, an absurd count) stops the reader at once,
 * since what follows it would be noise.  Then program_check.c checks the
 * meaning: buffer kinds, tile coordinates, shapes against each instruction's
 * parameters, digital ops against shape inference, nothing read before it is
 * written.  Quantized tiles stay packed as in the file: program_read's tiles
 * point into the mapping, which the program's arena keeps (a quarter of the
 * memory of unpacked levels at 2-bit cells, and pages the simulator lets go
 * once it has folded them, program_evict).  The writer is
 * runtime/program_write.c. */
#include "runtime/program_format.h"

#include <errno.h>
#include <string.h>

const Section program_sections[SEC_COUNT] = {
    [SEC_ARCH] = {"ARCH", "architecture"},  [SEC_FLAGS] = {"FLAG", "flags"},
    [SEC_STRINGS] = {"STRS", "strings"},    [SEC_CONSTS] = {"CNST", "constants"},
    [SEC_BUFFERS] = {"BUFS", "buffers"},    [SEC_TILES] = {"TILE", "tiles"},
    [SEC_INSTRS] = {"INST", "instructions"}, [SEC_IO] = {"IOLS", "inputs/outputs"},
};

/* Reports a structural error once and stops the reader. */
static void fail(Reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(Reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    diag_verror(r->diags, &r->loc, fmt, ap);
    va_end(ap);
}

static uint64_t left(const Reader *r) { return (uint64_t)(r->end - r->p); }

static bool need(Reader *r, uint64_t n)
{
    if (r->failed)
        return false;
    if (left(r) < n) {
        fail(r, "section %s is too short: the next field needs %llu bytes, %llu left", r->section,
             (unsigned long long)n, (unsigned long long)left(r));
        return false;
    }
    return true;
}

static unsigned get_u8(Reader *r) { return need(r, 1) ? *r->p++ : 0; }

static uint32_t get_u32(Reader *r)
{
    if (!need(r, 4))
        return 0;
    const unsigned char *b = r->p;
    r->p += 4;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get_u64(Reader *r)
{
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}

static int get_i32(Reader *r) { return (int)(int32_t)get_u32(r); }
static int64_t get_i64(Reader *r) { return (int64_t)get_u64(r); }

static float get_f32(Reader *r)
{
    uint32_t u = get_u32(r);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* n little-endian floats whose bytes the caller has checked are there (the bulk
 * of a file: cells and constants, hence no per-element bounds check). */
static void decode_f32(const unsigned char *b, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++, b += 4) {
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&out[i], &u, sizeof u);
    }
}

static double get_f64(Reader *r)
{
    uint64_t u = get_u64(r);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static bool get_bool(Reader *r, const char *what)
{
    unsigned v = get_u8(r);
    if (v > 1)
        fail(r, "section %s: %s is %u, not 0 or 1", r->section, what, v);
    return v == 1;
}

static unsigned get_enum(Reader *r, unsigned limit, const char *what)
{
    unsigned v = get_u8(r);
    if (v >= limit)
        fail(r, "section %s: %s %u is out of range [0, %u)", r->section, what, v, limit);
    return v < limit ? v : 0;
}

/* count elements of `size` bytes from the program's arena; NULL (reported,
 * the reader stopped) when what reading has taken would pass the memory
 * limit.  Counts fit the file's bytes, but an entry may take several times
 * its bytes in memory (an instruction, a level packed in a bit). */
static void *take(Reader *r, size_t count, size_t size)
{
    uint64_t bytes = (uint64_t)count * size + (arena_bytes(r->arena) - r->arena_start);
    if (r->failed)
        return NULL;
    if (bytes > memory_limit()) {
        memory_check(bytes, 1, arena_printf(r->diags->arena, "reading section %s", r->section), &r->loc, r->diags);
        r->failed = true;
        return NULL;
    }
    return arena_array(r->arena, count, size);
}

/* A count of entries of at least `entry_size` bytes each: they must fit what is left. */
static int get_count(Reader *r, uint64_t entry_size, const char *what)
{
    uint32_t n = get_u32(r);
    if (!r->failed && (n > INT32_MAX || (uint64_t)n * entry_size > left(r))) {
        fail(r, "section %s: %u %s cannot fit in the %llu bytes left", r->section, n, what,
             (unsigned long long)left(r));
        return 0;
    }
    return r->failed ? 0 : (int)n;
}

static const char *get_string(Reader *r, bool optional, const char *what)
{
    uint32_t i = get_u32(r);
    if (r->failed || (i == NO_STRING && optional))
        return NULL;
    if (i >= r->n_strings) {
        fail(r, "section %s: %s names string %u, but there are %u", r->section, what, i, r->n_strings);
        return NULL;
    }
    return r->strings[i];
}

/* Opens the next section: its tag must be the expected one and its length fit the file. */
static void open_section(Reader *r, int section, const unsigned char **file_p, const unsigned char *file_end)
{
    const Section *s = &program_sections[section];
    r->section = s->name;
    uint64_t have = (uint64_t)(file_end - *file_p);
    if (r->failed)
        return;
    if (have < 12) {
        fail(r, "truncated: section %s needs 12 bytes for its header, %llu left", s->name,
             (unsigned long long)have);
        return;
    }
    if (memcmp(*file_p, s->tag, 4) != 0) {
        char tag[5] = {0};
        for (int i = 0; i < 4; i++)
            tag[i] = (*file_p)[i] >= 0x20 && (*file_p)[i] < 0x7f ? (char)(*file_p)[i] : '?';
        fail(r, "expected section %s ('%s') but found '%s'", s->name, s->tag, tag);
        return;
    }
    r->p = *file_p + 4;
    r->end = r->p + 8;
    uint64_t length = get_u64(r);
    have -= 12;
    if (length > have) {
        fail(r, "truncated: section %s needs %llu bytes, %llu left", s->name, (unsigned long long)length,
             (unsigned long long)have);
        return;
    }
    r->end = r->p + length;
    *file_p = r->end;
}

static void close_section(Reader *r)
{
    if (!r->failed && r->p != r->end)
        fail(r, "section %s has %llu unexpected bytes at its end", r->section, (unsigned long long)left(r));
}

static void read_arch(Reader *r, Arch *a)
{
    a->rows = get_i32(r), a->cols = get_i32(r), a->cell_bits = get_i32(r);
    a->g_min_us = get_f64(r), a->g_max_us = get_f64(r);
    a->weight_bits = get_i32(r), a->weight_per_layer = get_bool(r, "weight_per_layer");
    a->input_bits = get_i32(r), a->dac_bits = get_i32(r), a->adc_bits = get_i32(r);
    a->cols_per_adc = get_i32(r), a->sign = (SignMapping)get_enum(r, 3, "sign mapping");
    a->tiles = get_i32(r);
    if (!r->failed && !arch_validate(a, r->loc.file, r->diags))
        r->failed = true;
}

static void read_strings(Reader *r)
{
    r->n_strings = (uint32_t)get_count(r, 4, "strings");
    if (!(r->strings = take(r, (size_t)r->n_strings + 1, sizeof(char *)))) {
        r->n_strings = 0;
        return;
    }
    for (uint32_t i = 0; i < r->n_strings && !r->failed; i++) {
        uint32_t len = get_u32(r);
        if (!need(r, len))
            return;
        if (memchr(r->p, 0, len)) {
            fail(r, "section strings: string %u contains a NUL byte", i);
            return;
        }
        char *s = arena_alloc(r->arena, (size_t)len + 1);
        memcpy(s, r->p, len);
        r->p += len;
        r->strings[i] = s;
    }
}

static void read_consts(Reader *r)
{
    uint64_t n = get_u64(r);
    if (r->failed)
        return;                 /* n may be half a count */
    if (n > left(r) / 4) {
        fail(r, "section constants: %llu floats cannot fit in the %llu bytes left", (unsigned long long)n,
             (unsigned long long)left(r));
        return;
    }
    if (!(r->consts = take(r, n ? n : 1, sizeof(float))))
        return;
    r->n_consts = n;
    decode_f32(r->p, n, r->consts);
    r->p += 4 * n;
}

static void read_buffers(Reader *r, Program *p)
{
    p->n_buffers = get_count(r, 15, "buffers");
    if (!(p->buffers = take(r, (size_t)p->n_buffers + 1, sizeof(Buffer)))) {
        p->n_buffers = 0;
        return;
    }
    for (int i = 0; i < p->n_buffers && !r->failed; i++) {
        Buffer *b = &p->buffers[i];
        b->name = get_string(r, true, "a buffer name");
        b->kind = (BufferKind)get_enum(r, 4, "buffer kind");
        b->wide = get_bool(r, "buffer wide flag");
        b->type.dtype = (DType)get_enum(r, DT_COUNT, "buffer dtype");
        b->type.rank = (int)get_u8(r);
        if (!r->failed && b->type.rank > IR_MAX_RANK) {
            fail(r, "section buffers: buffer %d has rank %d, more than %d", i, b->type.rank, IR_MAX_RANK);
            return;
        }
        /* The product of the nonzero dims is at most 2^32, so that no partial
         * product of dims (strides, rows of a matrix view) can overflow. */
        int64_t numel = 1, nonzero = 1;
        for (int d = 0; d < b->type.rank && !r->failed; d++) {
            int64_t dim = b->type.dims[d] = get_i64(r);
            if (dim < 0 || dim > IR_MAX_NUMEL || (dim > 0 && nonzero > IR_MAX_NUMEL / dim))
                fail(r, "section buffers: buffer %d has dimension %lld out of range or more than 2^32 elements",
                     i, (long long)dim);
            else
                nonzero *= dim ? dim : 1, numel *= dim;
        }
        uint64_t offset = get_u64(r);
        if (r->failed)
            return;
        if (b->kind != BUF_CONST && offset != 0)
            fail(r, "section buffers: buffer %d is not a constant but has a data offset", i);
        else if (b->kind == BUF_CONST && b->wide)
            fail(r, "section buffers: constant buffer %d is wide", i);
        else if (b->kind == BUF_CONST && (offset > r->n_consts || (uint64_t)numel > r->n_consts - offset))
            fail(r, "section buffers: constant buffer %d's data [%llu, +%lld) lies outside the %llu constants",
                 i, (unsigned long long)offset, (long long)numel, (unsigned long long)r->n_consts);
        else if (b->kind == BUF_CONST)
            b->data = r->consts + offset;
    }
}

/* The levels of `bytes` whole bytes at PER_BYTE levels a byte (bits 8 /
 * PER_BYTE): shifts by constants, which compilers unroll and vectorize. */
#define UNPACK_BYTES(PER_BYTE)                                                     \
    for (size_t b = 0; b < bytes; b++)                                             \
        for (int i = 0; i < PER_BYTE; i++)                                         \
            levels[b * PER_BYTE + (size_t)i] = (uint8_t)(in[b] >> (i * (8 / PER_BYTE)) & ((1u << (8 / PER_BYTE)) - 1))

/* n levels of `bits` bits from their packed bytes (program_write.c packs them).
 * Widths dividing 8 expand byte by byte; the others read a bit stream.  No
 * table to build: tile_levels unpacks a block's rows a few hundred cells at
 * a time. */
static void unpack_levels(const unsigned char *in, size_t n, int bits, uint8_t *levels)
{
    size_t k = 0;
    if (bits == 1 || bits == 2 || bits == 4 || bits == 8) {
        size_t bytes = n * (size_t)bits / 8;
        if (bits == 8)
            memcpy(levels, in, bytes);
        else if (bits == 4)
            UNPACK_BYTES(2);
        else if (bits == 2)
            UNPACK_BYTES(4);
        else
            UNPACK_BYTES(8);
        k = bytes * 8 / (size_t)bits;
        in += bytes;
    }
    unsigned mask = (1u << bits) - 1;
    uint32_t acc = 0;
    int filled = 0;
    for (; k < n; k++) {
        if (filled < bits) {
            acc |= (uint32_t)*in++ << filled;
            filled += 8;
        }
        levels[k] = (uint8_t)(acc & mask);
        acc >>= bits;
        filled -= bits;
    }
}
#undef UNPACK_BYTES

const uint8_t *tile_levels(const Tile *t, size_t first, size_t count, uint8_t *out)
{
    if (t->levels)
        return t->levels + first;
    if (t->packed) {
        size_t k = 0;
        int bits = t->packed_bits;
        for (; k < count && (first + k) * (size_t)bits % 8; k++)  /* to a whole byte */
            out[k] = (uint8_t)tile_cell(t, first + k);
        if (k < count)
            unpack_levels(t->packed + (first + k) * (size_t)bits / 8, count - k, bits, out + k);
        return out;
    }
    for (size_t k = 0; k < count; k++) {
        float v = t->cells[first + k];
        out[k] = v > 0 ? (uint8_t)(v + 0.5f) : 0;
    }
    return out;
}

void tile_unpack(Arena *arena, Tile *t)
{
    if (t->levels)
        return;
    size_t n = (size_t)t->rows * (size_t)t->cols;
    uint8_t *levels = arena_array(arena, n ? n : 1, 1);
    tile_levels(t, 0, n, levels);
    t->levels = levels;
    t->packed = NULL;
    t->cells = NULL;
}

static void read_tiles(Reader *r, Program *p)
{
    p->n_tiles = get_count(r, 9, "tiles");
    if (!(p->tiles = take(r, (size_t)p->n_tiles + 1, sizeof(Tile)))) {
        p->n_tiles = 0;
        return;
    }
    int bits = p->arch.cell_bits;
    size_t read = 0;            /* tile bytes since the last file_evict */
    for (int i = 0; i < p->n_tiles && !r->failed; i++) {
        Tile *t = &p->tiles[i];
        t->rows = get_i32(r), t->cols = get_i32(r);
        unsigned encoding = get_enum(r, 2, "cell encoding");
        t->writes = get_u32(r);
        bool counted = get_bool(r, "the cell write counts flag");
        if (r->failed)
            return;
        if (t->rows < 1 || t->cols < 1 || t->rows > p->arch.rows || t->cols > p->arch.cols) {
            fail(r, "section tiles: tile %d is %d x %d, outside 1..%d x 1..%d of the architecture", i, t->rows,
                 t->cols, p->arch.rows, p->arch.cols);
            return;
        }
        if (encoding == CELLS_PACKED && p->float_weights) {
            fail(r, "section tiles: tile %d holds packed levels in a float-weight program", i);
            return;
        }
        size_t n = (size_t)t->rows * (size_t)t->cols;
        size_t bytes = encoding == CELLS_PACKED ? packed_bytes(n, bits) : 4 * n;
        if (!need(r, bytes))
            return;
        if (encoding == CELLS_PACKED) {
            /* the bits past the last cell are zero, so that a file has one form */
            unsigned spare = (unsigned)(8 * bytes - n * (size_t)bits);
            if (spare && r->p[bytes - 1] >> (8 - spare)) {
                fail(r, "section tiles: tile %d: the %u bits after its last cell are not zero", i, spare);
                return;
            }
            uint8_t *copy = r->file ? NULL : take(r, bytes, 1);
            if (!r->file && !copy)
                return;
            if (copy)
                memcpy(copy, r->p, bytes);
            t->packed = copy ? copy : r->p;     /* unpacked where read: tile_levels */
            t->packed_bits = bits;
        } else {
            if (!(t->cells = take(r, n, sizeof(float))))
                return;
            decode_f32(r->p, n, t->cells);
        }
        r->p += bytes;
        if (counted) {
            if (!need(r, 4 * n) || !(t->cell_writes = take(r, n, sizeof(uint32_t))))
                return;
            for (size_t k = 0; k < n; k++)
                t->cell_writes[k] = get_u32(r);
        }
        if (r->file && (read += bytes + (counted ? 4 * n : 0)) >= PROGRAM_EVICT_BYTES) {
            file_evict(r->file);    /* the tiles read so far are back from the file when used */
            read = 0;
        }
    }
}

/* One Value per buffer, shared by the digital ops that use it: its id is the buffer id. */
static Value *buffer_value(Reader *r, int id)
{
    if (!r->values[id]) {
        const Buffer *b = &r->program->buffers[id];
        Value *v = arena_alloc(r->arena, sizeof *v);
        v->id = id;
        v->name = b->name ? b->name : arena_printf(r->arena, "buffer%d", id);
        v->type = b->type;
        v->data = b->data;
        v->is_input = b->kind == BUF_INPUT;
        r->values[id] = v;
    }
    return r->values[id];
}

static int get_buffer_id(Reader *r, const char *what, int index)
{
    int id = get_i32(r);
    if (!r->failed && (id < 0 || id >= r->program->n_buffers))
        fail(r, "section instructions: instruction %d: %s %d is not a buffer (there are %d)", index, what, id,
             r->program->n_buffers);
    return r->failed ? 0 : id;
}

static void read_attr(Reader *r, Attr *a)
{
    a->name = get_string(r, false, "an attribute name");
    a->kind = (AttrKind)get_enum(r, 5, "attribute kind");
    if (r->failed)
        return;
    switch (a->kind) {
    case ATTR_INT: a->i = get_i64(r); break;
    case ATTR_FLOAT: a->f = get_f32(r); break;
    case ATTR_INTS:
        a->count = get_count(r, 8, "ints");
        if (!(a->ints = take(r, (size_t)a->count + 1, sizeof(int64_t))))
            a->count = 0;
        for (int k = 0; k < a->count; k++)
            a->ints[k] = get_i64(r);
        break;
    case ATTR_FLOATS:
        a->count = get_count(r, 4, "floats");
        if (!(a->floats = take(r, (size_t)a->count + 1, sizeof(float))))
            a->count = 0;
        for (int k = 0; k < a->count; k++)
            a->floats[k] = get_f32(r);
        break;
    case ATTR_STRING: a->s = get_string(r, false, "a string attribute"); break;
    }
}

/* A digital op rebuilt as ir_add_op would, over the buffers' Values. */
static Op *read_digital(Reader *r, int index, int dst)
{
    Op *op = arena_alloc(r->arena, sizeof *op);
    const char *name = get_string(r, false, "a digital op");
    op->loc.file = r->loc.file;
    op->loc.node = get_string(r, true, "a node name");
    op->loc.node_index = get_i32(r);
    op->loc.node_op = get_string(r, true, "a node op type");
    if (r->failed)
        return op;
    if (!op_kind_from_name(name, &op->kind)) {
        fail(r, "section instructions: instruction %d: unknown digital op '%s'", index, name);
        return op;
    }
    if (op->kind == OP_XBAR) {  /* crossbar layers are mvm instructions, not digital ops */
        fail(r, "section instructions: instruction %d: xbar is not a digital op", index);
        return op;
    }
    const OpInfo *info = &op_info[op->kind];
    op->n_inputs = get_count(r, 4, "op inputs");
    if (!r->failed && (op->n_inputs < info->min_inputs || op->n_inputs > info->max_inputs))
        fail(r, "section instructions: instruction %d: %s takes %d to %d inputs, not %d", index, info->name,
             info->min_inputs, info->max_inputs, op->n_inputs);
    if (!(op->inputs = take(r, (size_t)op->n_inputs + 1, sizeof(Value *)))) {
        op->n_inputs = 0;
        return op;
    }
    for (int i = 0; i < op->n_inputs && !r->failed; i++)
        op->inputs[i] = buffer_value(r, get_buffer_id(r, "a digital input", index));
    op->n_attrs = get_count(r, 5, "attributes");
    if (!(op->attrs = take(r, (size_t)op->n_attrs + 1, sizeof(Attr)))) {
        op->n_attrs = 0;
        return op;
    }
    for (int i = 0; i < op->n_attrs && !r->failed; i++) {
        read_attr(r, &op->attrs[i]);
        if (!r->failed && i > 0 && strcmp(op->attrs[i - 1].name, op->attrs[i].name) >= 0)
            fail(r, "section instructions: instruction %d: %s's attributes are not sorted by name or repeat "
                 "('%s')", index, info->name, op->attrs[i].name);
    }
    if (!r->failed) {
        op->result = buffer_value(r, dst);
        op->result->def = op;
    }
    return op;
}

static void read_params(Reader *r, Instr *in, int index)
{
    switch (in->opcode) {
    case INSTR_QUANT: {
        QuantParams *q = &in->quant;
        q->scale = get_f32(r), q->bits = get_i32(r);
        q->is_signed = get_bool(r, "quant signed flag"), q->float_mode = get_bool(r, "quant float flag");
        break;
    }
    case INSTR_IM2COL: {
        Im2colParams *c = &in->im2col;
        c->spatial = (int)get_u8(r), c->batch = get_i64(r), c->channels = get_i64(r), c->group = get_i64(r);
        for (int i = 0; i < 3; i++)
            c->in[i] = get_i64(r), c->kernel[i] = get_i64(r), c->out[i] = get_i64(r),
            c->strides[i] = get_i64(r), c->dilations[i] = get_i64(r);
        for (int i = 0; i < 6; i++)
            c->pads[i] = get_i64(r);
        break;
    }
    case INSTR_MVM: {
        MvmParams *m = &in->mvm;
        m->tile = get_i32(r), m->tile_row = get_i32(r), m->tile_col = get_i32(r), m->rows = get_i32(r);
        m->src_col = get_i32(r), m->phys_cols = get_i32(r), m->out_cols = get_i32(r);
        m->dac_bits = get_i32(r), m->in_bits = get_i32(r), m->in_signed = get_bool(r, "mvm signed flag");
        m->sign = (SignMapping)get_enum(r, 3, "mvm sign mapping");
        m->adc_bits = get_i32(r), m->adc_max = get_f32(r), m->float_mode = get_bool(r, "mvm float flag");
        m->row_begin = get_i64(r), m->row_end = get_i64(r);
        break;
    }
    case INSTR_COMBINE: {
        CombineParams *c = &in->combine;
        c->group = get_i32(r), c->n0 = get_i32(r), c->n_cols = get_i32(r), c->n_per_group = get_i32(r);
        c->slices = get_i32(r), c->cell_bits = get_i32(r);
        c->sign = (SignMapping)get_enum(r, 3, "combine sign mapping");
        c->accumulate = get_bool(r, "combine accumulate flag"), c->float_mode = get_bool(r, "combine float flag");
        c->offset_scale = get_f32(r);
        c->row_begin = get_i64(r), c->row_end = get_i64(r);
        break;
    }
    case INSTR_DEQUANT: {
        DequantParams *d = &in->dequant;
        d->conv = get_bool(r, "dequant conv flag");
        d->batch = get_i64(r), d->channels = get_i64(r), d->pixels = get_i64(r);
        int n = get_count(r, 4, "output scales");
        if (!r->failed && n != 0 && n != d->channels)
            fail(r, "section instructions: instruction %d: dequant has %d output scales for %lld channels",
                 index, n, (long long)d->channels);
        if (n > 0 && (d->out_scale = take(r, (size_t)n, sizeof(float)))) {
            for (int i = 0; i < n; i++)
                d->out_scale[i] = get_f32(r);
        }
        break;
    }
    case INSTR_DIGITAL: in->op = read_digital(r, index, in->dst); break;
    case INSTR_COUNT: break;
    }
}

static void read_instrs(Reader *r, Program *p)
{
    p->n_instrs = get_count(r, 21, "instructions");
    if (!(p->instrs = take(r, (size_t)p->n_instrs + 1, sizeof(Instr))) ||
        !(r->values = take(r, (size_t)p->n_buffers + 1, sizeof(Value *)))) {
        p->n_instrs = 0;
        return;
    }
    for (int i = 0; i < p->n_instrs && !r->failed; i++) {
        Instr *in = &p->instrs[i];
        in->opcode = (Opcode)get_enum(r, INSTR_COUNT, "opcode");
        in->dst = get_buffer_id(r, "dst", i);
        for (int k = 0; k < 3; k++) {
            in->src[k] = get_i32(r);
            if (!r->failed && (in->src[k] < -1 || in->src[k] >= p->n_buffers))
                fail(r, "section instructions: instruction %d: src%d %d is not a buffer (there are %d)", i, k,
                     in->src[k], p->n_buffers);
        }
        in->layer = get_string(r, true, "a layer name");
        read_params(r, in, i);
    }
}

static void read_io(Reader *r, Program *p)
{
    p->n_inputs = get_count(r, 4, "inputs");
    if (!(p->inputs = take(r, (size_t)p->n_inputs + 1, sizeof(int))))
        p->n_inputs = 0;
    for (int i = 0; i < p->n_inputs; i++)
        p->inputs[i] = get_i32(r);
    p->n_outputs = get_count(r, 4, "outputs");
    if (!(p->outputs = take(r, (size_t)p->n_outputs + 1, sizeof(int))))
        p->n_outputs = 0;
    for (int i = 0; i < p->n_outputs; i++)
        p->outputs[i] = get_i32(r);
}

/* Flags, and the chip a fine-tuned program was tuned for. */
static void read_flags(Reader *r, Program *p)
{
    const uint32_t known = FLAG_FLOAT_WEIGHTS | FLAG_TUNED;
    uint32_t flags = get_u32(r);
    if (flags & ~known)
        fail(r, "section flags: unknown flags 0x%x", flags & ~known);
    p->float_weights = flags & FLAG_FLOAT_WEIGHTS;
    p->tuned = (flags & FLAG_TUNED) != 0;
    p->tuned_seed = get_u64(r);
    uint32_t n = get_u32(r);
    if (!r->failed && (n > PROGRAM_MAX_CHIP_TEXT || n > left(r))) {
        fail(r, "section flags: a chip description of %u bytes (at most %d, %llu left)", n, PROGRAM_MAX_CHIP_TEXT,
             (unsigned long long)left(r));
        return;
    }
    if (r->failed)
        return;
    char *chip = arena_alloc(r->arena, (size_t)n + 1);
    memcpy(chip, r->p, n);
    chip[n] = 0;
    r->p += n;
    if (strlen(chip) != n)
        fail(r, "section flags: the chip description holds a NUL byte");
    else if (!p->tuned && (p->tuned_seed || n))
        fail(r, "section flags: a seed or chip for a program not tuned for one");
    p->tuned_chip = p->tuned ? chip : NULL;
}

static Program *read_program(Arena *arena, const char *name, const void *bytes, size_t size,
                             const FileBytes *file, Diags *diags)
{
    int errors_before = diags->n_errors;
    Program *p = arena_alloc(arena, sizeof *p);
    p->arena = arena;
    Reader r = {.arena = arena, .diags = diags, .program = p, .section = "header", .arena_start = arena_bytes(arena),
                .file = file};
    r.loc.file = arena_strdup(arena, name);
    const unsigned char *data = bytes;
    if (size < 8 || memcmp(data, PROGRAM_MAGIC, 8) != 0) {
        diag_error(diags, &r.loc, "not an xbarc program (no %s magic at its start)", PROGRAM_MAGIC);
        return NULL;
    }
    r.p = data + 8;
    r.end = data + size;
    uint32_t version = get_u32(&r);
    if (!r.failed && version != PROGRAM_VERSION)
        fail(&r, "program version %u, this xbarc reads version %d", version, PROGRAM_VERSION);

    const unsigned char *file_p = r.p, *file_end = data + size;
    for (int s = 0; s < SEC_COUNT && !r.failed; s++) {
        open_section(&r, s, &file_p, file_end);
        switch (s) {
        case SEC_ARCH: read_arch(&r, &p->arch); break;
        case SEC_FLAGS: read_flags(&r, p); break;
        case SEC_STRINGS: read_strings(&r); break;
        case SEC_CONSTS: read_consts(&r); break;
        case SEC_BUFFERS: read_buffers(&r, p); break;
        case SEC_TILES: read_tiles(&r, p); break;
        case SEC_INSTRS: read_instrs(&r, p); break;
        case SEC_IO: read_io(&r, p); break;
        }
        close_section(&r);
    }
    if (!r.failed && file_p != file_end)
        fail(&r, "%llu unexpected bytes after the last section", (unsigned long long)(file_end - file_p));
    if (!r.failed)
        program_check(&r);
    return diags->n_errors == errors_before ? p : NULL;
}

Program *program_read_memory(Arena *arena, const char *name, const void *bytes, size_t size, Diags *diags)
{
    return read_program(arena, name, bytes, size, NULL, diags);
}

static void release_file(void *bytes)
{
    file_release(bytes);
}

/* The tiles point into the file's bytes, which the arena keeps (a mapping
 * costs no memory of its own until read; program_evict). */
Program *program_read(Arena *arena, const char *path, Diags *diags)
{
    FileBytes *bytes = arena_alloc(arena, sizeof *bytes);
    if (!file_read(path, 0, NULL, diags, bytes))
        return NULL;
    arena_on_free(arena, release_file, bytes);
    Program *p = read_program(arena, path, bytes->data, bytes->size, bytes, diags);
    if (p)
        p->file = bytes;
    file_evict(bytes);          /* the last pages reading touched */
    return p;
}

void program_evict(const Program *p)
{
    if (p->file)
        file_evict(p->file);
}
