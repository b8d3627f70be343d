/* sweep_point.c: one row of a sweep: point p of the grid on the chip of one
 * seed (docs/sweep.md 3).
 *
 * The program comes from the compile the point's model, architecture and
 * compile axes ask for; a worker keeps the last one, and executors hand it
 * points in an order that keeps compiles together (sweep_exec.c).  The chip
 * is the program's architecture with the sweep's --noise, --chip, --time and
 * --set, then the point's chip axes.  With a data set, the test split is
 * evaluated as `xbarc eval` does (image i's reads keyed by (seed, i)), with
 * the simulator's counters for the performance model; without, the model is
 * priced from the instruction shapes alone.  Nothing here depends on the
 * executor, the worker or what it ran before: a row is a function of the
 * definition, the point and the seed. */
#include "cli/sweep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *spec;
    int64_t input_numel;
    int outputs;
    Dataset data;
} CachedData;

typedef struct {
    const char *model, *dataset;
    double accuracy;
} Baseline;

struct SweepWorker {
    const SweepSpec *s;
    Arena *arena;               /* data sets, baselines: the worker's life */
    Arena *program_arena;       /* the cached program's */
    const char *program_key;
    Program *program;
    double compile_s;
    CachedData *data;
    int n_data, data_cap;
    Baseline *baselines;
    int n_baselines, baselines_cap;
    int threads;
};

SweepWorker *sweep_worker_new(const SweepSpec *s)
{
    SweepWorker *w = calloc(1, sizeof *w);
    w->s = s;
    w->arena = arena_new();
    w->threads = 1;
    return w;
}

void sweep_worker_set_threads(SweepWorker *w, int threads)
{
    w->threads = threads;
}

void sweep_worker_free(SweepWorker *w)
{
    if (!w)
        return;
    arena_free(w->program_arena);
    arena_free(w->arena);
    free(w);
}

/* The value of the axis of `kind` at this point, or `fallback`. */
static const char *axis_text(const SweepSpec *s, const int *values, AxisKind kind, const char *fallback)
{
    for (int i = 0; i < s->n_axes; i++)
        if (s->axes[i].kind == kind)
            return s->axes[i].texts[values[i]];
    return fallback;
}

/* "rows=64, read_sigma=0.02": where an error happened. */
static const char *point_text(const SweepSpec *s, const int *values, Arena *arena)
{
    const char *text = "";
    for (int i = 0; i < s->n_axes; i++)
        text = arena_printf(arena, "%s%s%s=%s", text, i ? ", " : "", s->axes[i].name, s->axes[i].texts[values[i]]);
    return s->n_axes ? text : "the only point";
}

/* The program of the point: read, or compiled with its model, architecture
 * fields and compile options (the last one kept). */
static Program *point_program(SweepWorker *w, const int *values, Diags *diags)
{
    const SweepSpec *s = w->s;
    const char *model = axis_text(s, values, AXIS_MODEL, s->program ? s->program : s->model);
    const char *key = model;
    for (int i = 0; i < s->n_axes; i++)
        if (s->axes[i].kind == AXIS_ARCH || s->axes[i].kind == AXIS_COMPILE)
            key = arena_printf(diags->arena, "%s\n%s=%s", key, s->axes[i].name, s->axes[i].texts[values[i]]);
    if (w->program && strcmp(key, w->program_key) == 0)
        return w->program;
    arena_free(w->program_arena);
    w->program = NULL;
    w->program_arena = arena_new();
    Arena *arena = w->program_arena;
    w->program_key = arena_strdup(arena, key);
    double start = now_seconds();
    if (has_suffix(model, ".xbp")) {
        w->program = program_read(arena, model, diags);
    } else {
        CompileArgs ca = s->compile;
        const char **arch_sets = arena_array(arena, (size_t)s->n_axes * SWEEP_MAX_TIED + 1, sizeof(char *));
        int n_arch_sets = 0;
        for (int i = 0; i < s->n_axes; i++) {
            const SweepAxis *x = &s->axes[i];
            for (int k = 0; k < x->n_parts; k++) {
                if (x->kind == AXIS_ARCH)
                    arch_sets[n_arch_sets++] = arena_printf(arena, "%s=%s", x->parts[k], x->texts[values[i]]);
                if (x->kind != AXIS_COMPILE)
                    continue;
                char *argv[] = {(char *)x->options[k], (char *)x->texts[values[i]], NULL};
                Args sub = {.argc = 2, .argv = argv, .command = "sweep"};
                compile_option(&sub, &ca);      /* checked by sweep_spec_check */
            }
        }
        Args none = {.command = "sweep"};
        compile_args_check(&none, &ca);
        ca.c.model = model;
        ca.c.arch_sets = arch_sets;
        ca.c.n_arch_sets = n_arch_sets;
        AdcReport adc_report = {0};
        AdcFitReport fit = {0};
        Graph *g = none.failed ? NULL : compile_model(arena, &ca.c, &adc_report, &fit, diags);
        w->program = g ? emit_program(arena, g, diags) : NULL;
    }
    w->compile_s = now_seconds() - start;
    return w->program;
}

/* The data set of the point, read once per worker for the program's input. */
static const Dataset *point_data(SweepWorker *w, const char *spec, const Program *p, Diags *diags)
{
    const Type *input = p->n_inputs == 1 ? &p->buffers[p->inputs[0]].type : NULL;
    int outputs = p->n_outputs >= 1 ? (int)type_numel(&p->buffers[p->outputs[0]].type) : 0;
    int64_t numel = input ? type_numel(input) : 0;
    for (int i = 0; i < w->n_data; i++)
        if (strcmp(w->data[i].spec, spec) == 0 && w->data[i].input_numel == numel && w->data[i].outputs == outputs)
            return &w->data[i].data;
    DatasetOptions o = w->s->data;
    o.spec = spec;
    Dataset data;
    if (!dataset_open(w->arena, &o, "test", false, input, outputs, &data, diags))
        return NULL;
    Loc loc = {.file = w->program_key};
    if (p->n_inputs != 1 || numel != type_numel(&data.image_type)) {
        diag_error(diags, &loc, "the program's input must hold one %s image of %s (it has %d input%s)", spec,
                   type_format(diags->arena, &data.image_type), p->n_inputs, p->n_inputs == 1 ? "" : "s");
        return NULL;
    }
    ARENA_GROW(w->arena, w->data, w->n_data, w->data_cap);
    w->data[w->n_data] = (CachedData){arena_strdup(w->arena, spec), numel, outputs, data};
    return &w->data[w->n_data++].data;
}

/* Top-1 accuracy of the float model on the same images (-1 when it cannot run). */
static bool baseline(SweepWorker *w, const char *model, const char *spec, const EvalSet *set, double *accuracy,
                     Diags *diags)
{
    for (int i = 0; i < w->n_baselines; i++)
        if (strcmp(w->baselines[i].model, model) == 0 && strcmp(w->baselines[i].dataset, spec) == 0) {
            *accuracy = w->baselines[i].accuracy;
            return true;
        }
    Arena *scratch = arena_new();
    const CompileOptions *c = &w->s->compile.c;
    Graph *g = load_model(scratch, model, c->input_shapes, c->n_input_shapes, has_suffix(model, ".xir") ? "" : default_pipeline,
                          &c->pass_options, diags);
    EvalOptions o = {.threads = w->threads};
    EvalResult r;
    bool ok = g && interp_fits(g, w->threads, diags) && evaluate_graph(scratch, g, set, &o, &r, diags);
    arena_free(scratch);
    if (!ok)
        return false;
    ARENA_GROW(w->arena, w->baselines, w->n_baselines, w->baselines_cap);
    w->baselines[w->n_baselines++] = (Baseline){arena_strdup(w->arena, model), arena_strdup(w->arena, spec), r.accuracy};
    *accuracy = r.accuracy;
    return true;
}

static void set_number(ResultCell *cell, double x)
{
    *cell = (ResultCell){.number = isfinite(x) ? x : NAN};
}

bool sweep_run_row(SweepWorker *w, int64_t point, int seed, Arena *arena, ResultCell *cells, Diags *diags)
{
    const SweepSpec *s = w->s;
    int values[SWEEP_MAX_AXES];
    sweep_point_values(s, point, values);
    int errors = diags->n_errors;
    Program *program = point_program(w, values, diags);
    Program chip;
    const Dataset *data = NULL;
    const char *spec = axis_text(s, values, AXIS_DATASET, s->data.spec);
    Loc loc = {.file = w->program_key};
    if (program) {
        chip = *program;            /* shares everything but the arch */
        const char *why = chip_apply(&s->chip, &chip.arch, arena);
        for (int i = 0; i < s->n_axes && !why; i++) {
            const SweepAxis *x = &s->axes[i];
            for (int k = 0; k < x->n_parts && !why && x->kind == AXIS_CHIP; k++)
                why = noise_set(&chip.arch, arena_printf(arena, "%s=%s", x->parts[k], x->texts[values[i]]));
            if (x->kind == AXIS_TIME)
                chip.arch.drift_time_s = x->numbers[values[i]];
        }
        if (why)
            diag_error(diags, &loc, "%s", why);
        else
            arch_validate_at(&chip.arch, &loc, diags);
        if (diags->n_errors == errors && spec)
            data = point_data(w, spec, program, diags);
    }
    if (diags->n_errors != errors) {
        diag_note(diags, NULL, "at point %lld of the grid (%s), seed %d", (long long)point,
                  point_text(s, values, arena), seed);
        return false;
    }

    /* the columns: point, axes, seed, metrics (sweep_spec.c's order) */
    int c = 0;
    set_number(&cells[c++], (double)point);
    for (int i = 0; i < s->n_axes; i++) {
        const SweepAxis *x = &s->axes[i];
        cells[c++] = x->numeric ? (ResultCell){.number = x->numbers[values[i]]}
                                : (ResultCell){.text = x->texts[values[i]]};
    }
    set_number(&cells[c++], seed);
    double accuracy = NAN, top5 = NAN, float_accuracy = NAN, images = NAN, run_s = 0;
    PerfReport perf;
    double start = now_seconds();
    if (data) {
        EvalSet set = {.images = data->images, .image_numel = type_numel(&data->image_type),
                       .labels = data->labels, .count = data->count};
        EvalOptions o = {.seed = (uint64_t)seed, .threads = w->threads, .counters = true};
        EvalResult r;
        if (!evaluate_program(arena, &chip, &set, &o, &r, diags))
            return false;
        int correct5 = 0;
        for (int k = 0; k < r.count; k++)
            correct5 += r.ranks && r.ranks[k] < 5;
        accuracy = r.accuracy;
        top5 = r.count ? (double)correct5 / r.count : NAN;
        images = r.count;
        perf_model(arena, &chip, &s->perf_params, r.count ? r.instr_counters : NULL, r.count, &perf);
        run_s = now_seconds() - start;
        if (s->baseline && !s->program &&
            !baseline(w, axis_text(s, values, AXIS_MODEL, s->model), spec, &set, &float_accuracy, diags))
            return false;
    } else {
        perf_model(arena, &chip, &s->perf_params, NULL, 1, &perf);
        run_s = now_seconds() - start;
    }
    const double metrics[] = {accuracy, top5, float_accuracy, perf.total.energy_pj, perf.latency_ns,
                              perf.images_per_s, perf.tops_per_w, perf.area_mm2, perf.tiles, perf.utilization,
                              perf.adc_bits_max, images, w->compile_s, run_s};
    int n_metrics = (int)(sizeof metrics / sizeof metrics[0]) - (s->timing ? 0 : 2);
    for (int i = 0; i < n_metrics; i++)
        set_number(&cells[c++], metrics[i]);
    return true;
}
