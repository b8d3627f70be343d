/* train_array.c: a trained layer's analog array: reads through the
 * program's blocks and ADCs, and the stochastic pulse-train update
 * (study/train_array.h, docs/train.md 2 and 3).
 *
 * Every random draw (read noise, stream bits, device steps) is a pure
 * function of a key (runtime/noise.h) and of what it draws for, and every
 * sum runs in a fixed order, so a worker's share of outputs or rows gives
 * the same bits whatever the number of workers. */
#include "study/train_array.h"

#include "runtime/noise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void train_array_init(TrainArray *a, const DeviceModel *model, int64_t k, int64_t n, bool pair, uint64_t key,
                      const double *w0, const TrainBlock *blocks, int n_blocks, Arena *arena)
{
    int64_t count = k * n;
    *a = (TrainArray){.model = model, .k = k, .n = n, .pair = pair, .key = key, .n_blocks = n_blocks,
                      .blocks = blocks};
    a->cells = arena_array(arena, (size_t)(pair ? 2 * count : count), sizeof(DeviceCell));
    a->w = arena_array(arena, (size_t)count, sizeof(float));
    a->base = fmax(model->w_min, 0);
    for (int64_t i = 0; i < count; i++) {
        if (pair) {
            device_init(model, noise_hash(key, (uint64_t)i), a->base + fmax(w0[i], 0), &a->cells[i]);
            device_init(model, noise_hash(key, (uint64_t)(count + i)), a->base + fmax(-w0[i], 0),
                        &a->cells[count + i]);
        } else {
            device_init(model, noise_hash(key, (uint64_t)i), w0[i], &a->cells[i]);
        }
        train_array_sync(a, i);
    }
}

void train_array_sync(TrainArray *a, int64_t i)
{
    a->w[i] = a->pair ? a->cells[i].w_read - a->cells[a->k * a->n + i].w_read : a->cells[i].w_read;
    if (a->ref)
        a->w[i] -= a->ref[i];
}

void train_array_zero_shift(TrainArray *a, Arena *arena)
{
    int64_t count = a->k * a->n;
    a->ref = arena_array(arena, (size_t)count, sizeof(float));
    for (int64_t i = 0; i < count; i++) {
        DeviceCell *c = &a->cells[i];
        device_program(a->model, noise_hash(a->key, (uint64_t)i), c, device_symmetry_point(a->model, c));
        a->ref[i] = c->w;
        train_array_sync(a, i);
    }
}

void train_array_pulse(TrainArray *a, int64_t i, int count)
{
    if (count == 0)
        return;
    int64_t cell = i;
    int direction = count > 0 ? 1 : -1;
    if (a->pair && count < 0)
        cell = a->k * a->n + i, direction = 1;   /* down: the minus device up */
    DeviceCell *c = &a->cells[cell];
    device_pulse(a->model, noise_hash(a->key, (uint64_t)cell), c, direction, abs(count));
    if (a->pair && device_mean_step(a->model, c, 1) == 0) {
        /* a pair's device at its bound: the refresh of aihwkit's one-sided
           pair, both devices reprogrammed to the difference they hold */
        int64_t plus = i, minus = a->k * a->n + i;
        double w = (double)a->cells[plus].w - a->cells[minus].w;
        device_program(a->model, noise_hash(a->key, (uint64_t)plus), &a->cells[plus], a->base + fmax(w, 0));
        device_program(a->model, noise_hash(a->key, (uint64_t)minus), &a->cells[minus], a->base + fmax(-w, 0));
        __atomic_add_fetch(&a->refreshes, 1, __ATOMIC_RELAXED);   /* rows of several workers */
    }
    train_array_sync(a, i);
}

/* The ADC of docs/crossbar.md 7 on a signed sum: code = clamp(round half to
 * even (v / step), +-(2^(bits-1) - 1)), step = out_bound / (2^(bits-1) - 1). */
static double convert(double v, int bits, double out_bound)
{
    if (bits <= 0)
        return v;
    double top = (double)((1 << (bits - 1)) - 1), step = out_bound / top;
    double code = nearbyint(v / step);
    return fmin(fmax(code, -top), top) * step;
}

static double read_noise(const TrainRead *r, uint64_t key, int b, int64_t j, double var)
{
    if (var <= 0 || r->read_sigma <= 0)
        return 0;
    uint64_t h = noise_hash(noise_hash(key, (uint64_t)b), (uint64_t)j);
    return r->read_sigma * sqrt(var) * r->normal[h >> (64 - NOISE_TABLE_BITS)];
}

void train_array_read(const TrainArray *a, const TrainRead *r, bool transposed, const double *x, double *y,
                      uint64_t key, int64_t j0, int64_t j1)
{
    int64_t outputs = transposed ? a->k : a->n;
    if (j1 < 0)
        j0 = 0, j1 = outputs;
    for (int64_t j = j0; j < j1; j++)
        y[j] = 0;
    double sum[4096], var[4096];    /* a block's outputs: a tile has at most 4096 rows or columns (ir/arch.c) */
    for (int b = 0; b < a->n_blocks; b++) {
        const TrainBlock *B = &a->blocks[b];
        int bits = r->adc_bits > 0 ? r->adc_bits : B->adc_bits;
        int64_t lo = transposed ? B->row0 : B->col0, hi = lo + (transposed ? B->rows : B->cols);
        lo = lo > j0 ? lo : j0;
        hi = hi < j1 ? hi : j1;
        if (lo >= hi)
            continue;
        for (int64_t j = lo; j < hi; j++)
            sum[j - lo] = 0, var[j - lo] = 0;
        if (!transposed) {
            for (int64_t k = B->row0; k < B->row0 + B->rows; k++) {
                double xk = x[k];
                if (xk == 0)
                    continue;
                const float *row = a->w + k * a->n;
                if (r->read_sigma > 0) {
                    for (int64_t j = lo; j < hi; j++) {
                        double t = xk * row[j];
                        sum[j - lo] += t;
                        var[j - lo] += t * t;
                    }
                } else {
                    for (int64_t j = lo; j < hi; j++)
                        sum[j - lo] += xk * row[j];
                }
            }
        } else {
            for (int64_t j = lo; j < hi; j++) {
                const float *row = a->w + j * a->n;
                double s = 0, v = 0;
                for (int64_t n = B->col0; n < B->col0 + B->cols; n++) {
                    double t = x[n] * row[n];
                    s += t;
                    v += t * t;
                }
                sum[j - lo] = s, var[j - lo] = v;
            }
        }
        for (int64_t j = lo; j < hi; j++)
            y[j] += convert(sum[j - lo] + read_noise(r, key, b, j, var[j - lo]), bits, r->out_bound);
    }
}

void train_read_count(const TrainArray *a, const TrainRead *r, bool transposed, TrainCounters *c)
{
    int d = transposed ? 1 : 0, per_adc = r->cols_per_adc > 0 ? r->cols_per_adc : 1, widest = 0, widest_bits = 0;
    for (int b = 0; b < a->n_blocks; b++) {
        const TrainBlock *B = &a->blocks[b];
        int bits = r->adc_bits > 0 ? r->adc_bits : B->adc_bits;
        bits = bits < 0 ? 0 : bits > TRAIN_MAX_ADC_BITS ? TRAIN_MAX_ADC_BITS : bits;
        int outputs = transposed ? B->rows : B->cols, turns = (outputs + per_adc - 1) / per_adc;
        c->reads[d]++;
        c->cells[d] += (uint64_t)B->rows * (uint64_t)B->cols * (a->pair ? 2u : 1u);
        c->drives[d] += (uint64_t)(transposed ? B->cols : B->rows);
        c->conversions[d][bits] += (uint64_t)outputs;
        if (turns > widest)
            widest = turns, widest_bits = bits;
    }
    /* the blocks read in parallel: one settle time, then the busiest ADC's turns */
    c->read_steps[d]++;
    c->read_turns[d][widest_bits] += (uint64_t)widest;
}

/* One stream of bl bits, each 1 with probability p, from key h. */
static void draw_stream(uint64_t *bits, int bl, int words, double p, uint64_t h)
{
    memset(bits, 0, (size_t)words * sizeof(uint64_t));
    if (p <= 0)
        return;
    uint64_t threshold = p >= 1 ? UINT64_MAX : (uint64_t)(p * 0x1p64);
    for (int i = 0; i < bl; i++)
        if (p >= 1 || noise_hash(h, (uint64_t)i) < threshold)
            bits[i >> 6] |= (uint64_t)1 << (i & 63);
}

void pulse_streams(PulseStreams *s, const double *x, int64_t k, const double *d, int64_t n, double lr,
                   double dw_min, uint64_t key)
{
    double x_max = 0, d_max = 0;
    for (int64_t i = 0; i < k; i++)
        x_max = fmax(x_max, fabs(x[i]));
    for (int64_t i = 0; i < n; i++)
        d_max = fmax(d_max, fabs(d[i]));
    double m = x_max > 0 && d_max > 0 ? lr * x_max * d_max / (s->bl * dw_min) : 0;
    s->cap = sqrt(m);
    double c_x = x_max > 0 ? fmin(1, s->cap) / x_max : 0, c_d = d_max > 0 ? fmin(1, s->cap) / d_max : 0;
    for (int64_t i = 0; i < k; i++)
        draw_stream(s->x_bits + i * s->words, s->bl, s->words, c_x * fabs(x[i]), noise_hash(key, (uint64_t)i));
    s->n_active = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t *bits = s->d_bits + i * s->words, any = 0;
        draw_stream(bits, s->bl, s->words, c_d * fabs(d[i]), noise_hash(key, (uint64_t)(k + i)));
        for (int w = 0; w < s->words; w++)
            any |= bits[w];
        if (s->active && any)
            s->active[s->n_active++] = i;
    }
}

uint64_t pulse_apply(TrainArray *a, const PulseStreams *s, const double *x, const double *d, int64_t k0,
                     int64_t k1)
{
    uint64_t pulses = 0;
    int64_t columns = s->active ? s->n_active : a->n;
    for (int64_t k = k0; k < k1; k++) {
        uint64_t any = 0;
        for (int w = 0; w < s->words; w++)
            any |= s->x_bits[k * s->words + w];
        if (x[k] == 0 || !any)
            continue;
        for (int64_t c = 0; c < columns; c++) {
            int64_t n = s->active ? s->active[c] : c;
            if (d[n] == 0)
                continue;
            int c = pulse_count(s, k, n, (x[k] > 0) == (d[n] > 0) ? 1 : -1);
            if (c) {
                train_array_pulse(a, k * a->n + n, c);
                pulses += (uint64_t)abs(c);
            }
        }
    }
    return pulses;
}
