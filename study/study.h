/* study.h: what loops over the whole pipeline: compile, simulate, compare.
 *
 * The layer above the backend: it may call the passes, the emitter and the
 * simulator (and nothing calls it but the CLI).
 *   - study/adc_search.c: the ADC bit allocation search (docs/adc.md): it
 *     simulates a mapped graph's program to collect partial-sum statistics,
 *     then lowers per-layer bits while top-1 agreement holds;
 *   - study/finetune.c (and finetune_net.c, its float network): hybrid
 *     fine-tuning of a program's trailing crossbar layers on the chip's own
 *     features (Yao et al., Nature 2020; docs/finetune.md);
 *   - study/train.c (train_array.c, train_algo.c): in-memory training of
 *     those layers on analog arrays of devices (runtime/device.h): forward
 *     and transposed reads through the program's blocks and ADCs, stochastic
 *     pulse-train updates (docs/train.md). */
#ifndef XBARC_STUDY_H
#define XBARC_STUDY_H

#include "frontend/frontend.h"
#include "backend/backend.h"
#include "passes/passes.h"
#include "runtime/runtime.h"
#include "runtime/device.h"

/* ---- ADC bit allocation (study/adc_search.c) ---- */

/* Runs the graph's program (mapped, quantized, every ADC lossless) over
 * `count` images and stores on every xbar op, per block, the statistics the
 * pass adc-alloc clips with: psum_max, psum_p9999, psum_p999, psum_p99. */
bool adc_collect_stats(Graph *g, const float *images, int count, Diags *diags);

typedef struct {
    const char *layer;
    int blocks;
    uint64_t conversions;       /* per image */
    int bits_min, bits_max;     /* of the allocation, over the layer's blocks */
    int lossless_bits;          /* the largest of adc-lossless's */
    double pj_lossless, pj_uniform, pj_alloc;   /* ADC energy per image */
} AdcLayerReport;

typedef struct {
    int n_layers;
    AdcLayerReport *layers;
    int uniform_bits;           /* the uniform allocation compared against */
    const char *clip;
    int images;                 /* calibration images used */
    double tolerance;           /* points */
    /* top-1 agreement with the lossless program on those images, in percent */
    double agree_uniform, agree_alloc;
    double error_scale;         /* the search's safety factor on output errors */
    int evaluations;            /* simulator runs of the search */
    double seconds;
    bool fallback;              /* no allocation met the tolerance: the architecture's ADCs, clipped */
} AdcReport;

/* Options of adc_allocate; zero fields take the defaults. */
typedef struct {
    double tolerance;           /* points of top-1 agreement that may be lost (0 = none) */
    int max_images;             /* calibration images used, at most (ADC_DEFAULT_IMAGES) */
    const char *clip;           /* adc-alloc's clip option (ADC_DEFAULT_CLIP) */
    int uniform_bits;           /* the uniform allocation of the report (0: the architecture's adc_bits) */
    double error_scale;         /* safety factor on output errors (ADC_DEFAULT_ERROR_SCALE) */
} AdcAllocOptions;
#define ADC_DEFAULT_IMAGES 500
#define ADC_DEFAULT_CLIP "p99"
#define ADC_DEFAULT_ERROR_SCALE 2.0

/* Bit allocation (docs/adc.md): on a graph mapped with lossless ADCs,
 * collects the statistics, then lowers per-layer bits greedily, the largest
 * energy saving first, while top-1 agreement with the lossless program on the
 * calibration images stays within the tolerance.  Leaves the graph allocated
 * (adc_layer_bits, adc_bits, adc_max) and fills *report. */
bool adc_allocate(Graph *g, const float *images, int count, const AdcAllocOptions *options,
                  AdcReport *report, Diags *diags);
/* The report as a table: bits and ADC energy per layer against lossless and uniform ADCs. */
void adc_report_print(const AdcReport *report, FILE *out);

/* The architecture's ADCs (docs/adc.md 1, `xbarc compile --adc arch`, the
 * default): on a graph mapped with lossless ADCs, every block keeps its
 * lossless bits when they are at most the architecture's adc_bits; the
 * others get adc_bits with a full scale clipped to the largest column sum
 * the calibration images gave (adc-alloc{bits=arch,clip=max}), or without
 * images to the whole range (clip=full).  With images, the cost is measured:
 * top-1 agreement of the clipped program with the lossless one on them. */
typedef struct {
    int arch_bits;              /* the architecture's adc_bits */
    int layers;                 /* crossbar layers with ADCs */
    int lossless_bits;          /* the most any block needs to be exact */
    int clipped_layers;         /* layers with a block that needs more than arch_bits */
    int64_t blocks, clipped_blocks;
    int images;                 /* calibration images of the range and the cost (0: full range) */
    double agreement;           /* top-1 agreement with lossless ADCs on them, percent (-1: not measured) */
    const char **clipped;       /* the clipped layers' names */
    int *clipped_lossless;      /* and their lossless bits */
} AdcFitReport;

bool adc_fit_arch(Graph *g, const float *images, int count, AdcFitReport *report, Diags *diags);
void adc_fit_print(const AdcFitReport *report, FILE *out);


/* ---- hybrid fine-tuning (study/finetune.c, docs/finetune.md) ----
 *
 * The chip as programmed (with the non-idealities of program->arch, drawn
 * from a seed) computes the features of the first retrained layer on a few
 * training images; the last layer (Yao et al.), or the last few fully
 * connected ones, are retrained on them, quantized again with the quantize
 * pass's rule and reprogrammed into their own tiles. */

/* Zero fields take the defaults (docs/finetune.md's recommended setting,
 * but for reencode, which `xbarc finetune` turns on unless --no-reencode). */
typedef struct {
    int layers;                 /* trailing crossbar layers retrained: N (1 is Yao et al.), or
                                   FINETUNE_LAYERS_FC (0 too, the default): every trailing fully
                                   connected one */
    int epochs;                 /* passes over the training features (FINETUNE_EPOCHS) */
    int batch;                  /* minibatch size (FINETUNE_BATCH) */
    double learning_rate;       /* Adam's step (FINETUNE_LEARNING_RATE) */
    bool plain;                 /* train the float layers alone (Yao et al.), not the chip-aware
                                   layers: quantized, with the stuck cells of their tiles, and
                                   written around them */
    bool reencode;              /* first write every crossbar layer's weights around its stuck
                                   cells (same codes, other levels), the earlier layers too */
} FinetuneOptions;
#define FINETUNE_LAYERS_FC (-1)
#define FINETUNE_MAX_LAYERS 16     /* cmd_finetune.c says 16 */
#define FINETUNE_EPOCHS 5
#define FINETUNE_BATCH 32
#define FINETUNE_LEARNING_RATE 1e-4

/* Read noise of training image i is keyed by stream FINETUNE_TRAIN_STREAM + i,
 * apart from test image i's stream i (xbarc eval's). */
#define FINETUNE_TRAIN_STREAM ((uint64_t)1 << 62)

typedef struct {
    int n_layers;               /* retrained layers */
    const char *layers[FINETUNE_MAX_LAYERS];    /* their names, in program order */
    const char *layer;          /* the last one */
    int64_t features, classes;  /* K of the first, N of the last */
    int images;                 /* training images used */
    /* top-1 on the training images of the layers on the chip's features,
     * with the programmed weights and after training: in float (plain), or
     * as the chip would compute it, quantized and with its stuck cells (the
     * weights with one written around it: programmed ones too) */
    double train_before, train_after;
    double loss_before, loss_after;     /* mean cross-entropy, same */
    int64_t weights_changed;    /* quantized weights that differ from the programmed ones */
    int64_t weights;            /* weights of the retrained layers */
    int64_t stuck_weights;      /* of those, weights with a stuck cell */
    int64_t reencoded;          /* weights written around their stuck cells, all layers */
} FinetuneReport;

/* The quantized weights w_q [K, N] programmed into the last crossbar layer's
 * tiles (decoded from the levels of its first copy), and its name; false
 * with a message when the program's last crossbar layer cannot be fine-tuned
 * (docs/finetune.md: a quantized matmul-form layer, one row per image, whose
 * N outputs are the program's one output). */
bool finetune_read_weights(const Program *p, const char **layer, int64_t *k, int64_t *n, float **w_q,
                           Arena *arena, Diags *diags);

/* Fine-tunes program p in place: features of `count` images (image_size
 * floats each, labels below the last layer's N) from the chip of seed `seed`,
 * training, new levels for the retrained layers' tiles, new out_scale and
 * bias; each rewritten tile counts one more write (Tile.writes), so the chip
 * draws its programming variation anew. */
bool finetune_program(Program *p, uint64_t seed, const float *images, const int32_t *labels, int count,
                      const FinetuneOptions *options, FinetuneReport *report, Diags *diags);

/* Top-1 accuracy of program p (one input, one output) on the chip of seed
 * `seed`, image i read with stream i: what `xbarc eval --seed` reports. */
double finetune_accuracy(const Program *p, uint64_t seed, const float *images, const int32_t *labels, int count);


/* ---- in-memory training (study/train.c, docs/train.md) ----
 *
 * The trailing fully connected layers (as finetune finds them) become analog
 * arrays of devices; the earlier layers' outputs come from the chip once per
 * image.  Forward reads through the program's blocks and ADCs, transposed
 * reads for the backward pass, pulse-train updates into the devices; then
 * the trained weights are quantized and reprogrammed as finetune does. */
/* The update rule of --algorithm: the float baseline and the three in-memory
 * algorithms, which are backend/train_map.c's TrainAlgorithm (their names too). */
typedef enum { TRAIN_RULE_FLOAT, TRAIN_RULE_SGD, TRAIN_RULE_MIXED, TRAIN_RULE_TTV2 } TrainRule;
const char *train_rule_name(TrainRule a);
bool train_rule_parse(const char *text, TrainRule *a);

/* Zero fields take the defaults below. */
typedef struct {
    TrainRule algorithm;
    int layers;                 /* as FinetuneOptions.layers (FINETUNE_LAYERS_FC: every trailing fc layer) */
    int epochs, batch;
    double learning_rate;       /* SGD's step on the mean cross-entropy of a minibatch */
    int threads;
    bool init_random;           /* uniform +-1/sqrt(K) weights, zero bias (else the programmed layers) */
    bool mapping_given;         /* pair says the mapping; else each layer's training mapping
                                   (train_mapping_of: a pair for pair and split, else one device) */
    bool pair;                  /* a differential pair of devices per weight (else one bipolar device;
                                   always a pair for a unipolar device, w_min >= 0) */
    int bl;                     /* pulse stream length */
    int bwd_dac_bits;           /* the backward pass's error DAC */
    int bwd_adc_bits;           /* its ADC (0: each block's forward bits) */
    double out_bound;           /* ADC full scale, device units */
    double weight_fraction;     /* the init weights' largest |w| as a fraction of the device bound */
    int transfer_every;         /* Tiki-Taka v2: updates between two transfers (one row of A each) */
    double transfer_lr;         /* Tiki-Taka v2: the transfer rate */
    bool zero_shift;            /* Tiki-Taka v2: A's devices start at their symmetry points, which a
                                   reference takes from A's reads (Kim et al. 2019); one-device A only */
} TrainOptions;
#define TRAIN_EPOCHS 1
#define TRAIN_BATCH 1
#define TRAIN_LEARNING_RATE 0.02
#define TRAIN_BL 31
#define TRAIN_BWD_DAC_BITS 8
#define TRAIN_OUT_BOUND 12.0
#define TRAIN_WEIGHT_FRACTION 0.2
#define TRAIN_TRANSFER_EVERY 1
#define TRAIN_TRANSFER_LR 0.1

/* One epoch's figures, as `xbarc train` prints them. */
typedef struct {
    int epoch;                  /* 1 .. epochs; 0: before training (test accuracy only) */
    double train_loss, train_accuracy;  /* over the epoch's images, as trained (forward before each update) */
    double test_accuracy;       /* the arrays' forward on the test features */
    TrainCounters counters;     /* this epoch's events */
    TrainCost cost;             /* and their cost */
    double train_seconds;       /* wall clock of the epoch's training (not its test reads) */
} TrainEpoch;
typedef void (*TrainEpochFn)(void *context, const TrainEpoch *epoch);

typedef struct {
    int n_layers;
    const char *layers[FINETUNE_MAX_LAYERS];
    int64_t features, classes, weights;
    int images, test_images;
    double scale[FINETUNE_MAX_LAYERS];  /* real weight per device unit, per layer */
    bool pair[FINETUNE_MAX_LAYERS];     /* a pair of devices per weight, per layer */
    TrainCounters counters;     /* all epochs */
    TrainCost cost;
    uint64_t max_writes;        /* pulses of the most written device */
    double mean_writes;         /* mean pulses a device */
    double epochs_to_wear;      /* epochs until the most written device reaches the endurance */
    uint64_t refreshes;         /* pairs reprogrammed to their difference (--mapping pair) */
    int64_t weights_changed;    /* quantized weights that differ from the programmed ones */
    uint32_t *writes[FINETUNE_MAX_LAYERS];  /* pulses per weight [k n], both devices of a pair, A and C */
    double feature_seconds;     /* wall clock: the earlier layers on the chip, train and test images */
    double train_seconds;       /* wall clock: the epochs' training, test reads excluded */
    double train_cpu_seconds;   /* the same in CPU time of the process (all threads) */
} TrainReport;

/* Trains program p's trailing layers on `count` training images with device
 * `device` on the chip of `seed` (its non-idealities in p->arch), calls
 * on_epoch (may be NULL) after each epoch with test accuracies on the
 * `test_count` test images, and reprograms the layers with the trained
 * weights.  Same seed, same bits, whatever options->threads. */
bool train_program(Program *p, uint64_t seed, const DeviceModel *device, const float *images, const int32_t *labels,
                   int count, const float *test_images, const int32_t *test_labels, int test_count,
                   const TrainOptions *options, TrainEpochFn on_epoch, void *context, TrainReport *report,
                   Diags *diags);

/* ---- the whole compilation (study/compile.c) ---- */

/* An ONNX model, its inputs given `shapes` (OnnxBinding: n_shapes shapes, no
 * values), or textual IR (by the .xir extension: no shapes), with `pipeline`
 * run on it (NULL or "": none). */
Graph *load_model(Arena *arena, const char *path, const OnnxBinding *shapes, int n_shapes, const char *pipeline,
                  const PassOptions *pass_options, Diags *diags);

/* What `xbarc compile` was asked for (checked by the CLI). */
typedef struct {
    const char *model, *arch_path;
    const char *const *arch_sets;   /* FIELD=VALUE of the architecture, after arch_path (sweeps) */
    int n_arch_sets;
    const char *calib;          /* calibration set (frontend calibration_images), or "none" */
    long calib_count;           /* 0: the calibration set's default */
    DatasetOptions calib_data;  /* how --calib's data set is read (--scale, --resize, --mean...) */
    CalibRange calib_range;     /* --calib-range: how each layer's range is chosen (default max) */
    long threads;               /* --threads: calibration images on this many threads (0 or 1: one) */
    const char *calib_ranges;   /* --calib-range as given: its LAYER=RULE entries are layers' own rules; or NULL */
    const char *adc;            /* arch, lossless, alloc[:CLIP] or uniform:B */
    int uniform_bits;           /* B of uniform:B[:RANGE] */
    const char *uniform_clip;   /* RANGE as adc-alloc's clip: max (the default), reach, p99.99, ..., or a fraction */
    const char *adc_ranges;     /* --adc-range LAYER=RANGE,...: layers whose range differs; NULL: none */
    AdcAllocOptions adc_options;
    const char *packing;        /* none, dense, balanced; NULL: MAPPING_DEFAULT_PACKING */
    const char *tiles;          /* a tile budget was given: tile_budget; the replication searches for it */
    long tile_budget;
    const char *replicate;      /* NULL (auto with a budget, else keep), none, auto or LAYER=R,... */
    bool float_weights;
    const char *train_mapping;  /* device, pair or split: the architecture's sign and cell_bits for
                                   in-memory training (train_mapping_arch); NULL: none */
    PassOptions pass_options;
    const OnnxBinding *input_shapes;    /* --input-shape */
    int n_input_shapes;
} CompileOptions;

/* The RANGE of --adc uniform:B:RANGE and --adc-range LAYER=RANGE as
 * adc-alloc's clip (docs/adc.md 0): calib (the largest calibration sum) is
 * the clip max, max (the largest sum a block can produce, CrossSim's range
 * MAX) the clip reach; the percentiles and fractions of max pass as they
 * are.  NULL if RANGE is none of these. */
const char *adc_range_clip(const char *range);

/* Whether adc-alloc's clip takes its range from the blocks' geometry
 * (full, reach, a fraction of the reach) rather than from statistics of
 * calibration sums. */
bool adc_clip_needs_no_data(const char *clip);

/* The model, lowered, calibrated, quantized, mapped and given its ADCs: the
 * graph a program is emitted from, or NULL (reported).  With --adc alloc,
 * *adc_report says what the search chose; with --adc arch, *fit what the
 * architecture's ADCs clip and what that costs. */
Graph *compile_model(Arena *arena, const CompileOptions *options, AdcReport *adc_report, AdcFitReport *fit,
                     Diags *diags);

#endif
