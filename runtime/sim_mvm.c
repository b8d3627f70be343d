/* sim_mvm.c: reading a crossbar block (the `mvm` instruction, docs/crossbar.md 4-8).
 *
 * A read drives R rows with one DAC chunk of each input code and converts the
 * column sums with the block's ADC; the reads of a source row are then
 * shifted and added.  The code takes up to MVM_READ_TILE reads at a time (all
 * passes and cycles of a tile of source rows), so that their column sums are
 * one product:
 *
 *   mvm_program_block   once per Sim: "programs the chip".  It copies the
 *                       block's levels out of its tile into a dense [R x cols]
 *                       matrix.  For pair-analog it stores G+ - G- of each pair:
 *                       the subtraction of currents before the ADC is linear,
 *                       so reading the difference matrix gives the same sums at
 *                       half the work.  On a non-ideal chip (docs/noise.md)
 *                       each cell is what runtime/noise.c says it became
 *                       (variation, stuck-at faults, drift, on/off ratio, IR
 *                       drop), in level units (G - G_min) / dG, before the pair
 *                       difference is formed, and the read noise's variance of
 *                       each entry sits beside it (ld = 2 cols).
 *   gather              the drives of every read; a read whose drives are all
 *                       zero is skipped (its sums are exactly 0, its noise
 *                       too): half the bit planes of small activations.
 *   column_products     the kept reads' column sums (and read-noise
 *                       variances) as one product: with 1-bit DACs, sums of
 *                       table rows (runtime/sim_table.c); else an sgemm.
 *   (sim_noise.c)       a non-ideal chip's extra reads: the drift compensation's
 *                       calibration when a block is programmed, the input noise.
 *   convert_kept        per read and column, fused: sum + sqrt(var) z (one
 *                       normal per column and read, mvm_read_normals), the ADC
 *                       transfer of section 7, the shift-and-add.  The general
 *                       steps (adc_convert, adc_convert_errors) serve the
 *                       statistics hook and rare converters.
 *   (sim_read.c)        the common noisy read (1-bit DACs, read noise, no ADC
 *                       errors) does the last three in one pass with AVX-512.
 *
 * Exactness.  Levels and DAC chunks are small integers, so float sums are
 * exact while they stay below 2^24 in magnitude, in any order: products
 * (sgemm, table sums) run over at most `rows_per_sum` rows (derived from the
 * largest drive and the largest cell) and those partial sums are added in
 * double.  Column sums, ADC values and the shift-and-add are double: exact
 * integers up to 2^53, far above any shifted sum (at most (2^in_bits - 1) *
 * R * max|cell| in magnitude).  The result goes to dst as f32 or f64;
 * sim_new makes it f64 whenever that bound may reach 2^24 (with max|cell| =
 * 2^cell_bits - 1), so the store is exact too.  The ADC's full scale is a float, which past 2^24
 * cannot spell 2^bits - 1: a full scale equal to the code range rounded to
 * float means step 1.  A non-ideal chip's sums are not integers: their
 * products are plain float ones, and so are their conversions when the ADC
 * step is a power of two (convert_row_float).
 *
 * Fast path.  When the ADC is lossless for every sum the block can produce
 * (step 1 and a range covering R * (2^dac_bits - 1) * max|cell|) and no
 * per-read effect is modelled, each conversion returns its sum unchanged, and
 * sum over passes and cycles of +-2^(c*dac_bits) * chunk * cells is just
 * code * cells: one product of the codes replaces passes * cycles reads
 * (runtime/sim_fast.c goes further and folds the slices too).  Its float
 * partial sums are bounded by (2^in_bits - 1) * max|cell| per row, and the
 * shortcut is taken only when that product is below 2^24 too.  The counters
 * are computed from the formula either way, so they do not change with it.
 * A non-ideal block has no such shortcut: its ADC is never lossless (its sums
 * are not integers), and its reads all go through it. */
#include "runtime/sim_mvm.h"
#include "runtime/blas.h"
#include "runtime/wires.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FLOAT_EXACT = 1 << 24 };
/* (x + ROUNDER) - ROUNDER rounds x to an integer, half to even, in the
 * default rounding mode, for |x| < 2^51: nearbyint without the libm call. */
static const double ROUNDER = 6755399441055744.0;     /* 1.5 * 2^52 */

/* ---- programming the chip ---- */

/* Rows whose float sum of |drive| * |cell| products cannot pass 2^24; 0 when
 * one product alone may not be exact. */
static int exact_rows(double max_drive, double max_cell, int rows)
{
    double per_row = max_drive * max_cell;
    if (per_row > FLOAT_EXACT)
        return 0;
    if (per_row * rows <= FLOAT_EXACT)
        return rows;
    return (int)(FLOAT_EXACT / per_row);
}

static Adc make_adc(const MvmParams *mp, double max_cell, double min_cell)
{
    Adc adc = {.is_signed = mp->sign == SIGN_PAIR_ANALOG};
    int bits = mp->adc_bits < 62 ? mp->adc_bits : 62;
    double levels = adc.is_signed ? ldexp(1.0, bits - 1) - 1 : ldexp(1.0, bits) - 1;
    assert(levels >= 1 || mp->float_mode);
    if (levels < 1)
        levels = 1;             /* the program reader refuses such an ADC */
    /* adc_max is a float (see "Exactness" above) */
    adc.step = mp->adc_max == (float)levels ? 1.0 : (double)mp->adc_max / levels;
    adc.code_max = levels;
    adc.code_min = adc.is_signed ? -levels : 0;
    double bound = (double)mp->rows * (ldexp(1.0, mp->dac_bits) - 1) * max_cell;
    adc.lossless = adc.step == 1.0 && bound <= adc.code_max && (adc.is_signed || min_cell >= 0);
    return adc;
}

/* The cells of a block on a non-ideal chip, its read-noise variances, its
 * ADCs' errors and its drift compensation gain (docs/noise.md).  Each row's
 * physical cells come from noise_cell_row, in level units (G - G_min) / dG
 * at programming (for the compensation) and at the inference time; for the
 * read noise (G / dG)^2. */
static void program_noisy(Arena *arena, const Program *program, const MvmParams *mp, const Noise *nz, Block *b,
                          float *programmed)
{
    const Tile *tile = &program->tiles[mp->tile];
    bool pair_analog = mp->sign == SIGN_PAIR_ANALOG;
    int rows = mp->rows, cols = mp->out_cols, phys = mp->phys_cols;
    double sigma2 = nz->arch.read_sigma * nz->arch.read_sigma;
    double g_min = nz->arch.g_min_us, per_level = 1 / nz->level_us;
    size_t width = (size_t)(phys > 0 ? phys : 1);
    uint8_t *levels = arena_array(arena, width, sizeof *levels);
    double *g_prog = arena_array(arena, 2 * width, sizeof *g_prog), *g_now = g_prog + width;
    /* wires: every cell of the block (now, then as programmed) before the circuit */
    size_t n = wires_enabled(&nz->arch) ? (size_t)rows * width : 0;
    double *all = n ? malloc((programmed ? 2 : 1) * n * sizeof *all) : NULL;
    for (int r = 0; r < rows; r++) {
        int row = mp->tile_row + r;
        size_t first = (size_t)row * tile->cols + mp->tile_col;
        noise_cell_row(nz, mp->tile, tile->writes, row, mp->tile_col, phys,
                       tile_levels(tile, first, (size_t)phys, levels), tile->rows, tile->cols, g_prog, g_now);
        for (size_t x = 0; x < width && all; x++) {
            all[r * width + x] = g_now[x];
            if (programmed)
                all[n + r * width + x] = g_prog[x];
        }
        float *out = b->cells + (size_t)r * b->ld, *var = b->read_var ? b->read_var + (size_t)r * b->ld : NULL;
        for (int j = 0; j < cols; j++) {
            int x = pair_analog ? 2 * j : j;
            double now = (g_now[x] - g_min) * per_level, sq = (g_now[x] * per_level) * (g_now[x] * per_level);
            double prog = (g_prog[x] - g_min) * per_level;
            if (pair_analog) {
                now -= (g_now[x + 1] - g_min) * per_level;
                sq += (g_now[x + 1] * per_level) * (g_now[x + 1] * per_level);
                prog -= (g_prog[x + 1] - g_min) * per_level;
            }
            out[j] = (float)now;
            if (programmed)
                programmed[(size_t)r * cols + j] = (float)prog;
            if (var)
                var[j] = (float)(sigma2 * sq);
        }
    }
    if (n)
        b->error = wires_program_block(mp, nz, all, programmed ? all + n : NULL, b->cells, b->ld, programmed);
    free(all);
    b->out_gain = 1;
    if (nz->adc) {
        int per_adc = nz->arch.cols_per_adc > 0 ? nz->arch.cols_per_adc : 1;
        b->adc_gain = arena_array(arena, (size_t)(cols > 0 ? cols : 1), sizeof *b->adc_gain);
        b->adc_offset = arena_array(arena, (size_t)(cols > 0 ? cols : 1), sizeof *b->adc_offset);
        for (int j = 0; j < cols; j++) {
            int col = mp->tile_col + (pair_analog ? 2 * j : j);   /* a pair is converted once */
            double gain, offset;
            noise_adc(nz, mp->tile, col / per_adc, &gain, &offset);
            b->adc_gain[j] = (float)gain;
            b->adc_offset[j] = (float)offset;
        }
    }
}

void mvm_program_block(Arena *arena, const Program *program, const MvmParams *mp, const Noise *noise, int instr,
                       Block *block)
{
    const Tile *tile = &program->tiles[mp->tile];
    int rows = mp->rows, cols = mp->out_cols;
    assert(mp->tile_row >= 0 && mp->tile_row + rows <= tile->rows);
    assert(mp->tile_col >= 0 && mp->tile_col + mp->phys_cols <= tile->cols);
    assert(cols == (mp->sign == SIGN_PAIR_ANALOG ? mp->phys_cols / 2 : mp->phys_cols));

    bool noisy = noise && !mp->float_mode;
    int ld = noisy && noise->reads ? 2 * cols : cols;   /* the read noise's variances beside the cells */
    *block = (Block){.rows = rows, .cols = cols, .ld = ld, .out_gain = 1};
    double max_cell = 0, min_cell = 0;
    float *programmed = NULL;   /* drift compensation: the cells right after programming */
    Arena *scratch = NULL;
    if (noisy || mp->float_mode) {
        block->cells = arena_array(arena, (size_t)rows * (size_t)(ld > 0 ? ld : 1), sizeof *block->cells);
        if (noisy) {
            block->noise = noise;
            block->read_var = noise->reads ? block->cells + cols : NULL;
            block->read_key = noise_hash(noise->read_key, (uint64_t)instr);
            block->input_key = noise_hash(noise->input_key, (uint64_t)instr);
            if (noise->arch.drift_compensation) {     /* not kept: outside the Sim's memory bound */
                scratch = arena_new();
                programmed = arena_array(scratch, (size_t)rows * (size_t)(cols > 0 ? cols : 1), sizeof *programmed);
            }
            program_noisy(arena, program, mp, noise, block, programmed);
        } else {
            mvm_program_cells(arena, program, mp, block);
        }
    }
    /* An ideal block's cells wait for its first read (mvm_program_cells): a
     * block on the fast path never needs them (runtime/sim_fast.c). */
    float *row = block->cells ? NULL : malloc((size_t)(cols > 0 ? cols : 1) * sizeof *row);    /* freed below */
    if (!block->cells && !row)
        abort();
    bool scanned = row && (tile->levels || tile->packed);
    if (scanned) {              /* the same from the levels, in integer loops compilers vectorize */
        int top = 0, bottom = 0;
        uint8_t *unpacked = tile->levels ? NULL : malloc((size_t)mp->phys_cols + 1);   /* freed below */
        if (!tile->levels && !unpacked)
            abort();
        for (int r = 0; r < rows; r++) {
            const uint8_t *level = tile_levels(tile, (size_t)(mp->tile_row + r) * tile->cols + mp->tile_col,
                                               (size_t)mp->phys_cols, unpacked);
            if (mp->sign == SIGN_PAIR_ANALOG)
                for (int j = 0; j < cols; j++) {
                    int c = level[2 * j] - level[2 * j + 1], a = c < 0 ? -c : c;
                    top = a > top ? a : top;
                    bottom = c < bottom ? c : bottom;
                }
            else
                for (int j = 0; j < cols; j++)
                    top = level[j] > top ? level[j] : top;
        }
        max_cell = top;
        min_cell = bottom;
        free(unpacked);
    }
    for (int r = 0; r < rows && !scanned; r++) {
        const float *cell = block->cells ? block->cells + (size_t)r * ld : row;
        if (row)
            mvm_ideal_row(tile, mp, r, row);
        for (int j = 0; j < cols; j++) {
            float c = cell[j], a = c < 0 ? -c : c;
            max_cell = a > max_cell ? a : max_cell;
            min_cell = c < min_cell ? c : min_cell;
        }
    }
    free(row);
    if (mp->float_mode) {
        block->rows_per_sum = block->rows_per_code_sum = rows;
        return;
    }
    double max_chunk = ldexp(1.0, mp->dac_bits) - 1;
    double max_code = ldexp(1.0, mvm_magnitude_bits(mp)) - 1;
    block->rows_per_sum = exact_rows(max_chunk, max_cell, rows);
    block->rows_per_code_sum = exact_rows(max_code, max_cell, rows);
    block->adc = make_adc(mp, max_cell, min_cell);
    block->adc.lossless &= !block->noise;
    if (block->noise) {
        /* aihwkit's out_noise is relative to its out_bound, the ADC's range */
        double sigma = block->noise->arch.out_noise * block->adc.code_max * block->adc.step;
        block->out_var = sigma * sigma;
        block->input_sigma = (float)(block->noise->arch.inp_noise * max_chunk);
    }
    block->adc.inl = block->noise ? block->noise->arch.adc_inl_lsb : 0;
    if (programmed)
        mvm_calibrate_drift(scratch, block, mp, instr, programmed);
    arena_free(scratch);
    /* ideal cells are levels below 2^8 and DAC chunks below 2^16 (program_check.c):
     * products below 2^24; a non-ideal block's sums take no exact products */
    assert(block->rows_per_sum > 0 || block->noise);
}

void mvm_program_cells(Arena *arena, const Program *program, const MvmParams *mp, Block *block)
{
    const Tile *tile = &program->tiles[mp->tile];
    if (!block->cells)
        block->cells = arena_array(arena, (size_t)block->rows * (size_t)(block->ld > 0 ? block->ld : 1),
                                   sizeof *block->cells);
    for (int r = 0; r < block->rows; r++)
        mvm_ideal_row(tile, mp, r, block->cells + (size_t)r * block->ld);
}

/* count elements of `size` bytes from the arena, or (arena NULL) only counted */
static void *take(Arena *arena, size_t count, size_t size, size_t *bytes)
{
    *bytes += count * size;
    return arena ? arena_array(arena, count, size) : NULL;
}

/* The scratch's arrays (s NULL: only their size), in bytes. */
static size_t scratch_arrays(Arena *arena, MvmScratch *s, int max_rows, int max_cols, size_t max_table)
{
    MvmScratch counted;
    s = s ? s : &counted;
    size_t bytes = 0;
    size_t rows = (size_t)MVM_READ_TILE * (size_t)(max_rows > 0 ? max_rows : 1);
    size_t cols = (size_t)MVM_READ_TILE * (size_t)(max_cols > 0 ? max_cols : 1);
    s->magnitude = take(arena, rows, sizeof *s->magnitude, &bytes);
    s->drive = take(arena, rows, sizeof *s->drive, &bytes);
    s->part = take(arena, 2 * cols + (size_t)MVM_READ_TILE * MVM_TABLE_PAD, sizeof *s->part, &bytes);
    s->sums = take(arena, cols, sizeof *s->sums, &bytes);
    s->acc = take(arena, cols + (size_t)MVM_READ_TILE * MVM_TABLE_PAD, sizeof *s->acc, &bytes);
    s->read_of = take(arena, MVM_READ_TILE, sizeof *s->read_of, &bytes);
    s->drives_any = take(arena, MVM_READ_TILE, sizeof *s->drives_any, &bytes);
    s->zero = take(arena, (size_t)(max_cols > 0 ? max_cols : 1), sizeof *s->zero, &bytes);
    s->normals = take(arena, cols, sizeof *s->normals, &bytes);
    s->row_key = take(arena, MVM_READ_TILE, sizeof *s->row_key, &bytes);
    s->read_key = take(arena, MVM_READ_TILE, sizeof *s->read_key, &bytes);
    s->column_key = take(arena, (size_t)(max_cols > 0 ? max_cols : 1) / 4 + 1, sizeof *s->column_key, &bytes);
    s->column_hash = take(arena, (size_t)(max_cols > 0 ? max_cols : 1) / 4 + 1, sizeof *s->column_hash, &bytes);
    s->picked = take(arena, (size_t)(max_rows / 4 + 1), sizeof *s->picked, &bytes);
    s->subset = take(arena, (size_t)MVM_READ_TILE * (size_t)(max_rows / 4 + 1), sizeof *s->subset, &bytes);
    s->table = max_table ? take(arena, max_table, sizeof *s->table, &bytes) : NULL;
    return bytes;
}

void mvm_scratch_init(Arena *arena, MvmScratch *s, int max_rows, int max_cols, size_t max_table)
{
    blas_single_thread();
    scratch_arrays(arena, s, max_rows, max_cols, max_table);
}

size_t mvm_scratch_bytes(int max_rows, int max_cols)
{
    return scratch_arrays(NULL, NULL, max_rows, max_cols, 0);
}

/* ---- one read of n source rows ---- */

/* out[m x n] = a[m x k] (leading dimension lda) * b[k x n] (ldb), as floats:
 * one sgemm.  Exact when every sum of |products| stays below 2^24 (then
 * every partial sum is an integer a float holds, in whatever order sgemm
 * adds them). */
static void product(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *out, int ldo)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        for (int i = 0; i < m; i++)
            memset(out + (size_t)i * ldo, 0, (size_t)n * sizeof *out);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, out, ldo);
}

/* sums[m x n] (double) = a[m x rows] * b[rows x n] (ldb): products over runs
 * of at most rows_per_sum rows (each exact, see above), the runs added in
 * double.  `part` holds one run's floats. */
static void product_exact(int m, int n, int rows, const float *a, const float *b, int ldb, int rows_per_sum,
                          float *part, double *sums)
{
    size_t count = (size_t)m * n;
    int r0 = 0;
    assert(rows_per_sum > 0 || rows == 0);
    do {
        int k = rows - r0 < rows_per_sum ? rows - r0 : rows_per_sum;
        product(m, n, k, a + r0, rows, b + (size_t)r0 * ldb, ldb, part, n);
        for (size_t e = 0; e < count; e++)
            sums[e] = r0 == 0 ? part[e] : sums[e] + part[e];
        r0 += k;
    } while (r0 < rows);
}

/* The ADC transfer (docs/crossbar.md 7) in place: v becomes code * step with
 * code = clamp(round_half_even(v / step)).  A lossless ADC returns every sum
 * the block can produce unchanged and cannot saturate: the loop is skipped. */
static void adc_convert(const Adc *adc, double *v, int64_t n, SimCounters *counters)
{
    if (adc->lossless)
        return;
    double step = adc->step, lo = adc->code_min, hi = adc->code_max;
    uint64_t saturated = 0;
    if (hi < 0x1p30) {
        /* The common case, shaped so that compilers vectorize it: v / step is
         * first clamped into [lo - 1, hi + 1] (a NaN lands on an end), which
         * keeps the rounding trick valid and the code an int32 that still
         * shows a saturation; the comparisons are on integers, which unlike
         * floating-point ones cannot trap and so do not stop vectorization. */
        int32_t ilo = (int32_t)lo, ihi = (int32_t)hi, clipped = 0;
        double below = lo - 1, above = hi + 1;
        /* v / step is v * (1 / step) exactly when step is a power of two
         * (1 for a lossless range): a multiply instead of a divide */
        int exponent;
        bool power_of_two = frexp(step, &exponent) == 0.5;
        double inverse = 1 / step;
        for (int64_t i = 0; i < n; i++) {
            double q = power_of_two ? v[i] * inverse : v[i] / step;
            q = q < above ? q : above;
            q = q > below ? q : below;
            int32_t code = (int32_t)((q + ROUNDER) - ROUNDER);
            clipped += (code > ihi) | (code < ilo);
            code = code < ihi ? code : ihi;
            code = code > ilo ? code : ilo;
            v[i] = (double)code * step;
        }
        saturated = (uint64_t)clipped;
    } else {
        for (int64_t i = 0; i < n; i++) {
            double code = nearbyint(v[i] / step);
            saturated += (code > hi) | (code < lo);
            code = code < hi ? code : hi;
            code = code > lo ? code : lo;
            v[i] = code * step;
        }
    }
    counters->saturated += saturated;
}

/* adc_convert with the errors of each column's ADC: code = clamp(round_half_even(
 * gain * v / step + offset + INL)), offset and INL in LSB. */
static void adc_convert_errors(const Adc *adc, const float *gain, const float *offset, double *v, int n, int cols,
                               SimCounters *counters)
{
    double step = adc->step, lo = adc->code_min, hi = adc->code_max;
    double below = lo - 1, above = hi + 1;
    bool rounder = hi < 0x1p50;
    uint64_t saturated = 0;
    for (int i = 0; i < n; i++) {
        double *row = v + (size_t)i * cols;
        for (int j = 0; j < cols; j++) {
            double q = row[j] / step * gain[j] + offset[j];
            if (adc->inl != 0)
                q = q + adc_inl(adc, q);
            q = q < above ? q : above;      /* a NaN lands on `above` */
            q = q > below ? q : below;
            double code = rounder ? (q + ROUNDER) - ROUNDER : nearbyint(q);
            saturated += (code > hi) | (code < lo);
            code = code < hi ? code : hi;
            code = code > lo ? code : lo;
            row[j] = code * step;
        }
    }
    counters->saturated += saturated;
}

/* sum + sqrt(var) z: a float standard deviation (its rounding is far below
 * the noise it scales), the sum in double.  Two statements: no FMA. */
static inline double noisy_sum(float sum, float var, float z)
{
    float e = sqrtf(var) * z;
    return (double)sum + (double)e;
}

static void store_rows(const double *acc, int n, int cols, float *dst_f, double *dst_d)
{
    size_t count = (size_t)n * cols;
    if (dst_d) {
        memcpy(dst_d, acc, count * sizeof *acc);
    } else {
        for (size_t k = 0; k < count; k++)
            dst_f[k] = (float)acc[k];
    }
}

/* Codes of one pass, as unsigned magnitudes clamped to what the DACs can
 * take (a valid program never needs the clamp; it keeps the casts defined). */
void mvm_gather_magnitudes(const float *src, int64_t src_width, int src_col, int n, int rows,
                              int pass, double max_code, uint32_t *magnitude)
{
    float top = (float)max_code;
    for (int i = 0; i < n; i++) {
        const float *code = src + i * src_width + src_col;
        uint32_t *m = magnitude + (size_t)i * rows;
        for (int r = 0; r < rows; r++) {
            float c = pass == 0 ? code[r] : -code[r];    /* the part this pass drives */
            m[r] = c > 0 ? (uint32_t)(c < top ? c : top) : 0;
        }
    }
}

/* Linear shortcut (float mode, or the lossless fast path): one product of the
 * source values themselves into acc. */
static void execute_linear(const MvmParams *mp, const Block *b, const float *src, int64_t src_width,
                           int n, MvmScratch *s, int rows_per_sum)
{
    float top = mp->float_mode ? INFINITY : (float)(ldexp(1.0, mvm_magnitude_bits(mp)) - 1);
    float bottom = mp->float_mode ? -INFINITY : mp->in_signed ? -top : 0;
    for (int i = 0; i < n; i++) {
        const float *x = src + i * src_width + mp->src_col;
        float *d = s->drive + (size_t)i * b->rows;
        if (mp->float_mode) {
            memcpy(d, x, (size_t)b->rows * sizeof *d);
        } else {
            for (int r = 0; r < b->rows; r++) {
                /* A clamp by comparisons (fminf/fmaxf are library calls
                 * here); NaN goes to the bottom, as fmaxf would send it. */
                float v = x[r];
                d[r] = v > bottom ? (v < top ? v : top) : bottom;
            }
        }
    }
    product_exact(n, b->cols, b->rows, s->drive, b->cells, b->ld, rows_per_sum, s->part, s->acc);
}

/* ---- reads ---- */

/* The drives of every read of n source rows, in read order (pass, cycle,
 * source row), without the reads whose drives are all zero: their column
 * sums are 0 exactly, with no read noise (its variance is 0).
 * s->read_of[k] = (pass * cycles + cycle) * n + source row of kept read k,
 * whose drives are row k of s->drive; returns how many are kept. */
static int gather_drives(const MvmParams *mp, const float *src, int64_t src_width, int rows, int n, bool every_read,
                         MvmScratch *s)
{
    int cycles = mvm_cycles(mp), m = 0;
    uint32_t mask = ((uint32_t)1 << mp->dac_bits) - 1;
    double max_code = ldexp(1.0, mvm_magnitude_bits(mp)) - 1;
    for (int pass = 0; pass < mvm_passes(mp); pass++) {
        mvm_gather_magnitudes(src, src_width, mp->src_col, n, rows, pass, max_code, s->magnitude);
        for (int c = 0; c < cycles; c++) {
            int shift = c * mp->dac_bits;
            for (int i = 0; i < n; i++) {
                const uint32_t *magnitude = s->magnitude + (size_t)i * rows;
                float *d = s->drive + (size_t)m * rows;
                uint32_t any = 0;
                for (int r = 0; r < rows; r++) {
                    uint32_t chunk = (magnitude[r] >> shift) & mask;
                    d[r] = (float)chunk;
                    any |= chunk;
                }
                s->read_of[m] = (pass * cycles + c) * n + i;
                m += any != 0 || every_read;
            }
        }
    }
    return m;
}

/* The column sums of the m kept reads as floats in s->part, row k at
 * k * (returned stride), the variances of their read noise (if any) beside
 * them; or, for a wide DAC on an ideal chip, whose sums may need several
 * exact runs, as doubles in s->sums (returns 0).  On a non-ideal chip the
 * sums are not integers: one float product (or one table sum) gives the
 * sums and, from the columns of read_var beside the cells, the variances
 * (for 1-bit DACs drive^2 = drive; wider DACs take a second product of the
 * squared drives). */
static int column_products(const MvmParams *mp, const Block *b, const float *table, int group, int m,
                           MvmScratch *s)
{
    int rows = b->rows, cols = b->cols, width = b->ld;
    if (table) {
        width = mvm_table_ld(b);
        mvm_table_sums(m, s->read_of, mvm_table_groups(rows, group), group, s->subset, table, width, b->ld, s->part,
                   s->picked);
    } else if (!b->noise) {
        product_exact(m, cols, rows, s->drive, b->cells, b->ld, b->rows_per_sum, s->part, s->sums);
        return 0;
    } else if (b->read_var && (mp->dac_bits > 1 || b->input_sigma > 0)) {   /* drive^2 != drive */
        product(m, cols, rows, s->drive, rows, b->cells, b->ld, s->part, width);
        for (size_t k = 0; k < (size_t)m * rows; k++)
            s->drive[k] *= s->drive[k];
        product(m, cols, rows, s->drive, rows, b->read_var, b->ld, s->part + cols, width);
    } else {
        product(m, width, rows, s->drive, rows, b->cells, b->ld, s->part, width);
    }
    return width;
}

/* The ADC of this block on `count` rows of cols sums in place. */
void mvm_convert(const Block *b, double *v, int count, SimCounters *counters)
{
    if (b->adc_gain)
        adc_convert_errors(&b->adc, b->adc_gain, b->adc_offset, v, count, b->cols, counters);
    else
        adc_convert(&b->adc, v, (int64_t)count * b->cols, counters);
}

/* One read's conversions, fused: its column sums (with read noise when
 * `noisy`), the ADC transfer (with each column's gain and offset when
 * `errors`; v / step as v * inverse when that is exact), and the
 * shift-and-add into its source row's acc.  The same operations as
 * adc_convert and adc_convert_errors, one statement each (no FMA). */
static inline __attribute__((always_inline)) int32_t
convert_row(bool noisy, bool errors, int cols, const float *sum, const float *var, const float *z, const Adc *adc,
            bool multiply, double inverse, const float *gain, const float *offset, double weight, double *acc)
{
    double step = adc->step, lo = adc->code_min, hi = adc->code_max, below = lo - 1, above = hi + 1;
    int32_t clipped = 0;
    for (int j = 0; j < cols; j++) {
        double v = noisy ? noisy_sum(sum[j], var[j], z[j]) : (double)sum[j];
        double q;
        if (errors) {
            q = v / step;
            q = q * gain[j];
            q = q + offset[j];
            if (adc->inl != 0)
                q = q + adc_inl(adc, q);
        } else {
            q = multiply ? v * inverse : v / step;
        }
        q = q < above ? q : above;      /* a NaN lands on `above` */
        q = q > below ? q : below;
        double code = q + ROUNDER;      /* an integer in [lo - 1, hi + 1], kept in double */
        code = code - ROUNDER;
        clipped += (code > hi) | (code < lo);
        code = code < hi ? code : hi;
        code = code > lo ? code : lo;
        double value = code * step;
        double add = weight * value;
        acc[j] = acc[j] + add;
    }
    return clipped;
}

/* convert_row for the common non-ideal read (read noise, no ADC errors, a
 * step that is a power of two, codes below 2^21) in float: the sums are
 * not integers there, and float vectors hold twice the lanes.  The same
 * steps, rounded to float. */
static inline __attribute__((always_inline)) int32_t
convert_row_float(int cols, const float *sum, const float *var, const float *z, const Adc *adc, double weight,
                  double *acc)
{
    float step = (float)adc->step, inverse = 1 / step, lo = (float)adc->code_min, hi = (float)adc->code_max;
    float below = lo - 1, above = hi + 1;
    int32_t clipped = 0;
    for (int j = 0; j < cols; j++) {
        float e = sqrtf(var[j]) * z[j];
        float v = sum[j] + e;
        float q = v * inverse;
        q = q < above ? q : above;      /* a NaN lands on `above` */
        q = q > below ? q : below;
        float code = q + 0x1.8p23f;     /* round half to even, |q| < 2^22 */
        code = code - 0x1.8p23f;
        clipped += (code > hi) | (code < lo);
        code = code < hi ? code : hi;
        code = code > lo ? code : lo;
        float value = code * step;
        double add = weight * (double)value;
        acc[j] = acc[j] + add;
    }
    return clipped;
}

/* The kept reads' conversions, compiled for AVX-512, AVX2 and the baseline,
 * chosen at run time (the same operations, so the same bits). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static uint64_t convert_kept(const Block *b, int m, const float *part, int ld, const float *normals,
                             const int *read_of, int n, const double *weight, double *acc)
{
    int cols = b->cols;
    bool noisy = b->read_var != NULL, errors = b->adc_gain != NULL;
    int exponent;
    bool multiply = frexp(b->adc.step, &exponent) == 0.5;     /* a power of two */
    double inverse = 1 / b->adc.step;
    bool in_float = noisy && !errors && mvm_converts_in_float(b);
    uint64_t clipped = 0;
    for (int k = 0; k < m; k++) {
        const float *sum = part + (size_t)k * ld, *var = sum + cols, *z = normals + (size_t)k * cols;
        double w = weight[read_of[k] / n], *a = acc + (size_t)(read_of[k] % n) * cols;
        const float *g = b->adc_gain, *o = b->adc_offset;
        const Adc *adc = &b->adc;
        int32_t c;
        if (in_float)
            c = convert_row_float(cols, sum, var, z, adc, w, a);
        else if (noisy && errors)
            c = convert_row(true, true, cols, sum, var, z, adc, multiply, inverse, g, o, w, a);
        else if (noisy)
            c = convert_row(true, false, cols, sum, var, z, adc, multiply, inverse, g, o, w, a);
        else if (errors)
            c = convert_row(false, true, cols, sum, var, z, adc, multiply, inverse, g, o, w, a);
        else
            c = convert_row(false, false, cols, sum, var, z, adc, multiply, inverse, g, o, w, a);
        clipped += (uint64_t)c;
    }
    return clipped;
}

/* Every read of n source rows: the kept reads' column sums in one product
 * (or table sum), their read noise and conversions; then the shift-and-add
 * of each source row's reads in read order (pass, then cycle), the skipped
 * reads adding what the ADCs make of a zero sum (0, unless they have
 * offsets).  The common case goes through convert_kept at once; the
 * statistics hook, huge or lossless ADCs, ADC offsets on skipped reads and
 * exact wide-DAC sums take the steps one by one. */
static void execute_reads(const MvmParams *mp, const Block *b, const float *table, bool direct, int group,
                          const float *src, int64_t src_width, int n, int64_t first_row, MvmScratch *s,
                          SimCounters *counters)
{
    int cols = b->cols, cycles = mvm_cycles(mp);
    int total = n * mvm_passes(mp) * cycles;
    /* with output or input noise, a read that drives no row still converts noise */
    bool every_read = b->out_var > 0 || b->input_sigma > 0;
    int m = table || direct ? mvm_gather_subsets(mp, group, src, src_width, b->rows, n, s)
                  : gather_drives(mp, src, src_width, b->rows, n, every_read, s);
    if (table && every_read) {
        for (int t = 0; t < total; t++)
            s->read_of[t] = t;
        m = total;
    }
    if (b->input_sigma > 0)
        mvm_input_noise(b, m, s->read_of, n, first_row, s);
    /* the common noisy read in one pass (runtime/sim_read.c): no ADC errors
     * (skipped reads add 0), no output noise, conversions in float */
    bool fused = direct || (table && mvm_reads_in_one_pass(b, s->record != NULL));
    int ld = fused ? mvm_table_ld(b) : column_products(mp, b, table, group, m, s);
    if (b->read_var && !fused)
        mvm_read_normals(b, m, s->read_of, n, first_row, s);
    if (b->out_var > 0)         /* independent of the read noise: the variances add */
        for (int k = 0; k < m; k++) {
            float *var = s->part + (size_t)k * ld + cols;
            for (int j = 0; j < cols; j++)
                var[j] = (float)(var[j] + b->out_var);
        }

    bool zero_adds = false;     /* does a skipped read add anything? */
    if (m < total) {
        SimCounters zero_counters = {0};
        for (int j = 0; j < cols; j++)
            s->zero[j] = 0;
        for (int k = m; k < total && s->record; k++)
            psum_hist_add(s->record, s->zero, cols);
        mvm_convert(b, s->zero, 1, &zero_counters);
        counters->saturated += zero_counters.saturated * (uint64_t)(total - m);
        for (int j = 0; j < cols; j++)
            zero_adds |= s->zero[j] != 0;
    }
    double weight[64];
    for (int r = 0; r < total / n && r < 64; r++)
        weight[r] = ldexp(r / cycles == 0 ? 1.0 : -1.0, (r % cycles) * mp->dac_bits);
    memset(s->acc, 0, (size_t)n * cols * sizeof *s->acc);

    if (fused) {
        mvm_read_keys(b, n, first_row, s);
        counters->saturated += mvm_fused_reads(b, m, s->read_of, n, total / n, group, direct ? NULL : table, weight, s);
    } else if (ld > 0 && !s->record && !b->adc.lossless && b->adc.code_max < 0x1p30 && !zero_adds) {
        counters->saturated += convert_kept(b, m, s->part, ld, s->normals, s->read_of, n, weight, s->acc);
    } else {
        for (int k = 0; k < m && ld > 0; k++) {
            const float *sum = s->part + (size_t)k * ld, *z = s->normals + (size_t)k * cols;
            double *v = s->sums + (size_t)k * cols;
            for (int j = 0; j < cols; j++)
                v[j] = b->read_var ? noisy_sum(sum[j], sum[cols + j], z[j]) : (double)sum[j];
        }
        if (s->record)
            psum_hist_add(s->record, s->sums, (int64_t)m * cols);
        mvm_convert(b, s->sums, m, counters);
        for (int t = 0, k = 0; t < total; t++) {
            const double *v = s->zero;
            if (k < m && s->read_of[k] == t)
                v = s->sums + (size_t)k++ * cols;
            else if (!zero_adds)
                continue;
            double w = weight[t / n], *acc = s->acc + (size_t)(t % n) * cols;
            for (int j = 0; j < cols; j++)
                acc[j] += w * v[j];
        }
    }
    if (b->out_gain != 1)       /* drift compensation: digital, after the ADCs */
        for (size_t k = 0; k < (size_t)n * cols; k++)
            s->acc[k] *= b->out_gain;
}

bool mvm_is_linear(const MvmParams *mp, const Block *b, bool fast)
{
    return mp->float_mode || (fast && b->adc.lossless && b->rows_per_code_sum > 0);
}

void mvm_count_reads(const MvmParams *mp, int64_t n_rows, SimCounters *counters)
{
    uint64_t reads = (uint64_t)n_rows * (uint64_t)(mvm_passes(mp) * mvm_cycles(mp));
    counters->reads += reads;
    if (!mp->float_mode)
        counters->conversions += reads * (uint64_t)mp->out_cols;
}

/* Fewer than one read in 8 table rows (a Gemm's 8 reads an image): the
 * fused reads add the block's rows themselves, from its cells in the L2
 * cache rather than table rows beyond it (LeNet-5's fc1: 8 MB of them). */
bool mvm_reads_direct(const MvmParams *mp, const Block *b, int64_t n_rows, bool recording)
{
    int wide = mvm_table_group(mp);
    int64_t reads = n_rows * mvm_passes(mp) * mvm_cycles(mp);
    return b->input_sigma == 0 && mvm_table_floats(mp, b, wide) && mvm_reads_in_one_pass(b, recording) &&
           reads * 8 < ((int64_t)mvm_table_groups(b->rows, wide) << wide);
}

void mvm_execute(const MvmParams *mp, const Block *b, bool fast, const float *src,
                 int64_t n_rows, int64_t src_width, float *dst_f, double *dst_d,
                 MvmScratch *s, SimCounters *counters)
{
    assert(mp->src_col >= 0 && mp->src_col + mp->rows <= src_width);
    assert(mp->float_mode || (mp->dac_bits >= 1 && mp->dac_bits <= 16 && mp->in_bits >= 1 &&
                              mvm_magnitude_bits(mp) <= 31));
    int reads_per_row = mvm_passes(mp) * mvm_cycles(mp);
    mvm_count_reads(mp, n_rows, counters);

    bool linear = mvm_is_linear(mp, b, fast);
    const float *table = b->table;
    int group = b->table_group;
    bool direct = !linear && mvm_reads_direct(mp, b, n_rows, s->record != NULL);
    if (direct)
        group = mvm_table_group(mp);
    if (b->input_sigma > 0)     /* drives are no longer bits: no subset sums */
        table = NULL;
    else if (!linear && !table && !direct && mvm_table_floats(mp, b, mvm_table_group(mp)) && n_rows > 0) {
        group = mvm_table_group(mp);
        mvm_build_table(b, group, s->table);      /* none kept: built for this run */
        table = s->table;
    }
    int tile = linear ? MVM_READ_TILE : MVM_READ_TILE / reads_per_row;
    for (int64_t p0 = 0; p0 < n_rows; p0 += tile) {
        int n = n_rows - p0 < tile ? (int)(n_rows - p0) : tile;
        const float *rows = src + p0 * src_width;
        if (linear)
            execute_linear(mp, b, rows, src_width, n, s,
                           mp->float_mode ? b->rows : b->rows_per_code_sum);
        else
            execute_reads(mp, b, table, direct, group, rows, src_width, n, mp->row_begin + p0, s, counters);
        size_t at = (size_t)p0 * (size_t)b->cols;
        store_rows(s->acc, n, b->cols, dst_f ? dst_f + at : NULL, dst_d ? dst_d + at : NULL);
    }
}
