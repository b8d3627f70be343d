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

/* Source rows processed together: the scratch of one step stays in cache. */
enum { MVM_ROW_TILE = 64 };

/* The converter of one block (docs/crossbar.md 7). */
typedef struct {
    bool is_signed;             /* pair-analog: symmetric range */
    double step;                /* adc_max / (2^bits - 1), or / (2^(bits-1) - 1) signed */
    double code_min, code_max;
    bool lossless;              /* identity on every column sum this block can produce */
} Adc;

/* A block as programmed on the chip: what one read multiplies its inputs by. */
typedef struct {
    int rows, cols;             /* R, and the columns its ADCs see (MvmParams.out_cols) */
    float *cells;               /* [rows x cols] row-major; pair-analog: G+ - G- per pair */
    int rows_per_sum;           /* float sums of DAC chunks over this many rows are exact */
    int rows_per_code_sum;      /* the same for whole codes (fast path); 0: never exact */
    double max_result;          /* bound on |result| of an ideal read: max code * R * max|cell| */
    Adc adc;
    /* A non-ideal chip (docs/noise.md); NULL and 1 on an ideal one.  `cells`
     * then holds each cell's (G - G_min) / dG as programmed and drifted. */
    const Noise *noise;
    uint64_t read_key;          /* key of this block's read noise: the seed's, the instruction */
    float *read_var;            /* [rows x cols]: (read_sigma G / dG)^2 of the cell(s) behind each entry */
    float *adc_gain, *adc_offset;   /* [cols]: the errors of the ADC converting each column */
    double out_gain;            /* global drift compensation: the block's calibration gain */
} Block;

typedef struct {
    uint32_t *magnitude;        /* [MVM_ROW_TILE x max rows]: |code| of the current pass */
    float *drive;               /* [MVM_ROW_TILE x max rows]: what the DACs drive in one cycle */
    double *sums;               /* [MVM_ROW_TILE x max cols]: column sums, then ADC values */
    double *acc;                /* [MVM_ROW_TILE x max cols]: shift-and-add result */
    int *row_index;             /* [max rows]: the nonzero drives of one input row */
    float *row_value;
    float *drive_sq;            /* [MVM_ROW_TILE x max rows]: drive^2, for read noise */
    double *vars;               /* [MVM_ROW_TILE x max cols]: variance of each read's column sums */
    uint64_t stream;            /* keys the read noise of the current run (sim_set_stream) */
    PsumHist *record;           /* statistics hook: NULL, or where reads record their column sums */
} MvmScratch;

/* `noise` (NULL: ideal) perturbs the cells of a quantized block, drawn from
 * the cells' keys; `instr` (the mvm's index) keys its read noise. */
void mvm_program_block(Arena *arena, const Program *program, const MvmParams *mp, const Noise *noise, int instr,
                       Block *block);
void mvm_scratch_init(Arena *arena, MvmScratch *scratch, int max_rows, int max_cols);

/* One `mvm` over src[n_rows x src_width] (codes, or floats in float mode) into
 * dst[n_rows x out_cols], f32 (dst_f) or f64 (dst_d).  `fast` allows the
 * one-product shortcut when it is provably identical (see sim_mvm.c). */
void mvm_execute(const MvmParams *mp, const Block *block, bool fast, const float *src,
                 int64_t n_rows, int64_t src_width, float *dst_f, double *dst_d,
                 MvmScratch *scratch, SimCounters *counters);

#endif
