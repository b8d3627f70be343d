/* backend.h: from a mapped graph to a crossbar program.
 *
 * The input is a graph whose crossbar layers (`xbar` ops) carry every mapping
 * decision as attributes (docs/crossbar.md); the emitter only translates: it
 * programs the tiles' cells and writes the instruction stream. */
#ifndef XBARC_BACKEND_H
#define XBARC_BACKEND_H

#include "ir/ir.h"
#include "runtime/program.h"

#include <stdio.h>

typedef struct PerfReport PerfReport;   /* the performance model, below */

/* Builds the program in `arena`.  Every xbar op must have been through the
 * mapping pipeline (sign-map, bit-slice, split, place, adc-lossless; quantize
 * unless it is a float-weight program); otherwise an error names the op and the
 * missing attribute. */
Program *emit_program(Arena *arena, const Graph *g, Diags *diags);
/* Reprograms every block (every replica) of crossbar layer `layer` of a
 * quantized program with new quantized weights w_q [groups, k, n] (integer
 * valued, within +-(2^(weight_bits-1) - 1)): the cells get the levels
 * emit_program gives a graph with these weights, where the layer's mvm and
 * combine instructions say its blocks are.  Instructions and other cells stay
 * as they are (hybrid fine-tuning, study/finetune.c). */
bool emit_reprogram_layer(Program *p, const char *layer, const float *w_q, int64_t groups, int64_t k, int64_t n,
                          Diags *diags);


/* What made a mapping, for the reports: the compiler's version and every
 * option of `xbarc compile` with its value, defaults filled in (given: on the
 * command line), and what the ADC policy measured when it had to clip. */
enum { REPORT_MAX_OPTIONS = 32 };
typedef struct {
    const char *name, *value;
    bool given;
} ReportOption;
typedef struct {
    const char *version;
    int n_options;
    ReportOption options[REPORT_MAX_OPTIONS];
    int adc_clipped_layers;     /* layers whose blocks need more than adc_bits to be exact */
    int adc_images;             /* calibration images their ranges and the cost came from (0: none) */
    double adc_agreement;       /* top-1 agreement with lossless ADCs on them, percent; -1: not measured */
    const struct TrainMap *training;    /* what in-memory training adds (--train-mapping, --train-algorithm;
                                           train_map below), or NULL */
} ReportContext;
void report_option(ReportContext *context, const char *name, const char *value, bool given);
const ReportOption *report_option_find(const ReportContext *context, const char *name);

/* The mapping report of a placed graph (backend/report.c): a per-layer table
 * (matrix, slices, blocks, tiles, replication, cell utilization, ADC bits, reads
 * per image, share of pipeline time) and totals (tiles against the lower bound,
 * utilization, the packing chosen, the pipeline's period and bottleneck from
 * the stage-time model of passes/timing.c; the performance model of the
 * emitted program, `perf`, when not NULL, with its energy and area, checked
 * against the mapping's period).  `context` may be NULL. */
bool report_print(const Graph *g, const PerfReport *perf, const ReportContext *context, FILE *out, Diags *diags);
/* The same as JSON, with the architecture and the context (version, options),
 * as the output `path` of `outs` (ir/ir.h). */
bool report_write_json(const Graph *g, const PerfReport *perf, const ReportContext *context, Outputs *outs,
                       const char *path, Diags *diags);
/* The short summary's account of the mapping chosen: the packing (and that it
 * was the default), tiles against the lower bound, the pipeline's throughput
 * and its bottleneck. */
bool report_print_choices(const Graph *g, const ReportContext *context, FILE *out, Diags *diags);
/* An SVG picture of the tiles, every block a rectangle coloured by layer. */
bool report_write_tile_map(const Graph *g, Outputs *outs, const char *path, Diags *diags);
/* The short summary `xbarc compile` prints: one line per crossbar layer, then
 * tiles, instructions and the cells the blocks cover. */
void report_summary(const Graph *g, const Program *p, FILE *out);

/* ---- the performance model (backend/perf.c, docs/perf.md) ----
 *
 * Time, energy and area per image, per layer and in total.  It only reads
 * the program (shapes, placement, ADC bits) and, when given, the simulator's
 * per-instruction counters.  Every component figure lives in one PerfParams
 * table whose defaults are ISAAC-like (each field's source is in perf.c's
 * field table and in docs/perf.md); perf_param_set() overrides a figure by
 * name, which is where an architecture file's `perf` object or a
 * command-line option plugs in. */
/* How an ADC conversion is charged (docs/perf.md 2). */
typedef enum {
    PERF_ADC_ISAAC,     /* E = E_8 * 2^(b-8), one conversion per 1/rate */
    PERF_ADC_MNSIM,     /* E = P_adc * (b+2) / rate, (b+2) clock periods per conversion */
} PerfAdcModel;

typedef struct {
    /* crossbar, drivers, sample-and-hold */
    double read_ns;             /* crossbar settle time of one read step (one DAC cycle) */
    double cell_pj;             /* one cell of an active row and column, one read */
    double dac_pj;              /* one row driven for one cycle (1-bit DAC conversion) */
    double sh_pj;               /* one column sampled and held, one read */
    /* ADC */
    PerfAdcModel adc_model;
    double adc_e8_pj;           /* PERF_ADC_ISAAC: energy of an 8-bit conversion */
    double adc_rate_gsps;       /* conversions (ISAAC) or clock periods (MNSIM) per ns */
    double adc_power_mw;        /* PERF_ADC_MNSIM: ADC power while converting */
    double shift_add_pj;        /* one ADC result shifted and added */
    /* digital units and buffers */
    double digital_pj;          /* one digital op (an add, a compare, a MAC-equivalent) */
    double digital_gops;        /* digital ops per ns of one layer's digital units */
    double buffer_pj_per_byte;  /* eDRAM buffer and bus traffic */
    double value_bytes;         /* bytes of a value between layers (codes take ceil(bits/8)) */
    /* area, mm^2 */
    double xbar_mm2;            /* one 128 x 128 array (scaled by cells) */
    double adc_mm2;             /* one 8-bit ADC (scaled by 2^(b-8)) */
    double dac_mm2;             /* one row's DAC */
    double sh_mm2;              /* one column's sample-and-hold */
    double shift_add_mm2;       /* shift-and-add per ADC */
    double regs_mm2;            /* input and output registers of one tile */
    double digital_mm2;         /* one digital cluster: eDRAM, bus, activation and pooling units */
    double tiles_per_digital;   /* tiles one digital cluster serves */
    /* digital memory of in-memory training (backend/train_map.c) */
    double edram_mm2_per_kb;    /* on-chip eDRAM, area per KB */
    double edram_pj_per_byte;   /* on-chip eDRAM, a byte read or written */
    double train_buffer_bytes;  /* bytes of one weight's entry in a training buffer (accumulator, H) */
} PerfParams;

PerfParams perf_params_default(void);
/* The table of figures, by index: name ("cell_pj"), unit, source. */
int perf_param_count(void);
const char *perf_param_name(int i);
const char *perf_param_unit(int i);
const char *perf_param_source(int i);
double perf_param_value(const PerfParams *params, int i);   /* adc_model: 0 isaac, 1 mnsim */
/* Sets the figure `name` from text ("2.5", or "isaac"/"mnsim" for adc_model);
 * returns NULL, or what is wrong. */
const char *perf_param_set(PerfParams *params, const char *name, const char *text);
/* One NAME=VALUE override, as `--perf` takes it. */
const char *perf_param_assign(PerfParams *params, const char *assignment);

/* One conversion at b bits: energy (pJ) and time (ns) by the chosen formula. */
double perf_adc_pj(const PerfParams *params, int bits);
/* The default energy of one conversion at b bits (docs/adc.md): E_8 * 2^(b - 8),
 * E_8 = 1.6 pJ (ISAAC's 8-bit SAR ADC): perf_adc_pj of the default parameters. */
#define ADC_E8_PJ 1.6
double adc_conversion_pj(int bits);
double perf_adc_ns(const PerfParams *params, int bits);
/* The area of one tile of `arch` whose ADCs have `adc_bits` bits
 * (docs/perf.md 5): the array, its row DACs, column sample-and-holds,
 * registers, ADCs and their shift-and-add units. */
double perf_tile_mm2(const PerfParams *params, const Arch *arch, int adc_bits);

/* One layer (the instructions sharing a `layer` name), per image. */
typedef struct {
    const char *name;
    int blocks, replicas;       /* mvm instructions; distinct row ranges among them */
    double reads, conversions, saturated;
    double macs;                /* weight MACs of its crossbar blocks */
    double digital_macs;        /* MACs of a product left digital (ir_op_macs), charged 2 ops each */
    double digital_ops, buffer_bytes;
    double xbar_ns;             /* the slowest block's period, turns on shared tiles included */
    double digital_ns;
    double stage_ns;            /* max(xbar_ns, digital_ns): the units overlap across vectors */
    double xbar_pj, dac_pj, adc_pj, shift_add_pj, digital_pj, buffer_pj, energy_pj;
} PerfLayer;

/* What was run, for --stats-json (so that one file describes one run). */
typedef struct {
    const char *command;        /* "run" or "eval" */
    const char *program;        /* the program file */
    const char *dataset;        /* eval: the data set (NULL for run) */
    int images;                 /* eval: images evaluated */
    double accuracy;            /* eval: top-1 accuracy (-1 for run) */
    uint64_t seed;              /* the chip's seed */
    const char *noise, *time;   /* --noise and --time as given (NULL: ideal, none) */
    int n_sets;
    char *const *sets;          /* --set FIELD=VALUE, as given */
} PerfRun;

typedef struct PerfReport PerfReport;
struct PerfReport {
    const PerfRun *run;         /* set by the caller for the JSON, or NULL */
    const Program *program;     /* the program modelled */
    PerfParams params;
    double images;              /* images the counters covered (runs x images per run) */
    bool counted;               /* counters from the simulator (else from shapes; saturated 0) */
    int n_layers;
    PerfLayer *layers;          /* in program order */
    PerfLayer total;            /* sums; its stage_ns is the latency */
    int tiles;
    int bottleneck;             /* index of the slowest stage, -1 when there is none */
    double period_ns;           /* the slowest stage */
    double latency_ns;          /* one image through every stage, no overlap: sum of xbar + digital */
    double images_per_s;
    double ops;                 /* 2 x MACs per image, crossbar and digital */
    double tops_per_w, tops;    /* ops per pJ; ops per second at the pipeline's rate / 1e12 */
    double area_tile_mm2, area_tiles_mm2, area_digital_mm2, area_mm2;
    double utilization;         /* cells the blocks cover / cells of the tiles (the mapping report's) */
    int adc_bits_max;           /* the most ADC bits of a block (0: float-weight program) */
};

/* Images one run of the program processes: the first input's leading
 * dimension when it has rank >= 2, else 1. */
int64_t perf_images_per_run(const Program *program);

/* Models `program`.  by_instr: per-instruction counters summed over `runs`
 * runs of the simulator (sim_instr_counters), or NULL to derive reads and
 * conversions from the instruction shapes alone. */
void perf_model(Arena *arena, const Program *program, const PerfParams *params, const SimCounters *by_instr,
                double runs, PerfReport *report);

/* The per-layer table and the totals, as `xbarc run --stats` prints them. */
void perf_print(const PerfReport *report, FILE *out);
/* The same as JSON (docs/perf.md 5), an arena string, or as the output
 * `path` of `outs` (ir/ir.h). */
char *perf_to_json(Arena *arena, const PerfReport *report);
bool perf_write_json(const PerfReport *report, Outputs *outs, const char *path, Diags *diags);

/* ---- what in-memory training adds (backend/train_map.c, docs/train-mapping.md) ----
 *
 * `xbarc compile --train-mapping device|pair|split` maps the weights for
 * in-memory training by setting architecture fields (no new mapping): one
 * slice, and so no bit slicing, of cell_bits = weight_bits for one bipolar
 * device per weight (the offset sign mapping, a reference column per block),
 * of cell_bits = weight_bits - 1 for a differential pair (pair-analog), or
 * two slices of cell_bits = ceil((weight_bits - 1) / 2) for the significance
 * split (slice 0 the fast low-significance pair, slice 1 the slow high one).
 * The program records no more than its slices and sign; train_mapping_of
 * infers the training mapping back from them. */
typedef enum {
    TRAIN_MAP_NONE,     /* an inference mapping: more slices than a training mapping has */
    TRAIN_MAP_DEVICE,   /* one bipolar device per weight: offset, one slice */
    TRAIN_MAP_PAIR,     /* a differential pair per weight: pair-analog or pair-digital, one slice */
    TRAIN_MAP_SPLIT,    /* a significance split: a pair, two slices */
} TrainMapping;

typedef enum {
    TRAIN_SGD,          /* in-memory SGD: pulse updates on the weights (Gokmen and Vlasov 2016) */
    TRAIN_MIXED,        /* mixed precision: a digital accumulator, pulses past the device's step
                           (Nandakumar et al. 2020) */
    TRAIN_TTV2,         /* Tiki-Taka v2: a fast array A, a digital transfer buffer H, the weights C
                           (Gokmen and Haensch 2020, Gokmen 2021) */
} TrainAlgorithm;

bool train_mapping_from_name(const char *name, TrainMapping *mapping);
const char *train_mapping_name(TrainMapping mapping);
bool train_algorithm_from_name(const char *name, TrainAlgorithm *algorithm);
const char *train_algorithm_name(TrainAlgorithm algorithm);
/* Sets arch's sign and cell_bits for the mapping (TRAIN_MAP_NONE: nothing);
 * NULL, or why the architecture cannot hold it (a cell of more than 8 bits,
 * or a split of fewer than 2 magnitude bits), in `arena`. */
const char *train_mapping_arch(TrainMapping mapping, Arch *arch, Arena *arena);
/* The training mapping of crossbar layer `layer` of program p, from its
 * blocks' slices and sign (its combine instructions); TRAIN_MAP_NONE for an
 * inference (bit-sliced) layer, a float-weight one or an unknown name. */
TrainMapping train_mapping_of(const Program *p, const char *layer);

/* What training needs to know besides the program.  bl and pulse_ns are the
 * update's: BL pulse slots of one stochastic update (Gokmen and Vlasov
 * 2016), each as long as one pulse of the device (DeviceModel.pulse_ns). */
#define TRAIN_MAP_DEFAULT_BL 10     /* Gokmen and Vlasov 2016's bit length */
typedef struct {
    TrainAlgorithm algorithm;
    int n_layers;               /* 0: the trailing fully connected layers (after the last convolution) */
    const char *const *layers;  /* the trained crossbar layers, by name */
    int bl;                     /* pulse slots of one update, at least 1 */
    double pulse_ns;            /* one pulse slot, above 0 */
} TrainMapRequest;

/* One trained layer.  Cells, tiles and areas count every copy (replica) of
 * its blocks; times are per training sample (one image). */
typedef struct {
    const char *name;
    TrainMapping mapping;       /* train_mapping_of */
    int64_t k, n;               /* its matrix: rows (inputs) x weight columns, over its groups */
    int blocks;                 /* its blocks (distinct tile positions of its mvms) */
    int tiles;                  /* tiles holding them */
    int fast_tiles;             /* TTv2: tiles of A, one for each of its tiles (same geometry); else 0 */
    int64_t cells;              /* cells of its blocks */
    int64_t fast_cells;         /* cells of fast devices: TTv2 A's (= cells); split: slice 0's; else 0 */
    double buffer_bytes;        /* mixed: the accumulator, TTv2: H; K x N x train_buffer_bytes; else 0 */
    double forward_ns;          /* its crossbar and digital time in the forward pass (perf_model) */
    double backward_ns;         /* the transposed read of its blocks (0 for the first trained layer:
                                   no error goes further back) */
    double update_ns;           /* the update: BL pulse slots per block (blocks sharing a row or a
                                   column of a tile take turns), mixed: + the digital outer product,
                                   TTv2: + one transfer (a read of A, H, one pulse slot on C) */
} TrainMapLayer;

typedef struct TrainMap {
    TrainAlgorithm algorithm;
    int bl;
    double pulse_ns;
    int n_layers;
    TrainMapLayer *layers;      /* in program order */
    int tiles;                  /* the program's */
    int trained_tiles;          /* distinct tiles holding trained blocks */
    int extra_tiles;            /* tiles training adds: TTv2's A, one per trained tile; else 0 */
    int64_t fast_cells;
    double buffer_bytes;
    /* area added, mm^2: the transposed-read periphery of the trained tiles
     * (a DAC per column, a sample-and-hold per row, ceil(rows / cols_per_adc)
     * ADCs of adc_bits with their shift-and-adds), the update drivers (one
     * pulse driver per row and per column, charged as a 1-bit DAC, on trained
     * and A tiles), the extra tiles themselves (perf_tile_mm2) with the
     * digital clusters they add, and the buffers (edram_mm2_per_kb) */
    double periphery_mm2, drivers_mm2, extra_tiles_mm2, buffer_mm2, added_mm2;
    double area_mm2;            /* the program's (perf_model) */
    double forward_ns;          /* one image through the whole program (perf_model's latency) */
    double step_ns;             /* one training step: forward, then the backward reads from the last
                                   trained layer to the second, each layer's update after its
                                   backward read (updates of different layers overlap) */
    double period_ns;           /* the busiest layer's time per sample (forward stage + backward +
                                   update of its arrays): the step period when samples pipeline */
} TrainMap;

/* What training `request->layers` of program p (quantized, not float-weight)
 * with `request->algorithm` adds, with the figures of `params`; false after
 * an error naming the layer or the request field. */
bool train_map(Arena *arena, const Program *p, const PerfParams *params, const TrainMapRequest *request,
               TrainMap *out, Diags *diags);
/* The report's "training" section (xbarc compile --report). */
void train_map_print(const TrainMap *map, FILE *out);

/* ---- costs of in-memory training (backend/perf_train.c, docs/train.md 6, docs/perf.md 9) ----
 *
 * What `xbarc train` (study/train.c) counts, priced with PerfParams and the
 * device's pulse_pj and pulse_ns.  Index 0: forward reads (rows driven,
 * columns converted), 1: transposed reads of the backward pass (columns
 * driven, rows converted); the reads of Tiki-Taka's transfers count as
 * forward reads. */
enum { TRAIN_MAX_ADC_BITS = 16 };
typedef struct {
    uint64_t steps;             /* training images (one forward, backward and update each) */
    uint64_t reads[2];          /* block reads */
    uint64_t read_steps[2];     /* serial read steps: a layer's blocks read in parallel, one settle time */
    uint64_t cells[2];          /* cells read (every cell of a read block) */
    uint64_t drives[2];         /* DAC conversions: lines driven */
    uint64_t conversions[2][TRAIN_MAX_ADC_BITS + 1];   /* ADC conversions, by bits */
    uint64_t read_turns[2][TRAIN_MAX_ADC_BITS + 1];    /* serial conversions: cols_per_adc per read
                                   step on each block's shared ADCs, by bits */
    uint64_t pulses;            /* write pulses on devices */
    uint64_t update_slots;      /* pulse slots of the update phases, one after another */
    uint64_t digital_ops;       /* bit streams, outer products, accumulators, transfers, bias, softmax */
    uint64_t buffer_bytes;      /* activations, errors and digital accumulators moved */
} TrainCounters;

typedef struct {
    double read_pj[2], adc_pj[2], pulse_pj, digital_pj, buffer_pj;
    double energy_pj;           /* the sum */
    double read_ns[2], update_ns, digital_ns;
    double time_ns;             /* the sum: phases one after another, no overlap */
    double pj_per_step, ns_per_step;
    /* what training adds to the chip (train_map above: TrainMap.extra_tiles
       and added_mm2), set by the engine; 0 for the float rule */
    int extra_tiles;
    double extra_area_mm2;
} TrainCost;

/* The cost of what c counts.  pulse_pj and pulse_ns are the device's
 * (DeviceModel, runtime/device.h), cols_per_adc the architecture's. */
void perf_train_cost(const PerfParams *params, double pulse_pj, double pulse_ns, const TrainCounters *c,
                     TrainCost *cost);
/* Training epochs until the most written device reaches `endurance` write
 * cycles, at max_writes per epoch (infinity for none). */
double perf_train_epochs_to_wear(double endurance, double max_writes_per_epoch);

#endif
