/* metrics.h: what `xbarc eval` measures beyond one number (runtime/metrics.c,
 * docs/eval.md).
 *
 * A classifier's metrics come from each image's predicted class and the rank
 * of its true class among the outputs (0: the top-1 class), which the
 * evaluator records (runtime/evaluate.c): top-1 and top-5 accuracy, per-class
 * accuracy and the confusion matrix.  A model that is not a classifier is
 * measured against a reference (the float model) by its output's
 * signal-to-noise ratio and relative L2 error over the whole set:
 *
 *   signal = sum over images and elements of ref^2
 *   noise  = sum of (out - ref)^2
 *   SNR    = 10 log10(signal / noise) dB,   relative error = sqrt(noise / signal)
 *
 * Sums are in double, image by image in index order, so the figures are the
 * same bits whatever thread ran which image. */
#ifndef XBARC_METRICS_H
#define XBARC_METRICS_H

#include "ir/ir.h"

/* Outputs ranked before v[label]: those greater, and those equal at a lower
 * index (top_class's tie rule: rank 0 is the class top_class picks).  The
 * label is in top-k when its rank is below k. */
int label_rank(const float *v, int64_t n, int label);

/* The largest confusion matrix kept (classes squared, int counts). */
enum { METRICS_MAX_CONFUSION_CLASSES = 1000 };

typedef struct {
    int count;                  /* images */
    int n_classes;              /* the model's outputs */
    int correct1, correct5;     /* true class ranked first, in the first five */
    double top1, top5;          /* correct / count (0 for no images) */
    int *class_count;           /* [n_classes]: images of each true class */
    int *class_correct;         /* [n_classes]: of them predicted right */
    int *confusion;             /* [n_classes * n_classes], row = true class,
                                 * column = predicted; NULL past the limit above */
} ClassMetrics;

/* From the predictions and label ranks of `count` images and their labels
 * (n_classes outputs).  False, with a diagnostic naming the image, when a
 * label or prediction is not a class of the output. */
bool class_metrics(Arena *arena, const int *predictions, const int *ranks, const int32_t *labels, int count,
                   int n_classes, ClassMetrics *m, Diags *diags);
/* Accuracy of class c (0 without images of c). */
double class_accuracy(const ClassMetrics *m, int c);

typedef struct {
    double signal, noise;       /* the sums above */
    int64_t values;             /* elements compared */
} OutputError;

/* Adds one image's n outputs against the reference's. */
void output_error_add(OutputError *e, const float *out, const float *ref, int64_t n);
/* SNR in dB: +inf when the outputs equal the reference, -inf when the
 * reference is all zero and they are not. */
double output_snr_db(const OutputError *e);
/* sqrt(noise / signal): 0 when equal, +inf for a zero reference otherwise. */
double output_relerr(const OutputError *e);

/* What --metrics-json holds (docs/eval.md): the run, the headline, the
 * classifier's metrics and the comparison with a reference model. */
typedef struct {
    const char *model, *dataset;
    int images;
    uint64_t seed;                  /* the chip's (programs) */
    const char *metric;             /* top1, top5, snr or relerr: the headline's name */
    double value;                   /* and value */
    const ClassMetrics *classes;    /* or NULL */
    const char *against;            /* the reference model, or NULL: none of the below */
    const OutputError *error;
    double reference_accuracy, agreement;  /* written with classes only */
    double largest_difference;
    int identical;                  /* images whose outputs equal the reference's bit for bit */
} MetricsReport;

/* The report as JSON text (arena-allocated, ending in a newline); infinite
 * SNR or error are written as null. */
char *metrics_to_json(Arena *arena, const MetricsReport *r);

#endif
