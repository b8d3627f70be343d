/* sim_mvm.c: reading a crossbar block (the `mvm` instruction, docs/crossbar.md 4-8).
 *
 * A read drives R rows with one DAC chunk of each input code and converts the
 * column sums with the block's ADC.  For P source rows, a cycle is therefore a
 * small matrix product: drive[P x R] times the block's cells [R x cols], then
 * the ADC elementwise on [P x cols], then a shift-and-add.  That is exactly how
 * the code is shaped, P in steps of MVM_ROW_TILE rows so everything stays in
 * cache:
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
 *                       difference is formed.
 *   read_columns        sums[P x cols] = drive[P x R] * cells[R x cols].
 *                       Read noise is added to `sums` right after it
 *                       (add_read_noise: one normal per column and read, of
 *                       the exact variance of the sum of the cells' noises).
 *   adc_convert         the ADC transfer of section 7 on a [P x cols] matrix,
 *                       counting saturations; adc_convert_errors is the same
 *                       with each ADC's gain and offset error.
 *
 * Exactness.  Levels and DAC chunks are small integers, so float sums are
 * exact while they stay below 2^24; read_columns sums in float over at most
 * `rows_per_sum` rows (derived from the largest drive and the largest cell)
 * and adds those partial sums in double.  Column sums, ADC values and the
 * shift-and-add are double: exact integers up to 2^53, far above any shifted
 * sum (at most max_result = (2^in_bits - 1) * R * max|cell| in magnitude).
 * The result goes to dst as f32 or f64; sim_new makes it f64 whenever
 * max_result reaches 2^24, so the store is exact too.  The ADC's full scale
 * is a float, which past 2^24 cannot spell 2^bits - 1: a full scale equal to
 * the code range rounded to float means step 1.
 *
 * Fast path.  When the ADC is lossless for every sum the block can produce
 * (step 1 and a range covering R * (2^dac_bits - 1) * max|cell|) and no
 * per-read effect is modelled, each conversion returns its sum unchanged, and
 * sum over passes and cycles of +-2^(c*dac_bits) * chunk * cells is just
 * code * cells: one product of the codes replaces passes * cycles reads.  Its
 * float partial sums are bounded by (2^in_bits - 1) * max|cell| per row, and the
 * shortcut is taken only when that product is below 2^24 too.  The counters
 * are computed from the formula either way, so they do not change with it.
 * A non-ideal block has no such shortcut: its ADC is never lossless (its sums
 * are not integers), and its reads all go through it. */
#include "runtime/sim_mvm.h"

#include <assert.h>
#include <math.h>
#include <string.h>

enum { FLOAT_EXACT = 1 << 24, COL_BLOCK = 32 };
/* (x + ROUNDER) - ROUNDER rounds x to an integer, half to even, in the
 * default rounding mode, for |x| < 2^51: nearbyint without the libm call. */
static const double ROUNDER = 6755399441055744.0;     /* 1.5 * 2^52 */

/* ---- programming the chip ---- */

static int mvm_passes(const MvmParams *mp)
{
    return !mp->float_mode && mp->in_signed ? 2 : 1;
}

static int mvm_magnitude_bits(const MvmParams *mp)
{
    return mp->in_signed ? mp->in_bits - 1 : mp->in_bits;
}

static int mvm_cycles(const MvmParams *mp)
{
    if (mp->float_mode)
        return 1;
    return (mvm_magnitude_bits(mp) + mp->dac_bits - 1) / mp->dac_bits;
}

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

/* One physical cell of a non-ideal chip in level units: right after
 * programming (*prog) and at the inference time (*now), and (G / dG)^2 at
 * the inference time (*sq, for the read noise). */
static void chip_cell(const Noise *nz, int tile_id, const Tile *tile, int row, int col, double *prog, double *now,
                      double *sq)
{
    float cell = tile_cell(tile, (size_t)row * tile->cols + col);
    int level = cell > 0 ? (int)(cell + 0.5f) : 0;
    double g_prog, g_now;
    noise_cell_rewritten(nz, tile_id, tile->writes, row, col, level, tile->rows, tile->cols, &g_prog, &g_now);
    *prog = (g_prog - nz->arch.g_min_us) / nz->level_us;
    *now = (g_now - nz->arch.g_min_us) / nz->level_us;
    *sq = (g_now / nz->level_us) * (g_now / nz->level_us);
}

/* The cells of a block on a non-ideal chip, its read-noise variances, its
 * ADCs' errors and its drift compensation gain (docs/noise.md). */
static void program_noisy(Arena *arena, const Program *program, const MvmParams *mp, const Noise *nz, Block *b)
{
    const Tile *tile = &program->tiles[mp->tile];
    bool pair_analog = mp->sign == SIGN_PAIR_ANALOG;
    int rows = mp->rows, cols = mp->out_cols;
    double sigma2 = nz->arch.read_sigma * nz->arch.read_sigma;
    if (nz->reads)
        b->read_var = arena_array(arena, (size_t)rows * (size_t)(cols > 0 ? cols : 1), sizeof *b->read_var);
    double sum_prog = 0, sum_now = 0;       /* a calibration read with every row driven */
    for (int r = 0; r < rows; r++) {
        int row = mp->tile_row + r;
        for (int j = 0; j < cols; j++) {
            int col = mp->tile_col + (pair_analog ? 2 * j : j);
            double prog, now, sq;
            chip_cell(nz, mp->tile, tile, row, col, &prog, &now, &sq);
            if (pair_analog) {
                double prog_minus, now_minus, sq_minus;
                chip_cell(nz, mp->tile, tile, row, col + 1, &prog_minus, &now_minus, &sq_minus);
                sum_prog += prog + prog_minus, sum_now += now + now_minus;
                now -= now_minus;
                sq += sq_minus;
            } else {
                sum_prog += prog, sum_now += now;
            }
            b->cells[(size_t)r * cols + j] = (float)now;
            if (b->read_var)
                b->read_var[(size_t)r * cols + j] = (float)(sigma2 * sq);
        }
    }
    b->out_gain = 1;
    if (nz->arch.drift_compensation && nz->drift_log > 0 && sum_prog > 0 && sum_now > 0)
        b->out_gain = sum_prog / sum_now;
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
    bool pair_analog = mp->sign == SIGN_PAIR_ANALOG;
    int rows = mp->rows, cols = mp->out_cols;
    assert(mp->tile_row >= 0 && mp->tile_row + rows <= tile->rows);
    assert(mp->tile_col >= 0 && mp->tile_col + mp->phys_cols <= tile->cols);
    assert(cols == (pair_analog ? mp->phys_cols / 2 : mp->phys_cols));

    float *cells = arena_array(arena, (size_t)rows * (size_t)(cols > 0 ? cols : 1), sizeof *cells);
    *block = (Block){.rows = rows, .cols = cols, .cells = cells, .out_gain = 1};
    if (noise && !mp->float_mode) {
        block->noise = noise;
        block->read_key = noise_hash(noise->read_key, (uint64_t)instr);
        program_noisy(arena, program, mp, noise, block);
    } else {
        for (int r = 0; r < rows; r++) {
            size_t level = (size_t)(mp->tile_row + r) * tile->cols + mp->tile_col;   /* the row's first cell */
            float *out = cells + (size_t)r * cols;
            for (int j = 0; j < cols; j++)
                out[j] = pair_analog ? tile_cell(tile, level + 2 * j) - tile_cell(tile, level + 2 * j + 1)
                                     : tile_cell(tile, level + j);
        }
    }
    double max_cell = 0, min_cell = 0;
    for (size_t k = 0; k < (size_t)rows * cols; k++) {
        max_cell = fmax(max_cell, fabs(cells[k]));
        min_cell = fmin(min_cell, cells[k]);
    }
    if (mp->float_mode) {
        block->rows_per_sum = block->rows_per_code_sum = rows;
        block->max_result = 0;      /* float sums: f32 as they come */
        return;
    }
    double max_chunk = ldexp(1.0, mp->dac_bits) - 1;
    double max_code = ldexp(1.0, mvm_magnitude_bits(mp)) - 1;
    block->rows_per_sum = exact_rows(max_chunk, max_cell, rows);
    block->rows_per_code_sum = exact_rows(max_code, max_cell, rows);
    block->max_result = max_code * rows * max_cell;
    block->adc = make_adc(mp, max_cell, min_cell);
    block->adc.lossless &= !block->noise;
    assert(block->rows_per_sum > 0);   /* chunks and levels are at most 2^8 and 2^9 */
}

void mvm_scratch_init(Arena *arena, MvmScratch *s, int max_rows, int max_cols)
{
    size_t rows = (size_t)MVM_ROW_TILE * (size_t)(max_rows > 0 ? max_rows : 1);
    size_t cols = (size_t)MVM_ROW_TILE * (size_t)(max_cols > 0 ? max_cols : 1);
    s->magnitude = arena_array(arena, rows, sizeof *s->magnitude);
    s->drive = arena_array(arena, rows, sizeof *s->drive);
    s->sums = arena_array(arena, cols, sizeof *s->sums);
    s->acc = arena_array(arena, cols, sizeof *s->acc);
    s->row_index = arena_array(arena, (size_t)(max_rows > 0 ? max_rows : 1), sizeof *s->row_index);
    s->row_value = arena_array(arena, (size_t)(max_rows > 0 ? max_rows : 1), sizeof *s->row_value);
    s->drive_sq = arena_array(arena, rows, sizeof *s->drive_sq);
    s->vars = arena_array(arena, cols, sizeof *s->vars);
}

/* ---- one read of n source rows ---- */

/* part[0..W) = sum over the listed rows of value * cells[row, 0..W), one
 * function per width W.  The sums live in W/4 four-float vectors (a GCC and
 * Clang extension, compiled to SSE on x86-64 and to plain code elsewhere):
 * left to itself, GCC 12 unrolls the row loop and keeps the sums in memory,
 * three times slower.  Vector adds and multiplies round each lane exactly as
 * the scalar ones do. */
typedef float Float4 __attribute__((vector_size(16)));

#define ADD_ROWS(W)                                                                  \
    static void add_rows_##W(int count, const int *row, const float *value,         \
                             const float *cells, int cols, float *part)             \
    {                                                                                \
        Float4 sum[W / 4] = {0};                                                     \
        for (int t = 0; t < count; t++) {                                            \
            const float *w = cells + (size_t)row[t] * cols;                          \
            Float4 x = {value[t], value[t], value[t], value[t]};                     \
            for (int k = 0; k < W / 4; k++) {                                        \
                Float4 wk;                                                           \
                memcpy(&wk, w + 4 * k, sizeof wk);                                   \
                sum[k] += x * wk;                                                    \
            }                                                                        \
        }                                                                            \
        memcpy(part, sum, sizeof sum);                                               \
    }
ADD_ROWS(32)
ADD_ROWS(16)
ADD_ROWS(8)
ADD_ROWS(4)
#undef ADD_ROWS

static void add_rows_1(int count, const int *row, const float *value, const float *cells, int cols,
                       float *part)
{
    float sum = 0;
    for (int t = 0; t < count; t++)
        sum += value[t] * cells[(size_t)row[t] * cols];
    part[0] = sum;
}

/* sums[n x cols] = drive[n x rows] * cells[rows x cols], in float over runs of
 * at most rows_per_sum rows (exact, see above), the runs added in double.
 * A zero drive adds nothing (half the bits of a bit-serial input, every
 * padding tap, every zero activation), so each input row is first compacted
 * to its nonzero drives, without branches; then the columns go 32, 16, 8, 4
 * and 1 at a time, with partial sums the compiler keeps in registers. */
static void read_columns(int n, int rows, int cols, const float *drive, const float *cells,
                         int rows_per_sum, double *sums, int *row_index, float *row_value)
{
    for (int i = 0; i < n; i++) {
        const float *x = drive + (size_t)i * rows;
        double *out = sums + (size_t)i * cols;
        for (int j = 0; j < cols; j++)
            out[j] = 0;
        for (int r0 = 0; r0 < rows; r0 += rows_per_sum) {
            int r1 = rows - r0 > rows_per_sum ? r0 + rows_per_sum : rows;
            int count = 0;
            for (int r = r0; r < r1; r++) {
                row_index[count] = r;
                row_value[count] = x[r];
                count += x[r] != 0;
            }
            int j0 = 0;
            while (j0 < cols) {
                float part[COL_BLOCK];
                int width = cols - j0 >= 32 ? 32 : cols - j0 >= 16 ? 16 : cols - j0 >= 8 ? 8
                          : cols - j0 >= 4 ? 4 : 1;
                const float *w = cells + j0;
                switch (width) {
                case 32: add_rows_32(count, row_index, row_value, w, cols, part); break;
                case 16: add_rows_16(count, row_index, row_value, w, cols, part); break;
                case 8: add_rows_8(count, row_index, row_value, w, cols, part); break;
                case 4: add_rows_4(count, row_index, row_value, w, cols, part); break;
                default: add_rows_1(count, row_index, row_value, w, cols, part); break;
                }
                for (int j = 0; j < width; j++)
                    out[j0 + j] += part[j];
                j0 += width;
            }
        }
    }
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
        for (int64_t i = 0; i < n; i++) {
            double q = v[i] / step;
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
 * gain * v / step + offset)), offset in LSB. */
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

/* Read noise on the column sums of one read (docs/noise.md 3): each cell's
 * conductance has an independent N(0, (read_sigma G)^2) noise, so a column sum
 * sum_i V_i G_ij has Gaussian noise of variance sum_i V_i^2 (read_sigma G_ij)^2,
 * a second product, over read_var.  One normal per column and read is thus
 * exact in distribution.  The normals come from the read's key (run stream,
 * source row `first_row + i`, read number), four per hash. */
static void add_read_noise(const Block *b, bool square, int n, int64_t first_row, uint64_t read, MvmScratch *s)
{
    int rows = b->rows, cols = b->cols;
    const float *drive_sq = s->drive;       /* 1-bit DACs: drive^2 = drive */
    if (square) {
        for (size_t k = 0; k < (size_t)n * rows; k++)
            s->drive_sq[k] = s->drive[k] * s->drive[k];
        drive_sq = s->drive_sq;
    }
    read_columns(n, rows, cols, drive_sq, b->read_var, rows, s->vars, s->row_index, s->row_value);
    const float *normal = b->noise->normal;
    uint64_t run_key = noise_hash(b->read_key, s->stream);
    for (int i = 0; i < n; i++) {
        uint64_t key = noise_hash(noise_hash(run_key, (uint64_t)(first_row + i)), read);
        double *v = s->sums + (size_t)i * cols;
        const double *var = s->vars + (size_t)i * cols;
        for (int j0 = 0; j0 < cols; j0 += 4) {
            uint64_t h = noise_hash(key, (uint64_t)j0);
            for (int q = 0; q < 4 && j0 + q < cols; q++) {
                float z = normal[(h >> (16 * q + 2)) & ((1u << NOISE_TABLE_BITS) - 1)];
                v[j0 + q] += sqrt(var[j0 + q]) * z;
            }
        }
    }
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
static void gather_magnitudes(const float *src, int64_t src_width, int src_col, int n, int rows,
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
 * source values themselves. */
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
    read_columns(n, b->rows, b->cols, s->drive, b->cells, rows_per_sum, s->acc, s->row_index,
                 s->row_value);
}

static void execute_reads(const MvmParams *mp, const Block *b, const float *src, int64_t src_width,
                          int n, int64_t first_row, MvmScratch *s, SimCounters *counters)
{
    int rows = b->rows, cols = b->cols;
    int cycles = mvm_cycles(mp);
    uint32_t mask = ((uint32_t)1 << mp->dac_bits) - 1;
    double max_code = ldexp(1.0, mvm_magnitude_bits(mp)) - 1;
    size_t count = (size_t)n * cols;

    memset(s->acc, 0, count * sizeof *s->acc);
    for (int pass = 0; pass < mvm_passes(mp); pass++) {
        gather_magnitudes(src, src_width, mp->src_col, n, rows, pass, max_code, s->magnitude);
        for (int c = 0; c < cycles; c++) {
            int shift = c * mp->dac_bits;
            for (size_t k = 0; k < (size_t)n * rows; k++)
                s->drive[k] = (float)((s->magnitude[k] >> shift) & mask);
            read_columns(n, rows, cols, s->drive, b->cells, b->rows_per_sum, s->sums, s->row_index,
                         s->row_value);
            if (b->read_var)
                add_read_noise(b, mp->dac_bits > 1, n, first_row, (uint64_t)(pass * cycles + c), s);
            if (s->record)
                psum_hist_add(s->record, s->sums, (int64_t)count);
            if (b->adc_gain)
                adc_convert_errors(&b->adc, b->adc_gain, b->adc_offset, s->sums, n, cols, counters);
            else
                adc_convert(&b->adc, s->sums, (int64_t)count, counters);
            double weight = ldexp(pass == 0 ? 1.0 : -1.0, shift);
            for (size_t k = 0; k < count; k++)
                s->acc[k] += weight * s->sums[k];
        }
    }
    if (b->out_gain != 1)       /* drift compensation: digital, after the ADCs */
        for (size_t k = 0; k < count; k++)
            s->acc[k] *= b->out_gain;
}

void mvm_execute(const MvmParams *mp, const Block *b, bool fast, const float *src,
                 int64_t n_rows, int64_t src_width, float *dst_f, double *dst_d,
                 MvmScratch *s, SimCounters *counters)
{
    assert(mp->src_col >= 0 && mp->src_col + mp->rows <= src_width);
    assert(mp->float_mode || (mp->dac_bits >= 1 && mp->dac_bits <= 16 && mp->in_bits >= 1 &&
                              mvm_magnitude_bits(mp) <= 31));
    uint64_t reads = (uint64_t)n_rows * (uint64_t)(mvm_passes(mp) * mvm_cycles(mp));
    counters->reads += reads;
    if (!mp->float_mode)
        counters->conversions += reads * (uint64_t)mp->out_cols;

    bool linear = mp->float_mode || (fast && b->adc.lossless && b->rows_per_code_sum > 0);
    for (int64_t p0 = 0; p0 < n_rows; p0 += MVM_ROW_TILE) {
        int n = n_rows - p0 < MVM_ROW_TILE ? (int)(n_rows - p0) : MVM_ROW_TILE;
        const float *rows = src + p0 * src_width;
        if (linear)
            execute_linear(mp, b, rows, src_width, n, s,
                           mp->float_mode ? b->rows : b->rows_per_code_sum);
        else
            execute_reads(mp, b, rows, src_width, n, mp->row_begin + p0, s, counters);
        size_t at = (size_t)p0 * (size_t)b->cols;
        store_rows(s->acc, n, b->cols, dst_f ? dst_f + at : NULL, dst_d ? dst_d + at : NULL);
    }
}
