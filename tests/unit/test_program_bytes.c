/* test_program_bytes.c: program files broken byte by byte, and fuzzed.
 *
 * Bytes are patched at offsets computed from docs/program-format.md; each
 * broken file must be refused with the message that names the problem.  The
 * fuzz tests cut and flip bytes of a valid file and only ask that the reader
 * answers (a program or errors) without crashing: run under ASan. */
#include "program_fixture.h"

TestSuite(program_bytes, .init = setup, .fini = teardown);


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
Test(program_bytes, packs_every_cell_width)
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
        size_t at = section_at(d, size, "TILE") + 4 + 9 + 4 + 1;
        cr_expect_eq(d[at - 6], 0, "encoding 0: packed levels");
        cr_expect(d[at - 5] == 0 && d[at - 4] == 0 && d[at - 3] == 0 && d[at - 2] == 0, "written 0 times");
        cr_expect_eq(d[at - 1], 0, "no cell write counts");
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
Test(program_bytes, refuses_packed_float_tiles)
{
    cr_assert(write_program_file(make_program(true), path_in_dir("a.xbp")));
    size_t size;
    unsigned char *d = file_bytes(path_in_dir("a.xbp"), &size);
    size_t tiles = section_at(d, size, "TILE");
    cr_expect_eq(d[tiles + 12], 1, "float cells are f32");
    d[tiles + 12] = 0;
    expect_bytes_refused(d, size, "section tiles: tile 0 holds packed levels in a float-weight program");
}

/* A hand-made level that does not fit cell_bits is refused by the writer. */
Test(program_bytes, writer_refuses_wide_levels)
{
    Program *p = make_program(false);
    p->tiles[1].levels = arena_alloc(arena, 8 * 16);
    p->tiles[1].levels[37] = 4;
    const char *path = path_in_dir("a.xbp");
    cr_expect_not(write_program_file(p, path));
    cr_expect(diags.first && strstr(diags.first->text, "tile 1 holds a level above 3 (cell_bits 2)"));
    FILE *fp = fopen(path, "rb");
    cr_expect_null(fp, "no file is left behind");
    if (fp)
        fclose(fp);
}

static unsigned char *valid_bytes(size_t *size)
{
    cr_assert(write_program_file(make_program(false), path_in_dir("a.xbp")));
    unsigned char *data = file_bytes(path_in_dir("a.xbp"), size);
    unsigned char *copy = arena_alloc(arena, *size + 1);
    memcpy(copy, data, *size);
    return copy;
}

Test(program_bytes, refuses_broken_files)
{
    size_t size;
    unsigned char *good = valid_bytes(&size), *d = arena_alloc(arena, size + 16);
#define FRESH() memcpy(d, good, size)

    FRESH(), d[0] = 'Y';
    expect_bytes_refused(d, size, "not an xbarc program");
    expect_bytes_refused(d, 0, "not an xbarc program");

    FRESH(), put_le(d + 8, 4, 4);
    expect_bytes_refused(d, size, "program version 4, this xbarc reads version 5");

    size_t tiles = section_at(good, size, "TILE");
    expect_bytes_refused(good, tiles + 40, "truncated: section tiles needs");
    expect_bytes_refused(good, tiles - 6, "truncated: section tiles needs 12 bytes for its header, 6 left");

    FRESH(), d[size] = 0;
    expect_bytes_refused(d, size + 1, "1 unexpected bytes after the last section");

    size_t buffers = section_at(good, size, "BUFS");
    FRESH(), put_le(d + buffers, 0x7fffffff, 4);
    expect_bytes_refused(d, size, "section buffers: 2147483647 buffers cannot fit");
    /* buffer 0: u32 name, u8 kind, u8 wide, u8 dtype, u8 rank, i64 dims... */
    FRESH(), d[buffers + 4 + 7] = 9;
    expect_bytes_refused(d, size, "buffer 0 has rank 9, more than 8");
    FRESH(), put_le(d + buffers + 4 + 8, (uint64_t)-1, 8);
    expect_bytes_refused(d, size, "buffer 0 has dimension -1 out of range");
    FRESH(), d[buffers + 4 + 4] = 7;
    expect_bytes_refused(d, size, "buffer kind 7 is out of range");
    FRESH(), d[buffers + 4 + 6] = 12;
    expect_bytes_refused(d, size, "buffer dtype 12 is out of range");
    FRESH(), d[buffers + 4 + 6] = 6;     /* an i64 input cannot feed a quant */
    expect_bytes_refused(d, size, "buffer 0 'input' is i64; crossbar instructions take f32 buffers only");

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

    size_t flags = section_at(good, size, "FLAG");
    FRESH(), put_le(d + flags, 6, 4);
    expect_bytes_refused(d, size, "unknown flags 0x4");
    /* flags, u64 tuned-for seed, u32 length + the chip's text: none untuned */
    FRESH(), put_le(d + flags + 4, 7, 8);
    expect_bytes_refused(d, size, "a seed or chip for a program not tuned for one");
    FRESH(), put_le(d + flags + 12, 5000, 4);
    expect_bytes_refused(d, size, "a chip description of 5000 bytes");

    FRESH(), memcpy(d + buffers - 12, "BUFX", 4);
    expect_bytes_refused(d, size, "expected section buffers ('BUFS') but found 'BUFX'");

    /* an unknown cell encoding in tile 0 (header: u32 count, i32 rows, i32 cols, u8 encoding) */
    FRESH(), d[tiles + 12] = 2;
    expect_bytes_refused(d, size, "section tiles: cell encoding 2 is out of range [0, 2)");

    diags_init(&diags, arena);
    cr_expect_null(program_read(arena, path_in_dir("missing.xbp"), &diags));
    cr_expect(strstr(diags.first->text, "missing.xbp: error: cannot open: No such file or directory"));
    diags_init(&diags, arena);
    cr_expect_null(program_read(arena, dir, &diags));
    cr_expect(strstr(diags.first->text, "cannot read: is a directory"));
#undef FRESH
}

/* A program read from a file keeps its tiles packed as in the file, pointing
 * into the file's mapping: any run of cells unpacks (tile_levels, tile_cell)
 * to the levels written, from any first cell (not only whole bytes), also
 * after program_evict let its pages go and after the file was replaced (the
 * writer renames a new file over it); written again, it gives the same bytes. */
Test(program_bytes, read_tiles_stay_packed)
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
            t->levels[k] = (uint8_t)((k * 29 + bits * 3 + (k >> 2)) % (1 << bits));
        for (int k = 0; k < 8 * 16; k++)      /* tile 1: floats, all levels */
            p->tiles[1].cells[k] = (float)((k * 5 + 3) % (1 << bits));
        Program *back = round_trip(p);
        const Tile *b = &back->tiles[0];
        cr_assert(b->packed && !b->levels && b->packed_bits == bits, "cell_bits %d: not packed", bits);
        size_t size;
        unsigned char *before = file_bytes(path_in_dir("a.xbp"), &size);
        for (int pass = 0; pass < 2; pass++) {
            uint8_t out[7 * 17];
            for (int first = 0; first < 7 * 17; first++)
                for (int count = 0; first + count <= 7 * 17; count += 1 + count / 3) {
                    memset(out, 0xee, sizeof out);
                    const uint8_t *got = tile_levels(b, (size_t)first, (size_t)count, out);
                    cr_assert(memcmp(got, t->levels + first, (size_t)count) == 0,
                              "cell_bits %d, cells %d..+%d, pass %d", bits, first, count, pass);
                    if (first + count < 7 * 17)
                        cr_assert_eq(out[count], 0xee, "cell_bits %d: written past %d cells", bits, count);
                }
            for (int k = 0; k < 7 * 17; k++)
                cr_assert_eq(tile_cell(b, (size_t)k), (float)t->levels[k], "cell_bits %d, cell %d", bits, k);
            program_evict(back);    /* the pages come back from the file */
            cr_assert(write_program_file(back, path_in_dir("a.xbp")));     /* replaced by a new file */
        }
        cr_assert(write_program_file(back, path_in_dir("c.xbp")), "cell_bits %d", bits);
        size_t again_size;
        unsigned char *again = file_bytes(path_in_dir("c.xbp"), &again_size);
        cr_expect(again_size == size && memcmp(again, before, size) == 0, "cell_bits %d: written anew differs", bits);
        tile_unpack(arena, &back->tiles[0]);
        cr_assert(back->tiles[0].levels && !back->tiles[0].packed);
        cr_expect(memcmp(back->tiles[0].levels, t->levels, 7 * 17) == 0, "cell_bits %d: unpacked", bits);
    }
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

Test(program_bytes, fuzz_truncated)
{
    size_t size;
    unsigned char *good = valid_bytes(&size);
    int accepted = 0;
    for (size_t n = 0; n < size; n++)
        read_fuzzed(good, n, &accepted);
    cr_expect_eq(accepted, 0, "a truncated file was accepted");
}

Test(program_bytes, fuzz_flipped_bytes)
{
    size_t size;
    unsigned char *good = valid_bytes(&size), *d = arena_alloc(arena, size);
    test_seed(0x9e3779b97f4a7c15u);
    int accepted = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(d, good, size);
        for (int k = 0; k <= round % 4; k++) {
            uint64_t r = test_random();
            size_t at = (size_t)(r % size);
            d[at] = round % 3 == 0 ? (unsigned char)(r >> 32) : d[at] ^ (unsigned char)(1u << (r >> 40) % 8);
        }
        read_fuzzed(d, size, &accepted);
    }
    /* Flips inside constant data or a level that stays in range still read. */
    cr_expect_gt(accepted, 0);
    cr_expect_lt(accepted, 3000);
}

/* ---- explain ---- */
