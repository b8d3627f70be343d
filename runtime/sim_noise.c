/* sim_noise.c: the reads a non-ideal chip adds to the crossbar read path
 * (docs/noise.md): aihwkit's drift-compensation calibration reads when a
 * block is programmed, and the input noise of every read.  Private to
 * runtime/sim*.c (sim_mvm.h). */
#include "runtime/sim_mvm.h"

#include <math.h>

/* The mean |output| of the calibration reads of aihwkit's GlobalDriftCompensation
 * (docs/noise.md 5): each row driven alone at the DAC's full scale (its
 * readout tensor, the identity), each output with its output noise
 * (drawn from `key`: the reference and the inference read have their own),
 * converted by the block's ADCs. */
static double calibration_read(const Block *b, const float *cells, int ld, double drive, uint64_t key, double *v)
{
    SimCounters ignored = {0};
    double sigma = sqrt(b->out_var), total = 0;
    for (int r = 0; r < b->rows; r++) {
        uint64_t row_key = noise_hash(key, (uint64_t)r);
        for (int j = 0; j < b->cols; j++)
            v[j] = drive * cells[(size_t)r * ld + j] + sigma * noise_normal(b->noise, noise_hash(row_key, (uint64_t)j));
        mvm_convert(b, v, 1, &ignored);
        for (int j = 0; j < b->cols; j++)
            total += fabs(v[j]);
    }
    double mean = b->rows > 0 && b->cols > 0 ? total / ((double)b->rows * b->cols) : 0;
    return mean > 1e-4 * drive ? mean : 1e-4 * drive;      /* aihwkit clamps the readout at 1e-4 */
}

/* aihwkit's GlobalDriftCompensation: a reference read right after
 * programming, another at the inference time; their ratio is the block's
 * gain, applied digitally after the ADCs. */
void mvm_calibrate_drift(Arena *scratch, Block *b, const MvmParams *mp, int instr, const float *programmed)
{
    double *v = arena_array(scratch, (size_t)(b->cols > 0 ? b->cols : 1), sizeof *v);
    double drive = ldexp(1.0, mp->dac_bits) - 1;
    uint64_t key = noise_hash(b->noise->calibration_key, (uint64_t)instr);
    double reference = calibration_read(b, programmed, b->cols, drive, noise_hash(key, 0), v);
    double now = calibration_read(b, b->cells, b->ld, drive, noise_hash(key, 1), v);
    b->out_gain = reference / now;
}

/* Input noise (aihwkit's inp_noise, docs/noise.md 12): every row of every
 * read gets input_sigma z added to its drive, from the read's key (run
 * stream, source row, read number) and the row. */
void mvm_input_noise(const Block *b, int m, const int *read_of, int n, int64_t first_row, MvmScratch *s)
{
    uint64_t run_key = noise_hash(b->input_key, s->stream);
    for (int k = 0; k < m; k++) {
        uint64_t key = noise_hash(noise_hash(run_key, (uint64_t)(first_row + read_of[k] % n)),
                                  (uint64_t)(read_of[k] / n));
        float *d = s->drive + (size_t)k * b->rows;
        for (int r = 0; r < b->rows; r++)
            d[r] += b->input_sigma * noise_normal(b->noise, noise_hash(key, (uint64_t)r));
    }
}

