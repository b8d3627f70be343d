/* runtime.h: executing graphs and programs.
 *
 * The reference interpreter runs the graph IR in float32: the software baseline
 * every later accuracy figure is compared against.  Its kernels (runtime/kernels.h)
 * take plain arrays and sizes, so the crossbar simulator reuses them. */
#ifndef XBARC_RUNTIME_H
#define XBARC_RUNTIME_H

#include "ir/ir.h"

typedef struct Interp Interp;

/* Plans one buffer per value of a verified graph (constants point at their data).
 * The Interp has its own memory; free it with interp_free(). */
Interp *interp_new(const Graph *g);
void interp_free(Interp *interp);
/* Whether `copies` Interps of g fit memory_limit(); if not, reports what it
 * needs.  Callers ask before interp_new() on a graph from a file: a model may
 * declare tensors legal in size yet far too big for this machine together. */
bool interp_fits(const Graph *g, int copies, Diags *diags);
float *interp_input(Interp *interp, int index);         /* fill before interp_run() */
void interp_run(Interp *interp);
const float *interp_output(const Interp *interp, int index);
/* The buffer of any value after interp_run() (for debugging and calibration). */
const float *interp_value(const Interp *interp, const Value *value);
/* Runs one op on arrays shaped as its inputs' and result's types say (at most
 * 64 inputs): the digital units of the crossbar simulator use it too. */
void interp_exec_op(const Op *op, const float *const *inputs, float *result);
/* Whether op's result splits into parts that interp_exec_op_part computes
 * alone (element-wise ReLU and Add of equal shapes, pooling by planes), each
 * element the same bits as from interp_exec_op; part p of n. */
bool interp_op_splits(const Op *op);
void interp_exec_op_part(const Op *op, const float *const *inputs, float *result, int part, int parts);
/* Its part for the element-wise math ops, reductions and normalizations
 * (runtime/interp_math.c). */
void interp_exec_math(const Op *op, const float *const *inputs, float *result);
/* The same for convtranspose, dilate, resize, slice, tile and a pad in reflect
 * or edge mode (runtime/interp_layout.c); interp_pad_mode says which pads those are. */
void interp_exec_layout(const Op *op, const float *const *inputs, float *result);
bool interp_pad_mode(const Op *op, bool *reflect);
/* The same for cast, mod, argmax, argmin, gather, gatherelements, trilu,
 * cumsum and topk (runtime/interp_index.c).  A gather index out of range is reported
 * at the op's location and ends the process with status 1. */
void interp_exec_index(const Op *op, const float *const *inputs, float *result);
/* An xbar op (docs/crossbar.md): the integer reference when it is quantized
 * (it has in_scale), else the float product.  `scratch` holds
 * interp_xbar_scratch(op) bytes, 16-byte aligned (interp_exec_op allocates it). */
size_t interp_xbar_scratch(const Op *op);
void interp_exec_xbar(const Op *op, const float *const *inputs, float *result, void *scratch);

/* Runs the reference interpreter on `count` images (each numel of the graph's
 * one input, back to back) and records on every xbar op the range of its input
 * over all of them as `act_min` / `act_max` (runtime/calibrate.c). */
bool calibrate_xbar(Graph *g, const float *images, int count, Diags *diags);
/* How a layer's range is chosen from what its input took (docs/datasets.md,
 * "Calibration"): the largest magnitude; the magnitude that a fraction p of
 * the values stay within (p99.9, p99.99), or the one that minimizes the mean
 * squared error of clipping plus rounding at the layer's input bits (mse);
 * or a magnitude given (value: the DAC's full scale in the units of the
 * layer's input, whatever the data took). */
typedef enum { RANGE_MAX, RANGE_PERCENTILE, RANGE_MSE, RANGE_VALUE } RangeRule;
typedef struct {
    RangeRule rule;
    double percentile;          /* RANGE_PERCENTILE: 0.999 for p99.9 */
    float value;                /* RANGE_VALUE: the magnitude, positive and finite */
} CalibRange;
/* "max", "p99.9", "p99.99" (any pN with 50 <= N < 100), "mse" or a positive
 * number (RANGE_VALUE, e.g. "1" or "0.5"). */
bool calib_range_parse(const char *text, CalibRange *out);
/* calibrate_xbar with a range rule: a second run over the images counts each
 * layer's input magnitudes in a histogram; the chosen bound clips the range,
 * and `act_clipped` records how many of the values seen lie beyond it.  An
 * xbar op's string attribute act_range (a rule as calib_range_parse reads
 * it) replaces `range` for that op.  The images go over `threads` threads
 * (an interpreter each); the ranges are the same bits for any number. */
bool calibrate_xbar_range(Graph *g, const float *images, int count, const CalibRange *range, int threads,
                          Diags *diags);
/* Sets the same nominal range on every xbar op instead (`--calib none`): for
 * mapping studies, which need no data; the accuracy is then meaningless.
 * An op's act_range magnitude V replaces act_max by V. */
void calibrate_nominal(Graph *g, float act_min, float act_max);

/* ---- a chip's non-idealities, as options set them (runtime/noise.c, docs/noise.md) ---- */

/* Sets every non-ideality of arch to the named preset: "ideal", "rram",
 * "pcm" or "neurram" (docs/noise.md 9).  False for another name. */
bool noise_preset(Arch *arch, const char *name);
/* Applies "FIELD=VALUE" to a non-ideality or to g_min_us / g_max_us (the
 * fields a compiled program leaves free); NULL, or what is wrong. */
const char *noise_set(Arch *arch, const char *assignment);
/* Applies a chip file (docs/noise.md 13): a JSON object of the fields
 * noise_set takes (and "description", "source" strings), checked like an
 * architecture; NULL, or what is wrong, naming the file and the field.  arch
 * is unchanged on errors. */
const char *noise_read_chip(Arch *arch, const char *path, Arena *arena);
/* Seconds from "20s", "5m", "1h", "1d", "1w", "1y" (365 days) or a plain
 * number of seconds; false when the text is none of those. */
bool noise_parse_time(const char *text, double *seconds);
/* The chip's non-idealities that differ from the ideal chip's, as
 * "FIELD=VALUE FIELD=VALUE" in field order (what noise_set reads back); ""
 * for the ideal chip.  An arena string. */
const char *noise_describe(Arena *arena, const Arch *arch);

/* ---- the crossbar simulator (runtime/sim.c) ---- */

#include "runtime/program.h"
#include "runtime/device.h"
typedef struct Sim Sim;


/* Executes a program read by read.  The Sim owns its buffers; the program must
 * outlive it.  The non-idealities of program->arch (docs/noise.md) are drawn
 * from `seed` (sim_new: seed 0); none of them, the chip is ideal. */
Sim *sim_new(const Program *program);
Sim *sim_new_seeded(const Program *program, uint64_t seed);
/* Why the chip of sim_new could not be programmed (a wire solve that did
 * not converge, docs/noise.md 7), or NULL; runs of such a Sim are meaningless. */
const char *sim_chip_error(const Sim *sim);
/* The read noise of the next runs is keyed by `stream` too (default 0): the
 * image index in `xbarc eval`, so that each image gets reads of its own. */
void sim_set_stream(Sim *sim, uint64_t stream);
void sim_free(Sim *sim);
float *sim_input(Sim *sim, int index);
void sim_run(Sim *sim);
const float *sim_output(const Sim *sim, int index);
SimCounters sim_counters(const Sim *sim);
/* The counters of one instruction of the last run (per-layer reports). */
SimCounters sim_instr_counters(const Sim *sim, int instr);
/* On by default: an mvm whose ADC is lossless and whose reads are ideal is
 * computed as one product of its codes, provably the same result as its reads
 * one by one (runtime/sim_mvm.c).  Off forces every read through the DAC
 * cycles and the ADC (tests; counters are the same either way). */
void sim_set_fast_path(Sim *sim, bool enabled);
/* Splits each layer's rows on the fast path (an ideal chip, lossless ADCs)
 * over `threads` threads within one run; the outputs are the same bits for
 * any number (runtime/sim_threads.c).  Reads through the ADCs stay on one thread.
 * False when the threads could not be started. */
bool sim_set_threads(Sim *sim, int threads);
/* Check mode (docs/crossbar.md 10; on in every Sim when the environment has
 * XBARC_CHECK=1): before each mvm its block is computed by the integer
 * reference, the per-read path at zero noise and each fast path on the
 * chip's ideal cells, and on an ideal chip the accumulator the run writes is
 * compared too.  sim_run stops at the first difference, prints it on stderr
 * and leaves it in sim_check_error (NULL while all agree); its outputs are
 * then meaningless. */
void sim_set_check(Sim *sim, bool enabled);
const char *sim_check_error(const Sim *sim);
/* Bytes of buffer memory the Sim holds (temporaries whose live ranges do not
 * overlap share it; constants excluded), and what one buffer each would take. */
void sim_memory(const Sim *sim, size_t *bytes, size_t *unshared_bytes);
/* The most memory a Sim of this (checked) program takes on any chip, every
 * run included: program_read refuses a program past memory_limit(). */
uint64_t sim_memory_bound(const Program *program);
/* Everything the Sim holds so far (tests hold it against sim_memory_bound). */
size_t sim_arena_bytes(const Sim *sim);

/* ---- accuracy over a labelled image set (runtime/evaluate.c) ---- */

/* `count` images back to back, each image_numel floats, and their labels
 * (NULL: predictions only). */
typedef struct {
    const float *images;
    int64_t image_numel;
    const int32_t *labels;
    int count;
} EvalSet;

/* Called after each image with the images done so far and how many of them
 * were right, from whichever worker finished it, one call at a time. */
typedef void EvalProgress(void *context, int done, int count, int correct);

typedef struct {
    uint64_t seed;              /* the chip's (programs): every worker simulates the same chip */
    int threads;                /* workers (0 or 1: the calling thread alone) */
    bool keep_logits;           /* fill EvalResult.logits */
    bool counters;              /* fill EvalResult.instr_counters (programs) */
    EvalProgress *progress;     /* or NULL */
    void *progress_context;
} EvalOptions;

/* The same bits whatever options->threads is: image i's read noise is keyed
 * by (seed, i) through sim_set_stream, and results are kept by image index. */
typedef struct {
    int count, correct;
    double accuracy;            /* correct / count (0 without labels) */
    int64_t n_logits;           /* elements of the first output */
    int *predictions;           /* [count]: argmax of the first output (the first of ties) */
    int *ranks;                 /* [count]: the label's rank in that output (runtime/metrics.h), or NULL without labels */
    float *logits;              /* [count * n_logits], or NULL */
    /* with options->counters (programs; else 0, NULL and zeros): */
    int n_instrs;               /* the program's */
    SimCounters *instr_counters;    /* [n_instrs], summed over the images */
    SimCounters total;          /* and over the instructions */
} EvalResult;

/* Top-1 accuracy of a program on the simulator (one Sim per worker, made with
 * options->seed), or of a graph on the reference interpreter (one Interp per
 * worker).  Results live in `arena`.  False, with a diagnostic, when the model
 * does not take one image of the set. */
bool evaluate_program(Arena *arena, const Program *program, const EvalSet *set, const EvalOptions *options,
                      EvalResult *result, Diags *diags);
bool evaluate_graph(Arena *arena, const Graph *g, const EvalSet *set, const EvalOptions *options,
                    EvalResult *result, Diags *diags);
/* The index of the largest of v[0..n), the first of ties: the top-1 class. */
int top_class(const float *v, int64_t n);

/* ---- ADC statistics and bit allocation (study/adc_search.c, docs/adc.md) ---- */

/* The column sums one block's ADCs saw: a histogram of |v| in bins of
 * bin_width integers (1 unless the block's sums are too wide for few bins;
 * the sums of a quantized program are integers), the last bin also holding
 * everything beyond it, and the largest |v| exactly. */
typedef struct {
    int n_bins;
    double bin_width;           /* bin i holds bin_width * i <= |v| < bin_width * (i + 1) */
    uint64_t *counts;           /* NULL: this instruction is not recorded */
    uint64_t total;
    double max_abs;
} PsumHist;

void psum_hist_add(PsumHist *h, const double *v, int64_t n);
/* Statistics hook: every read of mvm instruction k adds its column sums, as
 * its ADCs see them, to by_instr[k] (n_instrs entries; those with counts NULL
 * are skipped).  It turns the fast path off, which has no reads to record;
 * NULL stops recording. */
void sim_set_psum_recorder(Sim *sim, PsumHist *by_instr);

#endif
