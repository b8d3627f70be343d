/* test_train_map.c: the training mapping and what training adds
 * (backend/train_map.c, docs/train-mapping.md) against closed forms.
 *
 * The architecture fields of each mapping for every weight width; the
 * mapping read back from a layer's slices and sign; and, on a program built
 * by hand (a first trained layer F, then a layer L of two row blocks placed
 * where the test says), the transposed read's and the update's times when
 * blocks of a tile share rows, columns or the row-side ADCs, worked out here
 * from the figures of docs/perf.md 1. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "test_support.h"
#include "program_builder.h"

Test(train_map, mapping_fields_for_every_weight_width)
{
    Arena *arena = arena_new();
    for (int wb = 2; wb <= 16; wb++) {
        for (TrainMapping m = TRAIN_MAP_DEVICE; m <= TRAIN_MAP_SPLIT; m++) {
            Arch arch = arch_default();
            arch.weight_bits = wb;
            const char *why = train_mapping_arch(m, &arch, arena);
            /* device: offset, w + qmax needs wb bits; pair: wb - 1; split: two halves of wb - 1 */
            int bits = m == TRAIN_MAP_DEVICE ? wb : m == TRAIN_MAP_PAIR ? wb - 1 : (wb - 1 + 1) / 2;
            bool fits = bits <= 8 && !(m == TRAIN_MAP_SPLIT && wb - 1 < 2);
            cr_expect_eq(why == NULL, fits, "%s at weight_bits %d: %s", train_mapping_name(m), wb, why ? why : "fits");
            if (!fits)
                continue;
            cr_expect_eq(arch.cell_bits, bits, "%s at weight_bits %d", train_mapping_name(m), wb);
            cr_expect_eq(arch.sign, m == TRAIN_MAP_DEVICE ? SIGN_OFFSET : SIGN_PAIR_ANALOG);
            /* slices as bit-slice counts them (docs/crossbar.md 5) */
            int magnitude = m == TRAIN_MAP_DEVICE ? wb : wb - 1;
            int slices = (magnitude + arch.cell_bits - 1) / arch.cell_bits;
            cr_expect_eq(slices, m == TRAIN_MAP_SPLIT ? 2 : 1, "%s at weight_bits %d", train_mapping_name(m), wb);
        }
    }
    Arch digital = arch_default();
    digital.sign = SIGN_PAIR_DIGITAL;       /* a pair stays the kind of pair the architecture has */
    cr_expect_null(train_mapping_arch(TRAIN_MAP_PAIR, &digital, arena));
    cr_expect_eq(digital.sign, SIGN_PAIR_DIGITAL);
    TrainMapping m;
    TrainAlgorithm a;
    cr_expect(train_mapping_from_name("split", &m) && m == TRAIN_MAP_SPLIT);
    cr_expect(!train_mapping_from_name("none", &m));
    cr_expect(train_algorithm_from_name("ttv2", &a) && a == TRAIN_TTV2);
    cr_expect(!train_algorithm_from_name("adam", &a));
    arena_free(arena);
}

/* ---- a program built by hand ---- */

enum { CAP = 32 };

typedef struct {
    int tile, row, col;
} Spot;

/* quant, then one row block of `rows` rows a spot (K = rows x blocks), each
 * N weight columns of one slice in a pair (2N physical columns), then the
 * dequant: one vector of 8-bit unsigned codes. */
static int add_layer(Program *pg, const char *name, int src, int rows, int N, const Spot *spots, int blocks, int slices, SignMapping sign)
{
    int K = rows * blocks, width = N * slices * (sign == SIGN_OFFSET ? 1 : 2) + (sign == SIGN_OFFSET ? slices : 0);
    int codes = builder_buffer2(pg, BUF_TEMP, false, 1, K);
    builder_instr(pg, INSTR_QUANT, name, codes, src)->quant = (QuantParams){.scale = 1, .bits = 8};
    int acc = builder_buffer2(pg, BUF_TEMP, true, 1, N);
    for (int b = 0; b < blocks; b++) {
        int out = builder_buffer2(pg, BUF_TEMP, false, 1, sign == SIGN_PAIR_ANALOG ? width / 2 : width);
        builder_instr(pg, INSTR_MVM, name, out, codes)->mvm =
            (MvmParams){.tile = spots[b].tile, .tile_row = spots[b].row, .tile_col = spots[b].col, .rows = rows,
                        .src_col = b * rows, .phys_cols = width,
                        .out_cols = sign == SIGN_PAIR_ANALOG ? width / 2 : width, .dac_bits = 1, .in_bits = 8,
                        .sign = sign, .adc_bits = 10, .adc_max = 511, .row_end = 1};
        builder_instr(pg, INSTR_COMBINE, name, acc, out)->combine =
            (CombineParams){.n_cols = N, .n_per_group = N, .slices = slices, .cell_bits = 7, .sign = sign,
                            .accumulate = b > 0, .row_end = 1};
    }
    int y = builder_buffer2(pg, BUF_TEMP, false, 1, N);
    Instr *d = builder_instr(pg, INSTR_DEQUANT, name, y, acc);
    d->src[1] = builder_buffer2(pg, BUF_CONST, false, 1, N);
    d->dequant = (DequantParams){.batch = 1, .channels = N, .pixels = 1, .out_scale = pg->buffers[d->src[1]].data};
    return y;
}

/* F: 16 x 100 weights alone on tile 2; L: 100 x 8 weights as two row
 * blocks of 50 x 16 cells, the first on tile 0 at (0, 0), the second at
 * `second`. */
static Program *two_layers(Arena *arena, Spot second, int slices, SignMapping sign)
{
    Program *pg = builder_program(arena, CAP);
    pg->arch = arch_default();
    pg->n_tiles = 3;
    int x = builder_buffer2(pg, BUF_INPUT, false, 1, 16);
    Spot f = {2, 0, 0}, l[2] = {{0, 0, 0}, second};
    int h = add_layer(pg, "F", x, 16, 100, &f, 1, slices, sign);
    int y = add_layer(pg, "L", h, 50, 8, l, 2, slices, sign);
    pg->buffers[y].kind = BUF_OUTPUT;
    pg->outputs[pg->n_outputs++] = y;
    return pg;
}


static TrainMap cost(Arena *arena, Spot second, TrainAlgorithm algorithm, int slices, SignMapping sign)
{
    Diags diags;
    diags_init(&diags, arena);
    PerfParams params = perf_params_default();
    TrainMapRequest request = {.algorithm = algorithm, .bl = 10, .pulse_ns = 10};   /* F, L: the default */
    TrainMap map;
    cr_assert(train_map(arena, two_layers(arena, second, slices, sign), &params, &request, &map, &diags));
    cr_assert_eq(map.n_layers, 2);
    cr_expect_str_eq(map.layers[0].name, "F");
    cr_expect_str_eq(map.layers[1].name, "L");
    return map;
}

/* One transposed read step: 100 ns and the busiest row-side ADC's 8 rows at
 * 1/1.28 ns; 14 steps for 8-bit signed errors on a 1-bit DAC, per slice. */
#define BACK_BLOCK_NS (14 * (100 + 8 / 1.28))

Test(train_map, blocks_take_turns_where_they_share_lines)
{
    Arena *arena = arena_new();
    /* L's second block at rows 56.., columns 16..: no row, no column and no
     * row-side ADC (rows 56-63 are group 7, the first block's 48-49 group 6)
     * in common */
    TrainMap apart = cost(arena, (Spot){0, 56, 16}, TRAIN_SGD, 1, SIGN_PAIR_ANALOG);
    NEAR(apart.layers[0].backward_ns, 0);           /* the first trained layer sends no error back */
    NEAR(apart.layers[1].backward_ns, BACK_BLOCK_NS);
    NEAR(apart.layers[1].update_ns, 10 * 10);
    cr_expect_eq(apart.layers[1].blocks, 2);
    cr_expect_eq(apart.layers[1].tiles, 1);
    cr_expect_eq(apart.layers[1].k, 100);
    cr_expect_eq(apart.layers[1].n, 8);
    cr_expect_eq(apart.layers[1].mapping, TRAIN_MAP_PAIR);
    cr_expect_eq(apart.trained_tiles, 2);
    /* rows 50..: the row-side ADC of rows 48-55 converts for both blocks */
    TrainMap adc = cost(arena, (Spot){0, 50, 16}, TRAIN_SGD, 1, SIGN_PAIR_ANALOG);
    NEAR(adc.layers[1].backward_ns, 2 * BACK_BLOCK_NS);
    NEAR(adc.layers[1].update_ns, 10 * 10);
    /* the same rows: the update's row pulses meet both blocks */
    TrainMap rows = cost(arena, (Spot){0, 0, 16}, TRAIN_SGD, 1, SIGN_PAIR_ANALOG);
    NEAR(rows.layers[1].backward_ns, 2 * BACK_BLOCK_NS);
    NEAR(rows.layers[1].update_ns, 2 * 10 * 10);
    /* another tile: nothing shared, three tiles train */
    TrainMap tile = cost(arena, (Spot){1, 0, 0}, TRAIN_SGD, 1, SIGN_PAIR_ANALOG);
    NEAR(tile.layers[1].backward_ns, BACK_BLOCK_NS);
    NEAR(tile.layers[1].update_ns, 10 * 10);
    cr_expect_eq(tile.trained_tiles, 3);
    cr_expect_eq(tile.extra_tiles, 0);
    /* the split: one transposed read per slice */
    TrainMap split = cost(arena, (Spot){1, 0, 0}, TRAIN_SGD, 2, SIGN_PAIR_ANALOG);
    NEAR(split.layers[1].backward_ns, 2 * BACK_BLOCK_NS);
    cr_expect_eq(split.layers[1].mapping, TRAIN_MAP_SPLIT);
    cr_expect_eq(split.layers[1].fast_cells, 2 * 50 * 32 / 2);     /* slice 0: half of each block */
    arena_free(arena);
}

Test(train_map, algorithms_add_buffers_arrays_and_time)
{
    Arena *arena = arena_new();
    Spot other = {1, 0, 0};
    /* mixed precision: chi of K x N float32, its outer product 2 K N ops at 1.2 a ns */
    TrainMap mixed = cost(arena, other, TRAIN_MIXED, 1, SIGN_PAIR_ANALOG);
    NEAR(mixed.layers[1].buffer_bytes, 100 * 8 * 4);
    NEAR(mixed.buffer_bytes, (16 * 100 + 100 * 8) * 4);
    NEAR(mixed.layers[1].update_ns, 100 + 2 * 100 * 8 / 1.2);
    cr_expect_eq(mixed.extra_tiles, 0);
    /* Tiki-Taka v2: A on a tile for each trained tile; a transfer a step:
     * a read of A (its 16 columns: 4 analog pairs on the busiest ADC), H
     * += N values, one pulse slot */
    TrainMap ttv2 = cost(arena, other, TRAIN_TTV2, 1, SIGN_PAIR_ANALOG);
    cr_expect_eq(ttv2.extra_tiles, 3);
    cr_expect_eq(ttv2.layers[1].fast_tiles, 2);
    cr_expect_eq(ttv2.layers[1].fast_cells, 2 * 50 * 16);
    NEAR(ttv2.layers[1].update_ns, 100 + (100 + 4 / 1.28) + 8 / 1.2 + 10);
    /* area, docs/perf.md 1 and 5 (ISAAC), for 3 trained tiles of 128 x 128
     * and 10-bit ADCs: the other side's 128 DACs, 128 S+H, 16 ADCs and
     * shift-adds; 256 pulse drivers a tile, A's tiles included; A's tiles */
    double dac = 0.00017 / 1024, sh = 0.00004 / 1024, adc = 0.0012 * 4 + 0.00024 / 8;
    double tile = 0.0002 / 8 + 128 * dac + 128 * sh + (0.0021 + 0.00077) / 8 + 16 * adc;
    NEAR(ttv2.periphery_mm2, 3 * (128 * dac + 128 * sh + 16 * adc));
    NEAR(ttv2.drivers_mm2, 6 * 256 * dac);
    NEAR(ttv2.extra_tiles_mm2, 3 * tile);       /* 6 tiles: still one digital cluster */
    NEAR(ttv2.buffer_mm2, (16 * 100 + 100 * 8) * 4 / 1024.0 * 0.083 / 64);
    NEAR(ttv2.added_mm2, ttv2.periphery_mm2 + ttv2.drivers_mm2 + ttv2.extra_tiles_mm2 + ttv2.buffer_mm2);
    arena_free(arena);
}

Test(train_map, the_mapping_read_back_from_slices_and_sign)
{
    Arena *arena = arena_new();
    Spot other = {1, 0, 0};
    cr_expect_eq(train_mapping_of(two_layers(arena, other, 1, SIGN_OFFSET), "L"), TRAIN_MAP_DEVICE);
    cr_expect_eq(train_mapping_of(two_layers(arena, other, 1, SIGN_PAIR_DIGITAL), "L"), TRAIN_MAP_PAIR);
    cr_expect_eq(train_mapping_of(two_layers(arena, other, 2, SIGN_PAIR_ANALOG), "L"), TRAIN_MAP_SPLIT);
    cr_expect_eq(train_mapping_of(two_layers(arena, other, 4, SIGN_PAIR_ANALOG), "L"), TRAIN_MAP_NONE);
    cr_expect_eq(train_mapping_of(two_layers(arena, other, 2, SIGN_OFFSET), "L"), TRAIN_MAP_NONE);
    cr_expect_eq(train_mapping_of(two_layers(arena, other, 1, SIGN_PAIR_ANALOG), "nothing"), TRAIN_MAP_NONE);
    arena_free(arena);
}

Test(train_map, bad_requests_name_the_field)
{
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    PerfParams params = perf_params_default();
    Program *p = two_layers(arena, (Spot){1, 0, 0}, 1, SIGN_PAIR_ANALOG);
    TrainMap map;
    TrainMapRequest zero_bl = {.bl = 0, .pulse_ns = 10};
    cr_expect(!train_map(arena, p, &params, &zero_bl, &map, &diags));
    TrainMapRequest no_pulse = {.bl = 10, .pulse_ns = 0};
    cr_expect(!train_map(arena, p, &params, &no_pulse, &map, &diags));
    const char *names[] = {"L", "X"};
    TrainMapRequest unknown = {.bl = 10, .pulse_ns = 10, .n_layers = 2, .layers = names};
    cr_expect(!train_map(arena, p, &params, &unknown, &map, &diags));
    cr_expect_eq(diags.n_errors, 3);
    const char *last[] = {"L"};
    TrainMapRequest one = {.bl = 10, .pulse_ns = 10, .n_layers = 1, .layers = last};
    cr_expect(train_map(arena, p, &params, &one, &map, &diags));
    cr_expect_eq(map.n_layers, 1);
    NEAR(map.layers[0].backward_ns, 0);         /* trained alone, L is the first */
    arena_free(arena);
}
