/* noise.h: the random device and converter effects of the simulator
 * (runtime/noise.c, docs/noise.md).
 *
 * Every random draw is a pure function of a key: the seed, a stream tag and
 * the coordinates of what is drawn (tile, row, column for a cell; tile and
 * ADC for a converter; instruction, run stream, source row and read for a
 * read).  A counter-based generator: no state advances, so the draws do not
 * depend on the order in which things are computed, nor on how work is split
 * between threads.  Normal variates come from a table of inverse-CDF values
 * indexed by hash bits: no libm call per draw. */
#ifndef XBARC_NOISE_H
#define XBARC_NOISE_H

#include "ir/ir.h"

/* 2^14 equiprobable normal quantiles (64 KB): |z| <= 3.97. */
enum { NOISE_TABLE_BITS = 14 };

/* What a key draws: part of the key, so that two effects never share draws. */
typedef enum {
    NOISE_CELL = 1,             /* stuck-at and programming draws of a cell (2 is no longer used) */
    NOISE_NU = 3, NOISE_ADC_GAIN, NOISE_ADC_OFFSET, NOISE_READ,
    NOISE_READ_1F,              /* the PCM 1/f noise of a cell at one inference time */
    NOISE_CALIBRATION,          /* the output noise of the drift compensation's calibration reads */
    NOISE_INPUT,                /* the input noise of a read's rows */
    NOISE_TRAIN,                /* xbarc train's devices, pulse streams and reads (docs/train.md) */
} NoiseStream;

/* aihwkit's PCM 1/f noise fit (docs/noise.md 4): t_read, seconds. */
#define NOISE_PCM_T_READ_S 250e-9

/* The non-idealities of one programmed chip: its Arch fields, its seed, and
 * what sim_new derives from them once. */
typedef struct {
    Arch arch;
    uint64_t seed;
    double level_us;            /* dG: conductance of one level step, (G_max - G_min) / (2^cell_bits - 1) */
    double drift_log;           /* log((t + t0) / t0): drift factor = exp(-nu * drift_log) */
    double one_f;               /* read_1f_scale sqrt(log((t + t0 + t_read) / (2 t_read))), or 0 */
    bool cells;                 /* any per-device effect (variation, faults, drift, IR drop) */
    bool reads;                 /* read noise */
    bool adc;                   /* ADC offset, gain error or INL */
    bool stuck, prog;           /* stuck-at faults; programming variation */
    uint64_t cell_key, nu_key, gain_key, offset_key, read_key;  /* noise_key of each stream */
    uint64_t one_f_key;         /* NOISE_READ_1F's, extended by the inference time */
    uint64_t calibration_key, input_key;
    float normal[1 << NOISE_TABLE_BITS];
    double target[256];         /* G_min + level dG of each level (cell_bits <= 8) */
    double sigma[256];          /* the programming sigma of each level */
    double nu_mean[256], nu_sigma[256];     /* the drift exponent's distribution at each level */
} Noise;

/* splitmix64's finalizer: a bijection of 64-bit words that mixes every bit. */
static inline uint64_t noise_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 31;
    return x;
}

/* Extends a key by one coordinate. */
static inline uint64_t noise_hash(uint64_t key, uint64_t x)
{
    return noise_mix(key ^ noise_mix(x + 0x9e3779b97f4a7c15u));
}

/* The key of stream `stream` under `seed`. */
static inline uint64_t noise_key(uint64_t seed, NoiseStream stream)
{
    return noise_hash(noise_mix(seed + 0x632be59bd9b4e019u), (uint64_t)stream);
}

/* A standard normal from the top NOISE_TABLE_BITS bits of h. */
static inline float noise_normal(const Noise *n, uint64_t h)
{
    return n->normal[h >> (64 - NOISE_TABLE_BITS)];
}

/* A uniform in [0, 1) from the top 53 bits of h. */
static inline double noise_uniform(uint64_t h)
{
    return (double)(h >> 11) * 0x1p-53;
}

/* True when the Arch models any non-ideality (else the simulator is ideal). */
bool noise_enabled(const Arch *arch);
/* The Noise of a chip (arena memory); NULL when noise_enabled() is false. */
Noise *noise_new(Arena *arena, const Arch *arch, uint64_t seed);
/* Fills table[2^NOISE_TABLE_BITS] with the normal quantiles at (i + 1/2) / 2^bits,
 * rescaled to variance 1 exactly (libm, once per chip). */
void noise_normal_table(float *table);

/* One programmed cell at tile `tile`, row `row`, column `col`, level `level`:
 * its conductance right after programming (g_prog, microsiemens) and at the
 * inference time (g_now, with drift and IR drop), both drawn from the cell's
 * own key.  `tile_rows` and `tile_cols` size the IR drop. */
void noise_cell(const Noise *n, int tile, int row, int col, int level, int tile_rows, int tile_cols,
                double *g_prog, double *g_now);
/* The same for a cell of a tile rewritten `writes` times since it was first
 * programmed (Tile.writes, hybrid fine-tuning): every write draws the
 * programming variation anew, while the stuck faults and drift exponents are
 * the device's own.  noise_cell is writes 0. */
void noise_cell_rewritten(const Noise *n, int tile, uint32_t writes, int row, int col, int level, int tile_rows,
                          int tile_cols, double *g_prog, double *g_now);
/* noise_cell_rewritten for `count` cells of one row from column col0,
 * levels[i] at col0 + i: the same values, one hash a cell. */
void noise_cell_row(const Noise *n, int tile, uint32_t writes, int row, int col0, int count, const uint8_t *levels,
                    int tile_rows, int tile_cols, double *g_prog, double *g_now);
/* The key of a row of cells (what noise_cell draws from, with the column). */
uint64_t noise_cell_row_key(const Noise *n, int tile, int row);
/* The programming sigma (microsiemens) of a cell programmed to g_target. */
double noise_prog_sigma(const Arch *arch, double g_target);
/* aihwkit's PCM drift exponent fit at g = G_target / G_max: nu ~ |N(mean, sigma)|
 * with mean = clip(-0.0155 ln g + 0.0244, 0.049, 0.1), sigma = clip(-0.0125 ln g - 0.0059, 0.008, 0.045). */
void noise_pcm_nu(double g, double *mean, double *sigma);
/* aihwkit's PCM 1/f noise amplitude Q_s = min(0.0088 / max(g^0.65, 1e-3), 0.2) at g = G_prog / G_max. */
double noise_pcm_q(double g);
/* The drift factor ((t + t0) / t0)^-nu (docs/noise.md 4). */
double noise_drift_factor(double t, double t0, double nu);
/* Gain and offset (LSB) of ADC `adc` of tile `tile`. */
void noise_adc(const Noise *n, int tile, int adc, double *gain, double *offset);

/* noise_preset, noise_set, noise_parse_time and noise_describe: runtime/runtime.h. */

#endif
