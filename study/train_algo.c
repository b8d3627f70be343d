/* train_algo.c: the update of a trained layer by algorithm (study/train_array.h,
 * docs/train.md 4).
 *
 *   float  w -= lr x d exactly (the baseline: no device).
 *   sgd    in-memory SGD (Gokmen and Vlasov 2016): the pulse streams'
 *          coincidences, one pulse each, into the weight devices.
 *   mixed  mixed precision (Nandakumar et al. 2018, 2020): a digital
 *          accumulator chi += -lr x d per weight from the quantized vectors;
 *          where |chi| >= dw_min, n = floor(|chi| / dw_min) pulses in the
 *          direction of chi, chi -= n dw_min sign(chi).
 *   ttv2   Tiki-Taka v2 (Gokmen 2021): the pulse streams into a fast array
 *          A; every transfer_every updates one row of A is read into a
 *          digital buffer H (in steps of the slow devices), and where |H| >=
 *          1 its integer part is pulsed into the slow array C, whose weights
 *          the forward and backward passes read.
 * Each worker does rows of its own: the devices' draws are keyed per device
 * and pulse count, so the split does not change a bit. */
#include "study/train_array.h"

#include <math.h>
#include <stdlib.h>

/* Pulses n = trunc(v) (sign of v) on weight i of array a; returns |n|. */
static int pulse_integer(TrainArray *a, int64_t i, double v)
{
    int n = (int)fmin(fmax(trunc(v), -1e6), 1e6);
    train_array_pulse(a, i, n);
    return abs(n);
}

void train_update_rows(TrainLayer *l, TrainRule algorithm, const PulseStreams *s, const double *x,
                       const double *d, double lr, int64_t k0, int64_t k1, UpdateCount *count)
{
    int64_t n_cols = l->n;
    switch (algorithm) {
    case TRAIN_RULE_FLOAT:
        for (int64_t k = k0; k < k1; k++)
            for (int64_t n = 0; n < n_cols; n++)
                l->wf[k * n_cols + n] -= lr * x[k] * d[n];
        count->digital_ops += (uint64_t)((k1 - k0) * n_cols);
        return;
    case TRAIN_RULE_SGD:
    case TRAIN_RULE_TTV2:
        count->pulses += pulse_apply(algorithm == TRAIN_RULE_SGD ? &l->c : &l->a, s, x, d, k0, k1);
        return;
    case TRAIN_RULE_MIXED: {
        double dw_min = l->c.model->dw_min;
        for (int64_t k = k0; k < k1; k++) {
            int row_max = 0;
            for (int64_t n = 0; n < n_cols; n++) {
                int64_t i = k * n_cols + n;
                l->acc[i] -= lr * x[k] * d[n];
                if (fabs(l->acc[i]) < dw_min)
                    continue;
                double steps = trunc(l->acc[i] / dw_min);
                int pulses = pulse_integer(&l->c, i, steps);
                l->acc[i] -= steps * dw_min;
                count->pulses += (uint64_t)pulses;
                row_max = pulses > row_max ? pulses : row_max;
            }
            count->slots += (uint64_t)row_max;     /* a row's devices written at once, rows in turn */
        }
        count->digital_ops += 2 * (uint64_t)((k1 - k0) * n_cols);   /* the product and the compare */
        return;
    }
    }
}

void ttv2_transfer(TrainLayer *l, const TrainRead *r, int64_t row, double rate, uint64_t key, double *buf,
                   UpdateCount *count)
{
    double *one_hot = buf + l->n;       /* K entries after the N outputs */
    for (int64_t k = 0; k < l->k; k++)
        one_hot[k] = k == row;
    train_array_read(&l->a, r, false, one_hot, buf, key, 0, -1);
    double dw_min = l->c.model->dw_min;
    int row_max = 0;
    for (int64_t n = 0; n < l->n; n++) {
        int64_t i = row * l->n + n;
        l->acc[i] += rate * buf[n] / dw_min;
        if (fabs(l->acc[i]) < 1)
            continue;
        double steps = trunc(l->acc[i]);
        int pulses = pulse_integer(&l->c, i, steps);
        l->acc[i] -= steps;
        count->pulses += (uint64_t)pulses;
        row_max = pulses > row_max ? pulses : row_max;
    }
    count->slots += (uint64_t)row_max;
    count->digital_ops += 2 * (uint64_t)l->n;
}
