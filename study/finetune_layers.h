/* finetune_layers.h: the trailing fully connected crossbar layers of a
 * program as study/finetune.c finds, reads and rewrites them, shared with
 * the in-memory training engine (study/train.c, docs/train.md).  Private to
 * study/. */
#ifndef XBARC_FINETUNE_LAYERS_H
#define XBARC_FINETUNE_LAYERS_H

#include "study/finetune_net.h"
#include "runtime/runtime.h"

/* A retrained crossbar layer: its instructions, shape, and what the program
 * does between its dequant and the next retrained layer's quant. */
typedef struct {
    const char *name;
    int quant, dequant;         /* instruction indices */
    int64_t k, n;               /* inputs, outputs */
    bool relu;                  /* a ReLU before the next layer's quant */
} TrainedLayer;

/* The trailing crossbar layers, in program order: `want` of them, or with
 * FINETUNE_LAYERS_FC every fully connected one that a chain of modelled
 * digital ops (ReLU, reshapes) links to the last; false with a message
 * naming the layer that cannot be trained. */
bool finetune_find_layers(const Program *p, int want, TrainedLayer *layers, int *count, Diags *diags);
/* The dequantized input codes (code * in_scale, K per image) of layer L,
 * computed by the program's instructions before its quant on the chip of
 * `seed`, image i read with stream stream0 + i (training images:
 * FINETUNE_TRAIN_STREAM; test images: 0, as xbarc eval). */
void finetune_features(const Program *p, const TrainedLayer *L, uint64_t seed, const float *images, int count,
                       uint64_t stream0, float *features, Arena *arena);
/* A layer's float weights and bias from what is programmed (levels decoded
 * to w_q, times out_scale / in_scale), its quant and ReLU; old_q gets w_q. */
void finetune_layer_weights(const Program *p, const TrainedLayer *L, NetLayer *m, float *old_q);
/* The dequant's new out_scale (in_scale * w_scale[n]) and bias m->b. */
void finetune_set_dequant(Program *p, const TrainedLayer *L, const float *w_scale, const NetLayer *m);

#endif
