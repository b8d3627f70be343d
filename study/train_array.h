/* train_array.h: one trained layer's analog array as `xbarc train` reads
 * and writes it (study/train_array.c, docs/train.md).  Private to study/
 * (the engine, study/train.c and train_algo.c) and the unit tests.
 *
 * A K x N array of devices (runtime/device.h), row k column n holding weight
 * (k, n): one bipolar device per weight, or a differential pair (a plus and
 * a minus device, weight = plus - minus).  The array is cut into the
 * program's blocks (its mvm instructions' rows and weight columns), each
 * with its ADC bits: a read converts each block's column (or, transposed,
 * row) sums on their own, and the digital sum adds the blocks. */
#ifndef XBARC_TRAIN_ARRAY_H
#define XBARC_TRAIN_ARRAY_H

#include "study/study.h"

typedef struct {
    int row0, rows;             /* rows k of the block */
    int col0, cols;             /* weight columns n */
    int adc_bits;               /* its ADC's bits (0: no ADC, exact) */
} TrainBlock;

typedef struct {
    const DeviceModel *model;
    int64_t k, n;
    bool pair;                  /* a plus and a minus device per weight */
    DeviceCell *cells;          /* [k n] (device), or [2 k n]: plus devices, then minus */
    float *w;                   /* [k n] what reads see, device units: w_read (or plus - minus) */
    uint64_t key;               /* device i's key: noise_hash(key, i) */
    int n_blocks;
    const TrainBlock *blocks;
    uint64_t refreshes;         /* a pair's refreshes (a device at its bound: both reprogrammed) */
    double base;                /* a pair's devices hold base + max(+-w, 0): max(w_min, 0) */
    float *ref;                 /* NULL, or [k n] a reference each read subtracts: Tiki-Taka v2's A with
                                   its devices' symmetry points (train_array_zero_shift) */
} TrainArray;

/* How a read converts (docs/train.md 2). */
typedef struct {
    double read_sigma;          /* per-cell read noise relative to |w|, the chip's read_sigma */
    double out_bound;           /* the ADC's full scale, device units (+-out_bound) */
    int adc_bits;               /* > 0: these bits for every block (the backward's --bwd-adc-bits),
                                   0: each block's own */
    const float *normal;        /* 2^NOISE_TABLE_BITS normal quantiles (noise_normal_table) */
    int cols_per_adc;           /* conversions one ADC makes in turn (cost counters) */
} TrainRead;

/* The devices drawn from key and set to w0[k n] (device units); a pair
 * takes plus = base + max(w0, 0), minus = base + max(-w0, 0), base =
 * max(w_min, 0) (a unipolar device's lowest weight). */
void train_array_init(TrainArray *a, const DeviceModel *model, int64_t k, int64_t n, bool pair, uint64_t key,
                      const double *w0, const TrainBlock *blocks, int n_blocks, Arena *arena);
/* Zero-shifting (Kim et al., arXiv:1907.10228): each device of a one-device
 * array programmed to its symmetry point (device_program, with its write
 * noise), and that point, as a reference device beside it holds it, taken
 * from every read: the array reads w - ref, 0 where alternating pulses leave
 * it.  The reference is each device's exact symmetry point (the converged
 * value of the alternating-pulse procedure, without its noise). */
void train_array_zero_shift(TrainArray *a, Arena *arena);
/* w[i] from the devices of weight i. */
void train_array_sync(TrainArray *a, int64_t i);
/* A forward read: y[n] = sum over blocks of ADC(sum_k x[k] w[k n] + read
 * noise), x in [-1, 1]; the transposed read (transposed: x has N entries,
 * y K): y[k] = sum over blocks of ADC(sum_n x[n] w[k n] + noise).  The noise
 * of output j of a block is exactly N(0, read_sigma^2 sum x_i^2 w_ij^2) and
 * is drawn from noise_hash(key, j) (docs/noise.md 3).  Counts into c (may be
 * NULL) at index `transposed`.  Outputs j0 .. j1-1 only (a worker's share;
 * 0 and -1 for all). */
void train_array_read(const TrainArray *a, const TrainRead *r, bool transposed, const double *x, double *y,
                      uint64_t key, int64_t j0, int64_t j1);
/* What one read of the whole array costs, added to c. */
void train_read_count(const TrainArray *a, const TrainRead *r, bool transposed, TrainCounters *c);

/* The stochastic pulse-train update (Gokmen and Vlasov 2016; docs/train.md 3).
 * x [K] in [-1, 1] and d [N]: the expected update of weight (k, n) is
 * -lr x[k] d[n] device units.  Row k sends a stream of bl bits, each 1 with
 * probability p_k = min(1, c_x |x[k]|), column n one with p_n = min(1, c_d
 * |d[n]|), c_x = sqrt(m) / max|x|, c_d = sqrt(m) / max|d|, m = lr max|x|
 * max|d| / (bl dw_min) (aihwkit's update management: both streams' largest
 * probability sqrt(m)); a coincidence (a bit of both, AND + popcount) is one
 * pulse of direction -sign(x[k] d[n]).  The bits of row k are drawn from
 * noise_hash(key, k), those of column n from noise_hash(key, K + n).  */
typedef struct {
    int bl;                     /* stream length, 1 .. TRAIN_MAX_BL */
    int words;                  /* 64-bit words a stream */
    uint64_t *x_bits, *d_bits;  /* [K words], [N words] */
    double cap;                 /* the largest probability, sqrt(m) before the cap at 1 */
    int64_t *active;            /* [N] or NULL: the columns whose stream has a bit (pulse_streams
                                   fills it; pulse_apply then skips the others) */
    int64_t n_active;
} PulseStreams;
enum { TRAIN_MAX_BL = 1024 };
/* Draws the streams (bits arrays: K * words and N * words). */
void pulse_streams(PulseStreams *s, const double *x, int64_t k, const double *d, int64_t n, double lr,
                   double dw_min, uint64_t key);
/* The signed pulse count of weight (row, col): popcount of the AND of their
 * streams, negative for an up... positive count = pulses up. */
static inline int pulse_count(const PulseStreams *s, int64_t row, int64_t col, int sign_xd)
{
    int c = 0;
    const uint64_t *a = s->x_bits + row * s->words, *b = s->d_bits + col * s->words;
    for (int w = 0; w < s->words; w++)
        c += __builtin_popcountll(a[w] & b[w]);
    return sign_xd > 0 ? -c : c;
}
/* Applies the pulses of rows k0 .. k1-1 to the array's devices (a pair: an up
 * pulse on the plus device, a down pulse as an up pulse on the minus one,
 * and when that device reaches its bound both are reprogrammed to the
 * difference: aihwkit's OneSidedUnitCell refresh); returns the pulses. */
uint64_t pulse_apply(TrainArray *a, const PulseStreams *s, const double *x, const double *d, int64_t k0,
                     int64_t k1);
/* `count` signed pulses (up if positive) on the devices of weight i. */
void train_array_pulse(TrainArray *a, int64_t i, int count);

/* ---- the algorithms (study/train_algo.c, docs/train.md 4) ---- */

/* One trained layer's weights: z[n] = unit sum_k x[k] w[k n] + b[n], x the
 * input codes over their qmax, w in device units. */
typedef struct {
    int64_t k, n;
    double unit;                /* qmax in_scale scale */
    double scale;               /* real weight per device unit */
    TrainArray c;               /* the weights (Tiki-Taka v2: the slow array C) */
    TrainArray a;               /* Tiki-Taka v2: the fast array A */
    double *wf;                 /* the float algorithm's weights, device units [k n] */
    double *acc;                /* mixed precision: chi [k n], device units; Tiki-Taka v2: H [k n],
                                   in steps of C's devices */
    int64_t transfers;          /* Tiki-Taka v2: rows of A transferred so far */
} TrainLayer;

/* What one worker's share of an update did. */
typedef struct {
    uint64_t pulses, slots, digital_ops;
} UpdateCount;

/* Rows k0 .. k1-1 of the update -lr x[k] d[n] (device units), by algorithm:
 * float exactly; sgd the pulse streams s into c; ttv2 into a; mixed into
 * the accumulators chi, then floor(|chi| / dw_min) pulses where |chi| >=
 * dw_min (Nandakumar et al. 2018), chi keeping the rest. */
void train_update_rows(TrainLayer *l, TrainRule algorithm, const PulseStreams *s, const double *x, const double *d,
                       double lr, int64_t k0, int64_t k1, UpdateCount *count);
/* Tiki-Taka v2's transfer (Gokmen 2021): row `row` of A read with a one-hot
 * input (noise and ADC of r, key; zero-shifted, A's reads are w - ref),
 * H[row, n] += rate a_read / dw_min; where |H| >= 1, trunc(H) pulses into C
 * and H keeps the rest.  buf: N + K doubles. */
void ttv2_transfer(TrainLayer *l, const TrainRead *r, int64_t row, double rate, uint64_t key, double *buf,
                   UpdateCount *count);

#endif
