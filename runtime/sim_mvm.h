/* sim_mvm.h: the crossbar read path of the simulator, private to runtime/sim*.c.
 *
 * sim.c runs the instruction stream; sim_mvm.c does what an `mvm` instruction
 * does to a tile: it "programs the chip" once (mvm_program_block turns the
 * cells of a block into the matrix that its reads multiply by) and then
 * executes reads (mvm_execute). */
#ifndef XBARC_SIM_MVM_H
#define XBARC_SIM_MVM_H

#include "runtime/noise.h"
#include "runtime/program.h"
#include "runtime/runtime.h"

/* Reads (or, on the linear path, source rows) processed together: one
 * product of this many rows, whose scratch stays in cache. */
enum { MVM_READ_TILE = 512 };
/* Subset tables: rows of a table (and of a product's results) are padded
 * to a multiple of this many floats, a 64-byte vector. */
enum { MVM_TABLE_PAD = 16 };

/* The converter of one block (docs/crossbar.md 7). */
typedef struct {
    bool is_signed;             /* pair-analog: symmetric range */
    double step;                /* adc_max / (2^bits - 1), or / (2^(bits-1) - 1) signed */
    double code_min, code_max;
    bool lossless;              /* identity on every column sum this block can produce */
    double inl;                 /* peak integral nonlinearity, LSB (docs/noise.md 8); 0: none */
} Adc;

/* The ADC's integral nonlinearity at input q (in LSB) for a peak of inl LSB
 * (docs/noise.md 8): an S curve, odd about mid-scale and zero at mid-scale
 * and both ends, inl * (3 sqrt(3) / 2) * x * (1 - x^2) with x the position
 * in the code range, -1 to 1 (clamped: beyond the range the code
 * saturates); its extremes are +-inl at x = +-1/sqrt(3). */
static inline double adc_inl(const Adc *adc, double q)
{
    double mid = (adc->code_max + adc->code_min) / 2, half = (adc->code_max - adc->code_min) / 2;
    double x = (q - mid) / half;
    x = x < 1 ? x : 1;
    x = x > -1 ? x : -1;
    double curve = x * (1 - x * x);
    return adc->inl * 2.598076211353316 * curve;
}

/* A block as programmed on the chip: what one read multiplies its inputs by. */
typedef struct {
    int rows, cols;             /* R, and the columns its ADCs see (MvmParams.out_cols) */
    float *cells;               /* [rows x cols], row r at cells + r * ld; pair-analog: G+ - G- per pair;
                                   NULL until an ideal block's first read (mvm_program_cells) */
    int ld;                     /* cols, or 2 cols when read_var sits beside the cells */
    int rows_per_sum;           /* float sums of DAC chunks over this many rows are exact */
    int rows_per_code_sum;      /* the same for whole codes (fast path); 0: never exact */
    Adc adc;
    /* A non-ideal chip (docs/noise.md); NULL and 1 on an ideal one.  `cells`
     * then holds each cell's (G - G_min) / dG as programmed and drifted. */
    const Noise *noise;
    uint64_t read_key;          /* key of this block's read noise: the seed's, the instruction */
    float *read_var;            /* cells + cols, [rows x cols] at stride ld: (read_sigma G / dG)^2 of
                                   the cell(s) behind each entry; or NULL */
    float *adc_gain, *adc_offset;   /* [cols]: the errors of the ADC converting each column */
    double out_gain;            /* global drift compensation: the block's calibration gain */
    double out_var;             /* output noise: its variance in column-sum units, added to every conversion */
    float input_sigma;          /* input noise: its sigma in drive units, on every row of every read */
    uint64_t input_key;         /* key of this block's input noise: the seed's, the instruction */
    float *weights;             /* fast path: [rows x weight_ld], the weights the cells spell (sim_fast.c); or NULL
                                   (also when int_weights hold them) */
    int weight_cols, weight_ld, weight_slices, rows_per_weight_sum;
    struct IntWeights *int_weights; /* fast path: the same weights as integers (sim_int.c); or NULL */
    bool wrote_weights;         /* its last run took the fast path through the weights, and did its combine */
    float *table;               /* subset sums of 1-bit reads (mvm_build_table), kept; or NULL */
    int table_group;            /* its rows per group */
    const char *error;          /* why the chip could not be programmed (the wire solve failed), or NULL */
} Block;

typedef struct {
    uint32_t *magnitude;        /* [tile x max rows]: |code| of the current pass */
    float *drive;               /* [MVM_READ_TILE x max rows]: what the DACs drive in each read */
    float *part;                /* [MVM_READ_TILE x 2 max cols]: a product's float results */
    double *sums;               /* [MVM_READ_TILE x max cols]: column sums, then ADC values */
    double *acc;                /* [MVM_READ_TILE x max cols]: shift-and-add result */
    int *read_of;               /* [MVM_READ_TILE]: which read each row of drive is */
    uint8_t *drives_any;        /* [MVM_READ_TILE]: nonzero when a read drives some row */
    double *zero;               /* [max cols]: what the ADCs make of a zero sum */
    float *normals;             /* [MVM_READ_TILE x max cols]: the read noise's normals */
    uint64_t *row_key;          /* [MVM_READ_TILE]: the read noise's key of each source row */
    uint64_t *read_key;         /* [MVM_READ_TILE]: the read noise's key of each kept read */
    uint64_t *column_key;       /* [max cols / 4 + 1]: the read noise's hash of each 4 columns */
    uint64_t *column_hash;      /* [max cols / 4 + 1]: one read's hashes of each 4 columns */
    uint8_t *subset;            /* [MVM_READ_TILE x groups of 4 rows]: the rows each 1-bit read drives */
    float *table;               /* a block's subset table when it has none kept */
    const float **picked;       /* [groups]: the table rows one read adds */
    uint64_t stream;            /* keys the read noise of the current run (sim_set_stream) */
    PsumHist *record;           /* statistics hook: NULL, or where reads record their column sums */
} MvmScratch;

/* `noise` (NULL: ideal) perturbs the cells of a quantized block, drawn from
 * the cells' keys; `instr` (the mvm's index) keys its read noise. */
void mvm_program_block(Arena *arena, const Program *program, const MvmParams *mp, const Noise *noise, int instr,
                       Block *block);
/* An ideal block's cells (mvm_program_block leaves them NULL): the sim
 * programs them before the block's first read. */
void mvm_program_cells(Arena *arena, const Program *program, const MvmParams *mp, Block *block);

/* Row r of an ideal block as its reads see it, out[0 .. out_cols): the
 * levels, or for a pair-analog pair G+ - G- (the currents subtract before
 * the ADC). */
static inline void mvm_ideal_row(const Tile *tile, const MvmParams *mp, int r, float *out)
{
    size_t first = (size_t)(mp->tile_row + r) * tile->cols + mp->tile_col;
    bool pair = mp->sign == SIGN_PAIR_ANALOG;
    if (tile->levels) {         /* the common case, in a loop compilers vectorize */
        const uint8_t *level = tile->levels + first;
        for (int j = 0; j < mp->out_cols; j++)
            out[j] = pair ? (float)level[2 * j] - (float)level[2 * j + 1] : (float)level[j];
        return;
    }
    for (int j = 0; j < mp->out_cols; j++)
        out[j] = pair ? tile_cell(tile, first + 2 * j) - tile_cell(tile, first + 2 * j + 1)
                      : tile_cell(tile, first + j);
}

/* max_table: the largest table of a block without a kept one. */
void mvm_scratch_init(Arena *arena, MvmScratch *scratch, int max_rows, int max_cols, size_t max_table);
/* Its bytes, but for the table. */
size_t mvm_scratch_bytes(int max_rows, int max_cols);
/* Floats of the block's subset table for groups of `group` (4 or 8) rows
 * (reads through 1-bit DACs add a subset of its rows: a table of the subset
 * sums of each group makes a read `group` times shorter); 0 when its reads
 * do not use one. */
size_t mvm_table_floats(const MvmParams *mp, const Block *block, int group);
/* The group (4 or 8 rows) of the block's table. */
int mvm_table_group(const MvmParams *mp);
void mvm_build_table(const Block *block, int group, float *table);
/* The fast path's weights of a block whose only reader is the combine c
 * (runtime/sim_fast.c); left NULL when the block cannot use them. */
void mvm_program_weights(Arena *arena, const Program *program, const MvmParams *mp, const CombineParams *c,
                         Block *block);
/* The fast path through the weights, with the block's combine c: n_rows
 * source rows (from mp->row_begin) times the weights, added (or, unless
 * c->accumulate, stored) into the combine's accumulator acc [P x out_width].
 * src_in_range: every code of src is within the DACs' range (no clamping).
 * codes_at: NULL, or the same codes as src already converted for the
 * block's integer weights (int_codes_convert, at the same stride), at the
 * block's first. */
void mvm_execute_weights(const MvmParams *mp, const Block *block, const float *src, int64_t n_rows,
                         int64_t src_width, bool src_in_range, const void *codes_at, const CombineParams *c,
                         double *acc, int64_t out_width, MvmScratch *scratch);
/* The integer products of `count` fast-path blocks that add into the same
 * accumulator columns (a chain, runtime/sim_threads.c), over n_rows rows of
 * one source's codes (row 0 at codes, block b's first row at column
 * src_cols[b]): summed in one 32-bit sum per output, exact when the chain's
 * rows times max_product stay within 2^31 - 1, then added (accumulate) or
 * written into out [n_rows x out_width] at its first column; column_sum:
 * the chain's summed column sums when the codes carry an offset.  wide:
 * the same codes widened to 16 bits (int_wide_chains), with weights the
 * blocks' int weights, or NULL.  direct: the sums go through the layer's
 * Dequant to its output instead (out unused), or NULL. */
/* The Dequant of one sum (docs/crossbar.md 3): the product rounded to
 * float, then the bias added (none without one); channel n's scale. */
static inline float dequant_value(double acc, float scale, const float *bias, int64_t n)
{
    float scaled = (float)acc * scale;
    return bias ? scaled + bias[n] : scaled;
}

/* A chain's sums taken through its layer's Dequant straight to the
 * Dequant's output (sim_threads.c), not added into the accumulator: sum
 * (row, column) of the accumulator, row = (image, pixel), goes to
 * y[image][column][pixel].  row and col: the accumulator's row and column
 * of the chain's first sum. */
typedef struct {
    float *y;
    int64_t channels, pixels;
    const float *scale;         /* [channels], or NULL: 1 */
    const float *bias;          /* [channels], or NULL */
    int64_t row, col;
} DequantOut;

void mvm_execute_int_chain(const Block *const *blocks, const int *src_cols, int count, const int64_t *column_sum,
                           int64_t n_rows, int64_t src_width, const void *codes, const uint16_t *wide,
                           const struct IntWeights *const *weights, bool accumulate, double *out,
                           int64_t out_width, const DequantOut *direct, MvmScratch *scratch);
/* Whether a block's reads over n_rows source rows add its cells directly
 * (too few reads to repay a subset table; mvm_fused_reads with no table). */
bool mvm_reads_direct(const MvmParams *mp, const Block *b, int64_t n_rows, bool recording);
/* Reads and conversions of an mvm over n_rows source rows, into counters. */
void mvm_count_reads(const MvmParams *mp, int64_t n_rows, SimCounters *counters);
/* Whether mvm_execute takes the one-product shortcut (float mode, or the
 * lossless fast path when `fast`) rather than reads. */
bool mvm_is_linear(const MvmParams *mp, const Block *block, bool fast);

/* One `mvm` over src[n_rows x src_width] (codes, or floats in float mode) into
 * dst[n_rows x out_cols], f32 (dst_f) or f64 (dst_d).  `fast` allows the
 * one-product shortcut when it is provably identical (see sim_mvm.c). */
void mvm_execute(const MvmParams *mp, const Block *block, bool fast, const float *src,
                 int64_t n_rows, int64_t src_width, float *dst_f, double *dst_d,
                 MvmScratch *scratch, SimCounters *counters);

/* Input passes (2 for signed codes), magnitude bits and DAC cycles of an mvm. */
static inline int mvm_passes(const MvmParams *mp)
{
    return !mp->float_mode && mp->in_signed ? 2 : 1;
}

static inline int mvm_magnitude_bits(const MvmParams *mp)
{
    return mp->in_signed ? mp->in_bits - 1 : mp->in_bits;
}

static inline int mvm_cycles(const MvmParams *mp)
{
    if (mp->float_mode)
        return 1;
    return (mvm_magnitude_bits(mp) + mp->dac_bits - 1) / mp->dac_bits;
}

/* Codes of one pass of n source rows as unsigned magnitudes [n x rows]. */
void mvm_gather_magnitudes(const float *src, int64_t src_width, int src_col, int n, int rows, int pass,
                           double max_code, uint32_t *magnitude);

/* ---- runtime/wires.c ---- */
/* A block's cells as its reads see them through resistive wires
 * (docs/noise.md 7): from the conductances g_now [R x phys_cols] of its
 * cells in microsiemens (NULL: no memory for them), its conductance matrix
 * M, written into cells [R x out_cols] at stride ld as (M - G_min) / dG,
 * pair-analog pairs subtracted (one array, or two with wire_split_pairs;
 * the sense amplifiers at the block's row 0, or its last row with
 * wire_sense_far); the same from g_prog into programmed
 * [R x out_cols] (the drift compensation's cells; both NULL without it).
 * NULL, or why it failed. */
const char *wires_program_block(const MvmParams *mp, const Noise *nz, const double *g_now, const double *g_prog,
                                float *cells, int ld, float *programmed);

/* ---- runtime/sim.c ---- */
/* A combine (docs/crossbar.md 5) on n rows: src (f64 src_d, else f32 src_f)
 * [n x width] recombined into acc [n x out_width] at columns group * N + n0
 * on; `row` holds a row in double. */
void combine_rows(const CombineParams *c, const double *src_d, const float *src_f, int64_t width, int64_t n,
                  double *acc, int64_t out_width, double *row);

/* ---- runtime/sim_check.c: check mode ---- */
typedef struct SimCheck SimCheck;
/* ideal_chip: the run's own accumulators are compared too. */
SimCheck *check_new(Arena *arena, const Program *program, bool ideal_chip);
/* Before mvm k runs (its combine is instruction k + 1): the block through
 * the reference, the per-read path and each fast path on ideal cells, from
 * src [P x width]; acc [P x out_width] is the combine's accumulator as it is
 * now.  `fusable`: the block and its combine may take the folded-weights
 * path; `wide`: the run stores the mvm's results in f64 (else f32).  False
 * at the first difference (check_error says which). */
bool check_block(SimCheck *check, int k, bool fusable, bool wide, const float *src, int64_t width,
                 const double *acc, int64_t out_width, MvmScratch *scratch);
/* After combine k ran: the accumulator it wrote against the reference. */
bool check_combine(SimCheck *check, int k, const double *acc, int64_t out_width);
const char *check_error(const SimCheck *check);

/* ---- runtime/sim_table.c ---- */
/* The widest vector code of the read path's dispatched loops (table sums,
 * subset gathering, read normals) on this CPU; XBARC_SIM_VECTOR=scalar or avx2 narrows it,
 * for the tests that compare the variants bit for bit. */
typedef enum { MVM_VECTOR_SCALAR, MVM_VECTOR_AVX2, MVM_VECTOR_AVX512 } MvmVector;
MvmVector mvm_vector(void);
int mvm_table_ld(const Block *block);
int mvm_table_groups(int rows, int group);
/* The subsets of every read of n source rows into scratch->subset; the
 * reads that drive something into scratch->read_of; returns their count. */
int mvm_gather_subsets(const MvmParams *mp, int group, const float *src, int64_t src_width, int rows, int n,
                       MvmScratch *scratch);
/* part[k][0..width) for each of the m kept reads: their table rows' sums. */
void mvm_table_sums(int m, const int *read_of, int groups, int group, const uint8_t *subsets, const float *table,
                    int ld, int width, float *part, const float **picked);

/* The ADC transfer of `count` reads' column sums in place (v: count x cols),
 * with each column's ADC errors; saturations counted. */
void mvm_convert(const Block *b, double *v, int count, SimCounters *counters);
/* aihwkit's global drift compensation (docs/noise.md 5): b->out_gain from a
 * calibration read of the programmed cells and one of b->cells (runtime/sim_noise.c). */
void mvm_calibrate_drift(Arena *scratch, Block *b, const MvmParams *mp, int instr, const float *programmed);
/* Read noise (docs/noise.md 3): s->normals [m x cols] gets one standard
 * normal per column of each of the m kept reads (runtime/sim_noise.c). */
void mvm_read_normals(const Block *b, int m, const int *read_of, int n, int64_t first_row, MvmScratch *s);
/* The read noise's keys of n source rows from first_row (s->row_key) and
 * of each 4 columns (s->column_key), as mvm_read_normals draws from them. */
void mvm_read_keys(const Block *b, int n, int64_t first_row, MvmScratch *s);
/* Input noise (docs/noise.md 12) on the drives of m kept reads in s->drive (runtime/sim_noise.c). */
void mvm_input_noise(const Block *b, int m, const int *read_of, int n, int64_t first_row, MvmScratch *s);

/* ---- runtime/sim_read.c ---- */
/* Whether a noisy block's conversions without ADC errors go through
 * convert_row_float (sim_mvm.c): a step that is a power of two, codes below 2^21. */
bool mvm_converts_in_float(const Block *b);
/* Whether a block's reads through a subset table may take the fused reads:
 * read noise, no ADC errors (skipped reads add 0), no output noise,
 * conversions in float, no statistics hook (`recording`), and a CPU with
 * AVX-512 not narrowed by XBARC_SIM_VECTOR. */
bool mvm_reads_in_one_pass(const Block *b, bool recording);
/* The m kept reads of n source rows through a subset table (1-bit DACs,
 * read noise, no ADC errors or output noise; table NULL: the table rows
 * recomputed from the block's cells, the same sums), each one's table sums, read
 * noise, conversion and shift-and-add into s->acc (zeroed) at once, the
 * same bits as column_products, mvm_read_normals and convert_kept in turn
 * (s->row_key and s->column_key from mvm_read_keys; weight[read number]
 * of a source row's reads_per_row); the ADC's step a power of two and its
 * codes below 2^21 (convert_row_float's case); returns the clipped
 * conversions. */
uint64_t mvm_fused_reads(const Block *b, int m, const int *read_of, int n, int reads_per_row, int group,
                         const float *table, const double *weight, MvmScratch *s);

#endif
