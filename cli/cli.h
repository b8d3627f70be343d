/* cli.h: what the xbarc subcommands share (main.c) and the commands themselves.
 *
 * Exit status: 0 success, 1 bad input (a message names the file and what is
 * wrong), 2 bad usage.  Bad usage is what the command line alone shows
 * wrong (an unknown option, a malformed or out-of-range value), found before
 * any file is read; everything found later is bad input, including an option
 * whose cost depends on the model and exceeds the memory limit (--calib-count,
 * --replicate: the message names the option; XBARC_MEMORY_LIMIT, ir.h).  No
 * input makes xbarc abort.  A command's output files go through one Outputs
 * set (ir/ir.h): checked before the work, in place together at the end or not
 * at all, so a failure never leaves a partial file behind. */
#ifndef XBARC_CLI_H
#define XBARC_CLI_H

/* The public header of every layer (study.h includes those of runtime,
 * passes and backend), and no other. */
#include "frontend/frontend.h"
#include "runtime/metrics.h"
#include "study/study.h"

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

typedef struct {
    int argc;
    char **argv;
    int i;                  /* next argument */
    const char *command;
    bool failed;
} Args;

/* Option parsing: each matcher consumes the argument(s) when it matches. */
void usage_error(Args *a, const char *fmt, const char *what);
bool opt_value(Args *a, const char *name, const char **value);   /* --name=V, --name V, -o V */
bool opt_flag(Args *a, const char *name);
/* The one positional argument, or a usage error for an unknown option / a second one. */
void opt_positional(Args *a, const char **slot);
bool parse_count(const char *text, long *out);
bool has_suffix(const char *s, const char *suffix);

/* --input-shape NAME=1x3x32x32, repeatable: the shapes of a model's inputs
 * (frontend.h: an OnnxBinding without a path), for every command that reads
 * a model. */
enum { MAX_INPUT_SHAPES = 64 };
typedef struct {
    int count;
    OnnxBinding shapes[MAX_INPUT_SHAPES];
} InputShapes;
#define INPUT_SHAPE_USAGE                                                                  \
    "  --input-shape NAME=DxDx...\n"                                                        \
    "                      the shape of model input NAME (repeatable): binds its\n"        \
    "                      symbolic dimensions (by default a symbolic batch\n"             \
    "                      dimension is taken as 1, any other is an error)\n"
/* Consumes one --input-shape (checked as usage: the form, sizes from 1 to
 * 2^31 and at most 2^32 elements, a name given twice); true when it matched. */
bool input_shape_option(Args *a, InputShapes *shapes);

/* The data set options of eval, sweep and finetune (frontend.h's
 * DatasetOptions, docs/datasets.md), parsed here alone. */
#define DATASET_USAGE                                                                      \
    "  --dataset SPEC       fashion-mnist, digits, or a path (docs/datasets.md): an\n"      \
    "                       .npz (x, y), X.npy,Y.npy, a CIFAR .bin file or directory,\n"   \
    "                       an IDX directory, an image folder (ImageFolder: PNG/JPEG,\n"  \
    "                       a sub-folder per class) or a folder of .npy/.pb inputs\n"     \
    "                       and labels.txt; the images take the model's input shape\n"   \
    "  --data-dir DIR       where a built-in set's files are (default: usual place)\n"    \
    "  --split train|test   the split, where the format has one\n"                          \
    "  --limit N, --offset K, --shuffle SEED\n"                                               \
    "                       a subset: at most N images from the K-th on, after a\n"        \
    "                       permutation by the seed (the same seed, the same images)\n"    \
    "  --scale S            8-bit samples times S (0.0625 or 1/16; default 1/255)\n"        \
    "  --resize N, --center-crop N\n"                                                         \
    "                       image folders: torchvision's Resize(N) (the shorter side,\n"   \
    "                       PIL's bilinear) and CenterCrop(N)\n"                            \
    "  --mean a,b,c, --std a,b,c\n"                                                           \
    "                       (x - mean) / std per channel, torchvision's Normalize\n"
/* Consumes one data set option into o (values checked as usage); true when it matched. */
bool dataset_option(Args *a, DatasetOptions *o);

/* The options of `xbarc compile` that say how a model is mapped (every
 * compile option but the outputs and reports), shared with `xbarc sweep`,
 * whose grids vary them: compile_option consumes one, compile_args_check
 * checks them all as usage errors and fills c's parsed fields. */
typedef struct {
    CompileOptions c;
    const char *calib_count, *calib_range, *adc_tolerance, *calib_threads;  /* as given, or NULL */
    InputShapes shapes;
} CompileArgs;
CompileArgs compile_args_default(void);
bool compile_option(Args *a, CompileArgs *ca);
void compile_args_check(Args *a, CompileArgs *ca);

/* Writes the IR as the output `path` of `outs` ("-": stdout). */
bool write_ir(const Graph *g, const PrintOptions *options, Outputs *outs, const char *path);
/* Prints the diagnostics, frees the arena, returns the exit status. */
int finish(Arena *arena, Diags *diags, bool ok);

/* The chip a program runs on: --noise PRESET, --chip FILE, --time T,
 * --set FIELD=VALUE..., --seed N, applied in that order to the program's
 * architecture. */
typedef struct {
    const char *preset, *chip_file, *time, *seed_text;
    char **sets;
    int n_sets;
    uint64_t seed;
} Chip;

/* Consumes one chip option; true when it matched. */
bool chip_option(Args *a, Chip *chip);
bool chip_given(const Chip *chip);
/* Sets the non-idealities of arch; the first problem as a message, or NULL. */
const char *chip_apply(const Chip *chip, Arch *arch, Arena *arena);
/* The chip options, checked on the default architecture as usage errors. */
void chip_check(Args *a, Chip *chip);
/* The program at path on that chip (NULL chip: as compiled); NULL on errors. */
struct Program;
struct Program *chip_program(Arena *arena, const char *path, const Chip *chip, Diags *diags);

/* Seconds of the monotonic clock (eval_report.c). */
double now_seconds(void);

/* xbarc eval's progress line and summary (eval_report.c, docs/eval.md). */
typedef enum { METRIC_TOP1, METRIC_TOP5, METRIC_SNR, METRIC_RELERR } EvalMetric;
bool eval_metric_parse(const char *text, EvalMetric *metric);
const char *eval_metric_name(EvalMetric metric);
/* On a terminal (tty) a carriage-return line every 256 images; otherwise a plain
 * line every 5 s (XBARC_PROGRESS_SECONDS), and a last one if any was written.
 * Images/s, the ETA and the accuracy so far; the callback is an EvalProgress. */
typedef struct {
    const char *label;
    bool tty;
    double interval, start, last;
    int lines;
} EvalProgressLine;
void eval_progress_start(EvalProgressLine *p, const char *label, bool tty);
void eval_progress_show(void *context, int done, int count, int correct);
void eval_progress_end(EvalProgressLine *p);
double eval_headline(EvalMetric metric, const ClassMetrics *classes, const OutputError *error);
void eval_print_summary(FILE *out, EvalMetric metric, const ClassMetrics *classes, const OutputError *error,
                        int count);

/* ---- results and plots (cli/results.c, cli/plot.c; docs/results.md) ---- */

/* A sweep's results: columns "point", the axes, "seed", then the metrics.
 * A cell is a string (text != NULL: an axis value such as "balanced") or a
 * number (NaN: null, not measured). */
typedef struct {
    const char *text;
    double number;
} ResultCell;
typedef struct {
    const char *manifest;       /* the manifest object as JSON text (arena), or NULL */
    int n_axes;                 /* columns 1 .. n_axes are the axes (column 0 is "point") */
    int n_columns;
    const char **columns;
    int n_rows;
    ResultCell *cells;          /* [n_rows * n_columns], row-major */
} ResultTable;
/* The reader's bounds (beyond them a file is refused, naming the bound). */
enum { RESULTS_MAX_COLUMNS = 256, RESULTS_MAX_ROWS = 100000000, RESULTS_MAX_AXIS_VALUES = 100000,
       RESULTS_MAX_SEEDS = 100000 };
/* A .jsonl file (the manifest first); every error names the file, line and key. */
bool results_read(Arena *arena, const char *path, ResultTable *table, Diags *diags);
/* The same from memory (path: for the messages), as the fuzzer calls it. */
bool results_parse(Arena *arena, const char *path, const char *text, size_t length, ResultTable *table,
                   Diags *diags);
/* Rows alone (a shard's rows file, no manifest line), checked against the
 * manifest's JSON text; with cut non-NULL a last line without its newline (a
 * writer stopped mid-line) is left out and *cut set, else it is an error. */
bool results_parse_rows(Arena *arena, const char *path, const char *text, size_t length, const char *manifest,
                        ResultTable *table, bool *cut, Diags *diags);
void results_write_jsonl(FILE *f, const ResultTable *table);
/* The rows alone, one JSON object a line (appending to a .jsonl file). */
void results_write_rows(FILE *f, const ResultTable *table);
void results_write_csv(FILE *f, const ResultTable *table);
/* The shortest of %.15g, %.16g, %.17g that reads back to x ("null" for NaN, inf). */
void results_format_number(char *buf, size_t size, double x);
int results_column(const ResultTable *table, const char *name);   /* its index, or -1 */

/* What to draw (cli/plot.c): y against x, a line with a min-max band over
 * seeds per value of `series`, or (pareto) a scatter of every grid point with
 * its Pareto front (lower x, higher y).  NULL names take the defaults. */
typedef enum { PLOT_PNG, PLOT_PDF, PLOT_SVG } PlotFormat;
typedef struct {
    const char *x, *y, *series;
    const char **where;         /* "AXIS=VALUE": fixes an axis */
    int n_where;
    bool log_x, log_y, pareto;
    const char *title;          /* NULL or "": none */
    PlotFormat format;          /* when path has no .png, .pdf or .svg extension */
    int width, height;          /* pixels (PNG) or points (PDF, SVG), 100 to 10000; 0: 640 x 480 */
} PlotSpec;
/* What was drawn: the fitted title, and the front (pareto: its points, by x). */
typedef struct {
    double title_size;          /* points (0: no title) */
    int title_lines;
    const char *x_label, *y_label;   /* the axes' labels as drawn (before any cut) */
    int n_series, n_points, n_seeds;
    int n_front;
    int *front_rows;            /* [n_front]: a row of each front point (its axes) */
    double *front_x, *front_y;  /* [n_front]: the means over seeds */
} PlotInfo;
/* The format named by path's extension (.png, .pdf, .svg); false if none. */
bool plot_format_of(const char *path, PlotFormat *format);
/* Draws the plot into the output `path` of outs (info: may be NULL); errors
 * (an unknown column, an axis neither plotted nor fixed, a log axis with a
 * value <= 0, ...) name the column.  The caller commits outs. */
bool plot_write(const ResultTable *t, const PlotSpec *spec, Outputs *outs, const char *path, PlotInfo *info,
                Arena *arena, Diags *diags);

/* The plot options of `xbarc plot` and `xbarc sweep --plot` (cmd_plot.c):
 * --x, --y, --series, --where, --log-x, --log-y, --pareto, --print-front,
 * --title, --size, --format; checked (as usage) against the output's name. */
typedef struct {
    PlotSpec spec;
    const char *size_text, *format_text;
    bool print_front;
    int where_cap;
} PlotArgs;
bool plot_option(Args *a, PlotArgs *p, Arena *arena);
void plot_args_check(Args *a, PlotArgs *p, const char *out);
/* What was drawn (and the front with --print-front), for the command's output. */
void plot_print_summary(FILE *text, const char *out, const ResultTable *t, const PlotArgs *p, const PlotInfo *info);

/* Subcommands (cmd_*.c): each parses its own options from a->i on. */
int cmd_import(Args *a);
int cmd_opt(Args *a);
int cmd_interp(Args *a);
int cmd_run(Args *a);
int cmd_eval(Args *a);
int cmd_arch(Args *a);
int cmd_compile(Args *a);
int cmd_explain(Args *a);
int cmd_finetune(Args *a);
int cmd_train(Args *a);
int cmd_sweep(Args *a);
int cmd_plot(Args *a);
int cmd_device(Args *a);
extern const char import_usage[], opt_usage[], interp_usage[], run_usage[], eval_usage[], arch_usage[],
    compile_usage[], explain_usage[], finetune_usage[], train_usage[], sweep_usage[],
    plot_usage[], device_usage[];
void print_pass_list(FILE *out);

#endif
