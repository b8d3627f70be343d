/* finetune.h: hybrid fine-tuning of a program's last crossbar layer
 * (Yao et al., Nature 2020; DOMAIN.md 11; docs/finetune.md).
 *
 * The chip as programmed (with the non-idealities of program->arch, drawn
 * from a seed) computes the features of the last crossbar layer on a few
 * training images; that layer alone is retrained in float on them, quantized
 * again with the quantize pass's rule and reprogrammed into its own tiles. */
#ifndef XBARC_FINETUNE_H
#define XBARC_FINETUNE_H

#include "runtime/program.h"

/* Zero fields take the defaults. */
typedef struct {
    int epochs;                 /* passes over the training features (FINETUNE_EPOCHS) */
    int batch;                  /* minibatch size (FINETUNE_BATCH) */
    double learning_rate;       /* Adam's step (FINETUNE_LEARNING_RATE) */
    bool plain;                 /* train the float layer alone (Yao et al.), not the chip-aware
                                   layer: quantized, with the stuck cells of its tiles */
} FinetuneOptions;
#define FINETUNE_EPOCHS 20
#define FINETUNE_BATCH 32
#define FINETUNE_LEARNING_RATE 1e-3

/* Read noise of training image i is keyed by stream FINETUNE_TRAIN_STREAM + i,
 * apart from test image i's stream i (xbarc eval's). */
#define FINETUNE_TRAIN_STREAM ((uint64_t)1 << 62)

typedef struct {
    const char *layer;          /* the retrained layer */
    int64_t features, classes;  /* K, N */
    int images;                 /* training images used */
    /* top-1 on the training images of the layer on the chip's features,
     * with the programmed weights and after training: in float (plain), or
     * as the chip would compute it, quantized and with its stuck cells */
    double train_before, train_after;
    double loss_before, loss_after;     /* mean cross-entropy, same */
    int64_t weights_changed;    /* quantized weights that differ from the programmed ones */
    int64_t stuck_weights;      /* weights of the layer with a stuck cell */
} FinetuneReport;

/* The quantized weights w_q [K, N] programmed into the last crossbar layer's
 * tiles (decoded from the levels of its first copy), and its name; false
 * with a message when the program's last crossbar layer cannot be fine-tuned
 * (docs/finetune.md: a quantized matmul-form layer, one row per image, whose
 * N outputs are the program's one output). */
bool finetune_read_weights(const Program *p, const char **layer, int64_t *k, int64_t *n, float **w_q,
                           Arena *arena, Diags *diags);

/* Fine-tunes program p in place: features of `count` images (image_size
 * floats each, labels below the layer's N) from the chip of seed `seed`,
 * training, new levels for the layer's tiles, new out_scale and bias. */
bool finetune_program(Program *p, uint64_t seed, const float *images, const uint8_t *labels, int count,
                      const FinetuneOptions *options, FinetuneReport *report, Diags *diags);

/* Top-1 accuracy of program p (one input, one output) on the chip of seed
 * `seed`, image i read with stream i: what `xbarc eval --seed` reports. */
double finetune_accuracy(const Program *p, uint64_t seed, const float *images, const uint8_t *labels, int count);

#endif
