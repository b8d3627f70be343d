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
/* An xbar op (docs/crossbar.md): the integer reference when it is quantized
 * (it has in_scale), else the float product.  `scratch` holds
 * interp_xbar_scratch(op) bytes, 16-byte aligned (interp_exec_op allocates it). */
size_t interp_xbar_scratch(const Op *op);
void interp_exec_xbar(const Op *op, const float *const *inputs, float *result, void *scratch);

/* Runs the reference interpreter on `count` images (each numel of the graph's
 * one input, back to back) and records on every xbar op the range of its input
 * over all of them as `act_min` / `act_max` (runtime/calibrate.c). */
bool calibrate_xbar(Graph *g, const float *images, int count, Diags *diags);
/* Sets the same nominal range on every xbar op instead (`--calib none`): for
 * mapping studies, which need no data; the accuracy is then meaningless. */
void calibrate_nominal(Graph *g, float act_min, float act_max);

/* ---- the crossbar simulator (runtime/sim.c) ---- */

typedef struct Program Program;     /* runtime/program.h */
typedef struct Sim Sim;

/* Counters of one run, summed over instructions (per layer in reports). */
typedef struct {
    uint64_t reads;             /* crossbar reads: one per block, input vector and DAC cycle */
    uint64_t conversions;       /* ADC conversions */
    uint64_t saturated;         /* conversions clipped at the ADC range */
} SimCounters;

/* Executes a program read by read.  The Sim owns its buffers; the program must
 * outlive it.  The non-idealities of program->arch (docs/noise.md) are drawn
 * from `seed` (sim_new: seed 0); none of them, the chip is ideal. */
Sim *sim_new(const Program *program);
Sim *sim_new_seeded(const Program *program, uint64_t seed);
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

/* ---- accuracy over a labelled image set (runtime/evaluate.c) ---- */

/* `count` images back to back, each image_numel floats, and their labels
 * (NULL: predictions only). */
typedef struct {
    const float *images;
    int64_t image_numel;
    const uint8_t *labels;
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

/* ---- ADC statistics and bit allocation (runtime/adc_stats.c, docs/adc.md) ---- */

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

/* Runs the graph's program (mapped, quantized, every ADC lossless) over
 * `count` images and stores on every xbar op, per block, the statistics the
 * pass adc-alloc clips with: psum_max, psum_p9999, psum_p999, psum_p99. */
bool adc_collect_stats(Graph *g, const float *images, int count, Diags *diags);

/* The energy model of docs/adc.md: one conversion at b bits costs
 * E_8 * 2^(b - 8), E_8 = 1.6 pJ (ISAAC's 8-bit SAR ADC). */
#define ADC_E8_PJ 1.6
double adc_conversion_pj(int bits);

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
} AdcReport;

/* Options of adc_allocate; zero fields take the defaults. */
typedef struct {
    double tolerance;           /* points of top-1 agreement that may be lost (0 = none) */
    int max_images;             /* calibration images used, at most (ADC_DEFAULT_IMAGES) */
    const char *clip;           /* adc-alloc's clip option (ADC_DEFAULT_CLIP) */
    int uniform_bits;           /* the uniform allocation of the report (8) */
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

#endif
