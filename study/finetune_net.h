/* finetune_net.h: the trailing crossbar layers as hybrid fine-tuning trains
 * them (study/finetune_net.c; docs/finetune.md).  Private to
 * study/finetune.c, which reads them out of a program and writes them back.
 *
 * A chain of fully connected layers: layer l computes z = x W + b on its input
 * x, the codes of its quant times their scale, then (all but the last) a ReLU
 * when the program has one there; the next layer's quant turns that into its
 * input codes.  The last layer's z are the logits. */
#ifndef XBARC_FINETUNE_NET_H
#define XBARC_FINETUNE_NET_H

#include "ir/ir.h"

/* The stuck cells of one layer's copy that processes an image's row, as the
 * memory test after programming finds them: per weight with a stuck cell, the
 * level each of its cells is stuck at (effective level, (G - G_min) / dG, as
 * the simulator counts it) or -1 for a cell that takes what is written. */
typedef struct {
    int slices, cell_bits, polarities;
    int width;                  /* cells per weight: slices * polarities, then the slices' reference cells */
    int64_t count;              /* weights with a stuck cell */
    int64_t *weight;            /* their index k * N + n */
    float *stuck;               /* count * width */
    float *value;               /* count * (2 qmax + 1): what code q of weight i reads as, at
                                   i * (2 qmax + 1) + q + qmax, its cells set by fault_fit */
} FaultMap;

/* The levels of one weight's cells that make the chip read the value
 * closest to code w, the stuck ones as they are stuck (stuck[x] >= 0):
 * per slice s the positive cell a[s] and, for a pair mapping, the negative
 * cell b[s] (offset mapping: b[s] is the reference, which is left as it is).
 * The value read is sum_s 2^(s cell_bits) (a[s] - b[s]): a stuck-at-G_max
 * high slice is cancelled by the other polarity's cells as far as they go.
 * Of equally close values, the fewest level steps.  Cells of more than 4
 * bits get their standard levels.  Returns the value. */
double fault_fit(const FaultMap *f, const float *stuck, int32_t w, int32_t qmax, int *a, int *b);
/* f->value from fault_fit. */
void fault_table(FaultMap *f, int32_t qmax, Arena *arena);

typedef struct {
    int64_t k, n;
    double *w, *b;              /* the trained float weights [K, N] and bias [N] */
    const FaultMap *faults;     /* chip-aware: forward with the quantized weights and these stuck
                                   cells; NULL: forward with w (plain) */
    float in_scale;             /* the layer's quant: input codes in [in_lo, in_hi] times in_scale */
    int32_t in_lo, in_hi;
    bool relu;                  /* a ReLU on z before the next layer (never on the last) */
    double *eff;                /* [K, N] the weights forward uses (w itself when plain) */
    float *w_scale;             /* [N] net_effective's scratch */
} NetLayer;

typedef struct {
    int n_layers;
    NetLayer *layers;
    const Arch *arch;           /* weight_bits and weight_granularity: the quantize rule */
} Net;

typedef struct {
    int epochs, batch;
    double learning_rate;
} NetTraining;

/* The quantize pass's scales (docs/crossbar.md 3) and codes of a layer's
 * float weights: max |w| / qmax per output channel (or of the layer), 1 for
 * an all-zero one; w_q may be NULL for the scales alone. */
void net_quantize(const NetLayer *l, const Arch *arch, float *w_q, float *w_scale);
/* Each layer's eff from its w: quantized, stuck cells at their stuck level,
 * as the chip would compute with it apart from the programming variation. */
void net_effective(Net *net, Arena *arena);
/* Top-1 accuracy and mean cross-entropy of the net on `count` feature rows
 * (the first layer's inputs, already quantized). */
void net_evaluate(Net *net, const float *x, const int32_t *labels, int count, double *accuracy, double *loss,
                  Arena *arena);
/* Adam on the mean cross-entropy of minibatches, images shuffled every epoch
 * from `seed`; backpropagation through every layer, the quantization of
 * weights and of activations and the stuck cells taken as the identity (the
 * straight-through estimator), a clipped activation passing no gradient. */
void net_train(Net *net, const float *x, const int32_t *labels, int count, const NetTraining *t, uint64_t seed,
               Arena *arena);

#endif
