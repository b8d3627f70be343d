/* test_program.c: the program file's writer, reader and explain listing.
 *
 * The reference is the small program of program_fixture.h, built by hand.
 * Round trips compare every field against the program in memory (not against
 * a captured file).  Programs broken in memory (the writer writes what it is
 * given) must be refused by the reader with the message that names the
 * problem; test_program_bytes.c breaks files byte by byte. */
#include "program_fixture.h"

TestSuite(program, .init = setup, .fini = teardown);


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

/* Write counts per cell (xbarc train) come back as they went out, 4 bytes a
 * cell after the tile's cells, and explain sums them per tile. */
Test(program, round_trip_cell_writes)
{
    Program *p = make_program(false);
    Tile *t = &p->tiles[1];
    size_t n = (size_t)t->rows * (size_t)t->cols;
    t->cell_writes = arena_array(p->arena, n, sizeof(uint32_t));
    uint64_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += t->cell_writes[k] = (uint32_t)(k * 2654435761u % 100000u);
    cr_assert(write_program_file(make_program(false), path_in_dir("plain.xbp")));
    cr_assert(write_program_file(p, path_in_dir("counted.xbp")));
    Program *back = round_trip(p);
    expect_same_program(p, back);
    cr_expect_null(back->tiles[0].cell_writes);
    FILE *a = fopen(path_in_dir("plain.xbp"), "rb"), *b = fopen(path_in_dir("counted.xbp"), "rb");
    fseek(a, 0, SEEK_END), fseek(b, 0, SEEK_END);
    cr_expect_eq(ftell(b) - ftell(a), (long)(4 * n), "4 bytes a cell");
    fclose(a), fclose(b);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    program_explain(back, out);
    fclose(out);
    char line[128];
    snprintf(line, sizeof line, "     1  %12llu", (unsigned long long)total);
    cr_expect(strstr(text, "cell writes (in-memory training)") && strstr(text, line), "%s", text);
    free(text);
}

/* A quantized program's levels go out packed at cell_bits (2) bits a cell, a
 * float program's as four bytes: the two 8x16 tiles take 2 x 32 bytes against
 * 2 x 512. */
Test(program, level_tiles_are_packed)
{
    cr_assert(write_program_file(make_program(false), path_in_dir("a.xbp")));
    cr_assert(write_program_file(make_program(true), path_in_dir("b.xbp")));
    FILE *a = fopen(path_in_dir("a.xbp"), "rb"), *b = fopen(path_in_dir("b.xbp"), "rb");
    fseek(a, 0, SEEK_END), fseek(b, 0, SEEK_END);
    /* float program: 2 x (512 - 32) more cell bytes, 8 fewer (no out_scale floats) */
    cr_expect_eq(ftell(b) - ftell(a), 2 * (512 - 32) - 8);
    fclose(a), fclose(b);
}

Test(program, write_is_atomic)
{
    const char *path = path_in_dir("a.xbp");
    cr_assert(write_program_file(make_program(false), path));
    cr_expect_not(write_program_file(make_program(false), "/nonexistent-dir/p.xbp"));
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
    cr_assert(write_program_file(p, path));
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
