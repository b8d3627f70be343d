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

/* The normals of m reads, normals[k x cols] from keys[k]: noise_hash(key,
 * j0) for each 4 columns j0 (noise_mix(key ^ column_key[j0 / 4])), whose
 * four 16-bit quarters, less their 2 low bits, index the table of normals.
 * The hashes are a plain loop that compilers vectorize (AVX-512DQ
 * multiplies 64-bit lanes); the lookups stay scalar (a gather of 16 floats
 * was slower on this CPU, an AMD EPYC).  Every version computes the same
 * indices, so the same bits. */
#define NORMAL_OF(h, q) normal[((h) >> (16 * (q) + 16 - NOISE_TABLE_BITS)) & ((1u << NOISE_TABLE_BITS) - 1)]
#define DEFINE_NORMALS_OF_READS(NAME, ATTR)                                                                  \
    ATTR static void NAME(int m, const uint64_t *keys, const uint64_t *restrict column_key, int cols,        \
                          const float *normal, uint64_t *restrict hash, float *restrict normals)             \
    {                                                                                                        \
        int quads = cols / 4;                                                                                \
        for (int k = 0; k < m; k++) {                                                                        \
            uint64_t key = keys[k];                                                                          \
            float *z = normals + (size_t)k * cols;                                                           \
            for (int q = 0; q < (cols + 3) / 4; q++)                                                         \
                hash[q] = noise_mix(key ^ column_key[q]);                                                    \
            for (int q = 0; q < quads; q++) {                                                                \
                uint64_t h = hash[q];                                                                        \
                z[4 * q] = NORMAL_OF(h, 0);                                                                  \
                z[4 * q + 1] = NORMAL_OF(h, 1);                                                              \
                z[4 * q + 2] = NORMAL_OF(h, 2);                                                              \
                z[4 * q + 3] = NORMAL_OF(h, 3);                                                              \
            }                                                                                                \
            for (int j = 4 * quads; j < cols; j++)                                                           \
                z[j] = NORMAL_OF(hash[quads], j - 4 * quads);                                                \
        }                                                                                                    \
    }

DEFINE_NORMALS_OF_READS(normals_of_reads_default, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
DEFINE_NORMALS_OF_READS(normals_of_reads_avx2, __attribute__((target("avx2"))))
DEFINE_NORMALS_OF_READS(normals_of_reads_avx512, __attribute__((target("avx512f,avx512dq"))))
#endif
typedef void NormalsOfReads(int, const uint64_t *, const uint64_t *, int, const float *, uint64_t *, float *);
#undef DEFINE_NORMALS_OF_READS
#undef NORMAL_OF

/* Read noise (docs/noise.md 3): each cell's conductance has an independent
 * N(0, (read_sigma G)^2) noise, so a column sum sum_i V_i G_ij has Gaussian
 * noise of variance sum_i V_i^2 (read_sigma G_ij)^2 (the variances beside
 * the cells).  One normal per column and read is thus exact in
 * distribution.  Each read's come from its key (run stream, source row,
 * read number): read k is read number read_of[k] / n of source row
 * first_row + read_of[k] % n. */
void mvm_read_keys(const Block *b, int n, int64_t first_row, MvmScratch *s)
{
    uint64_t run_key = noise_hash(b->read_key, s->stream);
    for (int j0 = 0; j0 < b->cols; j0 += 4)  /* noise_hash(key, j0) = noise_mix(key ^ column_key[j0 / 4]) */
        s->column_key[j0 / 4] = noise_mix((uint64_t)j0 + 0x9e3779b97f4a7c15u);
    for (int i = 0; i < n; i++)
        s->row_key[i] = noise_hash(run_key, (uint64_t)(first_row + i));
}

void mvm_read_normals(const Block *b, int m, const int *read_of, int n, int64_t first_row, MvmScratch *s)
{
    int cols = b->cols;
    mvm_read_keys(b, n, first_row, s);
    uint64_t *keys = s->read_key;
    for (int k = 0; k < m; k++)
        keys[k] = noise_hash(s->row_key[read_of[k] % n], (uint64_t)(read_of[k] / n));
    NormalsOfReads *normals_of_reads = normals_of_reads_default;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    MvmVector vector = mvm_vector();
    normals_of_reads = vector == MVM_VECTOR_AVX512 ? normals_of_reads_avx512
                       : vector == MVM_VECTOR_AVX2 ? normals_of_reads_avx2 : normals_of_reads;
#endif
    normals_of_reads(m, keys, s->column_key, cols, b->noise->normal, s->column_hash, s->normals);
}
