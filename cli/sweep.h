/* sweep.h: what the files of `xbarc sweep` share (docs/sweep.md).
 *
 * A sweep is a definition (SweepSpec: the model or program, the data set, the
 * chip, the compile options and the axes varied) and an executor.  The grid
 * is the cross product of the axes, the first one outermost; every point runs
 * for seeds 1..N and gives one row per seed (cli/results.c's table).
 *   - sweep_spec.c: the definition from options or a sweep file, the points,
 *     the manifest;
 *   - sweep_point.c: one point's rows: compile (cached), program the chip,
 *     evaluate, model the performance;
 *   - sweep_exec.c: the run directory, the local executor (worker processes),
 *     resuming, merging and the status;
 *   - sweep_slurm.c: the same cut into shards of an `sbatch --array` job. */
#ifndef XBARC_SWEEP_H
#define XBARC_SWEEP_H

#include "cli/cli.h"

enum { SWEEP_MAX_AXES = 16, SWEEP_MAX_VALUES = 1000, SWEEP_MAX_SEEDS = 100000 };
#define SWEEP_MAX_POINTS 10000000

/* What an axis varies, which decides what a point must redo: a new compile
 * (arch, compile, model), a new data set, or only another chip. */
typedef enum { AXIS_ARCH, AXIS_COMPILE, AXIS_CHIP, AXIS_TIME, AXIS_MODEL, AXIS_DATASET } AxisKind;

enum { SWEEP_MAX_TIED = 4 };
typedef struct {
    const char *name;           /* the column: an arch or chip field, time, model, dataset, or a compile
                                   option; or fields tied together, "rows+cols" (each takes the value) */
    AxisKind kind;
    int n_parts;                /* the names tied (1 when not) */
    const char *parts[SWEEP_MAX_TIED];
    int fields[SWEEP_MAX_TIED];         /* AXIS_ARCH, AXIS_CHIP: the arch fields */
    const char *options[SWEEP_MAX_TIED];    /* AXIS_COMPILE: the compile options they set (--adc) */
    int n;
    const char **texts;         /* the values as given (list items, or a range's values formatted) */
    double *numbers;            /* their numbers (time: seconds); NaN for names */
    bool numeric;               /* every value a number: written as numbers, plotted on a numeric axis */
} SweepAxis;

/* The definition of a sweep: everything that decides its rows. */
typedef struct {
    int argc, argv_cap;         /* the options that made it (a sweep file expanded), in order: */
    char **argv;                /* shards parse them again, the manifest records them */
    const char *program;        /* an .xbp, or NULL */
    const char *model;          /* an ONNX model or .xir, or NULL */
    CompileArgs compile;        /* the compile options before any axis */
    DatasetOptions data;        /* spec NULL: no data set, the mapping's figures alone */
    Chip chip;                  /* --noise, --chip, --time, --set before any axis */
    int sets_cap;
    char **perf;                /* --perf NAME=VALUE */
    int n_perf, perf_cap;
    PerfParams perf_params;
    int n_axes;
    SweepAxis axes[SWEEP_MAX_AXES];
    int seeds;                  /* 1..seeds */
    bool baseline;              /* the float model's accuracy on the same images (models only) */
    bool timing;                /* the compile_s and run_s columns */
    int64_t n_points;
} SweepSpec;

/* Consumes one definition option at a->i (or the positional model or
 * program); false when it is not one.  Every value is checked by
 * sweep_spec_check. */
bool sweep_spec_option(Args *a, SweepSpec *s, Arena *arena);
/* --file SWEEP.json: its keys as options (docs/sweep.md 2), appended to
 * argv; false with a usage error naming the key. */
bool sweep_file_options(Args *a, const char *path, Arena *arena, char ***argv, int *argc, int *cap);
/* The same from the file's text (the fuzzer's entry). */
bool sweep_file_parse(Args *a, const char *path, const char *text, size_t size, Arena *arena, char ***argv,
                      int *argc, int *cap);
/* Checks the definition and fills the axes' values, n_points; usage errors. */
void sweep_spec_check(Args *a, SweepSpec *s, Arena *arena);
SweepSpec sweep_spec_default(void);
/* Parses a stored definition (the argv of a run directory) into s; the
 * first problem in *why. */
bool sweep_spec_parse(Arena *arena, int argc, char **argv, SweepSpec *s, const char **why);

/* Point p's value index on each axis (values[axis]). */
void sweep_point_values(const SweepSpec *s, int64_t point, int *values);
/* The columns of the results: point, the axes, seed, then the metrics. */
int sweep_columns(const SweepSpec *s, Arena *arena, const char ***columns);
/* The manifest (docs/results.md): version, definition, axes, seeds, metrics,
 * the base architecture and chip; compact JSON text. */
char *sweep_manifest(const SweepSpec *s, Arena *arena);

/* One process's state for evaluating points: caches of the last compiled
 * program, the data sets and the float baselines. */
typedef struct SweepWorker SweepWorker;
SweepWorker *sweep_worker_new(const SweepSpec *s);
void sweep_worker_free(SweepWorker *w);
void sweep_worker_set_threads(SweepWorker *w, int threads);     /* images over threads (same bits) */
/* The row of point p and seed `seed` as cells of the results' columns in
 * `arena`; false with the diagnostics in diags (a note names the point). */
bool sweep_run_row(SweepWorker *w, int64_t point, int seed, Arena *arena, ResultCell *cells, Diags *diags);
/* Unit u of the execution order (0 .. n_points * seeds - 1): the grid with
 * the axes that recompile outermost, then the data set, then the chip; seeds
 * innermost.  Shards and local workers take units in this order. */
void sweep_unit(const SweepSpec *s, int64_t unit, int64_t *point, int *seed);

/* ---- executors (sweep_exec.c, sweep_slurm.c) ---- */

typedef struct {
    const char *run_dir;        /* where rows, logs and the definition go (NULL: a temporary one) */
    int jobs;                   /* local worker processes */
    int threads;                /* images on threads within one evaluation */
    bool progress;
    const char *tag;            /* names this executor's rows file (NULL: "local") */
    /* --slurm */
    bool slurm, wait, resume;
    int shards;                 /* 0: as many as points, at most 64 */
    const char *partition, *time_limit, *mem, *array_limit;
    char **sbatch_args;
    int n_sbatch_args;
} SweepRun;

/* The points of shard k of n: a contiguous range of the grid (compile axes
 * outermost keep a shard's points on few programs). */
void sweep_shard_range(const SweepSpec *s, int shard, int shards, int64_t *first, int64_t *end);

/* Shards when --shards is not given: one per compile when there are two or
 * more (at most 64; each shard then compiles once), else up to 16. */
int sweep_default_shards(const SweepSpec *s);

/* The run directory: its definition file, rows files and what is done. */
bool sweep_dir_create(const char *dir, const SweepSpec *s, Arena *arena, Diags *diags);
bool sweep_dir_load(Arena *arena, const char *dir, SweepSpec *s, Diags *diags);
/* Whether dir's definition has s's manifest (its options, xbarc's version,
 * the architecture file's fields). */
bool sweep_dir_matches(const char *dir, const SweepSpec *s, Arena *arena);
/* Every row the directory's rows files hold, by point and seed; done[p] when
 * point p has all its seeds.  Rows of another definition are an error. */
bool sweep_dir_rows(Arena *arena, const char *dir, const SweepSpec *s, ResultTable *table, bool *done,
                    Diags *diags);

/* Runs points [first, end) not yet done in `dir`, with run->jobs processes,
 * appending their rows to rows files there. */
bool sweep_run_local(const SweepSpec *s, const SweepRun *run, const char *dir, int64_t first, int64_t end,
                     Diags *diags);
/* The whole table of dir in grid order, or an error naming what is missing. */
bool sweep_merge(Arena *arena, const char *dir, const SweepSpec *s, ResultTable *table, Diags *diags);

/* --slurm: writes the batch scripts, submits the array and the merge job
 * (`xbarc sweep --merge DIR` and merge_args: the outputs, absolute); with
 * run->wait, waits for the merge and prints first_output. */
bool sweep_slurm_submit(const SweepSpec *s, const SweepRun *run, const char *dir, char **merge_args,
                        int n_merge_args, const char *first_output, Arena *arena, Diags *diags);
/* A path as the nodes see it: absolute, from this directory. */
const char *sweep_absolute_path(Arena *arena, const char *path);
/* xbarc sweep --status DIR */
int sweep_status(const char *dir, Arena *arena, Diags *diags);

#endif
