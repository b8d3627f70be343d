/* cmd_run.c: `xbarc interp`, `xbarc run` and `xbarc eval`: executing a model.
 *
 * A Runner hides what executes: the float32 reference interpreter over a graph
 * (an .onnx or .xir file) or the crossbar simulator over a program (.xbp).  The
 * three commands share it, so binding input files, writing outputs and the
 * accuracy loop are written once.  A program runs on an ideal chip unless
 * --noise, --set or --time give it non-idealities (docs/noise.md), drawn from
 * --seed. */
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int n_inputs, n_outputs;
    const char **input_names, **output_names;
    Type *input_types, *output_types;
    Interp *interp;         /* one of these two */
    Sim *sim;
    const Program *program; /* with sim */
    const Graph *graph;     /* with interp */
    uint64_t seed;          /* the chip's (programs) */
} Runner;

static bool runner_open(Runner *r, Arena *arena, const char *path, const char *pipeline, const InputShapes *shapes,
                        const Chip *chip, Diags *diags)
{
    memset(r, 0, sizeof *r);
    if (has_suffix(path, ".xbp")) {
        Program *p = chip_program(arena, path, chip, diags);
        if (!p)
            return false;
        r->n_inputs = p->n_inputs;
        r->n_outputs = p->n_outputs;
        r->input_names = arena_array(arena, (size_t)p->n_inputs + 1, sizeof(char *));
        r->output_names = arena_array(arena, (size_t)p->n_outputs + 1, sizeof(char *));
        r->input_types = arena_array(arena, (size_t)p->n_inputs + 1, sizeof(Type));
        r->output_types = arena_array(arena, (size_t)p->n_outputs + 1, sizeof(Type));
        for (int i = 0; i < p->n_inputs; i++) {
            r->input_names[i] = p->buffers[p->inputs[i]].name;
            r->input_types[i] = p->buffers[p->inputs[i]].type;
        }
        for (int i = 0; i < p->n_outputs; i++) {
            r->output_names[i] = p->buffers[p->outputs[i]].name;
            r->output_types[i] = p->buffers[p->outputs[i]].type;
        }
        r->seed = chip ? chip->seed : 0;
        r->program = p;
        return true;
    }
    PassOptions pass_options = {0};
    Graph *g = load_model(arena, path, shapes->shapes, shapes->count, pipeline, &pass_options, diags);
    if (!g)
        return false;
    r->n_inputs = g->n_inputs;
    r->n_outputs = g->n_outputs;
    r->input_names = arena_array(arena, (size_t)g->n_inputs + 1, sizeof(char *));
    r->output_names = arena_array(arena, (size_t)g->n_outputs + 1, sizeof(char *));
    r->input_types = arena_array(arena, (size_t)g->n_inputs + 1, sizeof(Type));
    r->output_types = arena_array(arena, (size_t)g->n_outputs + 1, sizeof(Type));
    for (int i = 0; i < g->n_inputs; i++) {
        r->input_names[i] = g->inputs[i]->name;
        r->input_types[i] = g->inputs[i]->type;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        r->output_names[i] = g->outputs[i]->name;
        r->output_types[i] = g->outputs[i]->type;
    }
    r->graph = g;
    return true;
}

/* Makes the executor (xbarc eval's evaluator makes its own, one per thread). */
static void runner_start(Runner *r)
{
    if (r->program)
        r->sim = sim_new_seeded(r->program, r->seed);
    else
        r->interp = interp_new(r->graph);
}

/* Top-1 accuracy over `set` (runtime/evaluate.c). */
static bool runner_evaluate(const Runner *r, Arena *arena, const EvalSet *set, const EvalOptions *options,
                            EvalResult *result, Diags *diags)
{
    EvalOptions o = *options;
    o.seed = r->seed;
    return r->program ? evaluate_program(arena, r->program, set, &o, result, diags)
                      : evaluate_graph(arena, r->graph, set, &o, result, diags);
}

static float *runner_input(Runner *r, int i)
{
    return r->sim ? sim_input(r->sim, i) : interp_input(r->interp, i);
}

static void runner_run(Runner *r)
{
    if (r->sim)
        sim_run(r->sim);
    else
        interp_run(r->interp);
}

static const float *runner_output(const Runner *r, int i)
{
    return r->sim ? sim_output(r->sim, i) : interp_output(r->interp, i);
}

static void runner_close(Runner *r)
{
    /* Also for a Runner that was never opened: all zero. */
    if (r->sim)
        sim_free(r->sim);
    if (r->interp)
        interp_free(r->interp);
}

/* ---- input and output files ---- */

/* The bound inputs: each file's data and how many inputs it holds (1, or
 * the N of an [N, ...] batch; all batched files hold the same N). */
typedef struct {
    const float **data;
    int64_t *items;
    int64_t count;          /* the batch: 1 or N */
} Batch;

/* Matches --input specs (NAME=FILE, or FILE alone for a one-input model) to
 * the runner's inputs and reads them in. */
static bool bind_inputs(Runner *r, char **specs, int n_specs, Arena *arena, Batch *batch, Diags *diags)
{
    bool *bound = arena_array(arena, (size_t)r->n_inputs + 1, sizeof(bool));
    batch->data = arena_array(arena, (size_t)r->n_inputs + 1, sizeof(float *));
    batch->items = arena_array(arena, (size_t)r->n_inputs + 1, sizeof(int64_t));
    batch->count = 1;
    for (int s = 0; s < n_specs; s++) {
        char *spec = specs[s];
        char *eq = strchr(spec, '=');
        const char *path = eq ? eq + 1 : spec;
        int index = -1;
        if (eq) {
            *eq = 0;
            for (int i = 0; i < r->n_inputs; i++)
                if (strcmp(r->input_names[i], spec) == 0)
                    index = i;
            if (index < 0)
                diag_error(diags, NULL, "--input: the model has no input named '%s'", spec);
            *eq = '=';
        } else if (r->n_inputs == 1) {
            index = 0;
        } else {
            diag_error(diags, NULL, "--input %s: the model has %d inputs; write NAME=FILE", spec, r->n_inputs);
        }
        Tensor t;
        if (index < 0 || !tensor_read(arena, path, &t, diags))
            continue;
        const Type *want = &r->input_types[index];
        /* Any numbers feed a float input; an integer input takes integers, a bool one bools. */
        DType got = t.type.dtype;
        bool convertible = got == want->dtype || dtype_is_float(want->dtype) ||
                           (dtype_is_int(want->dtype) && dtype_is_int(got));
        t.type.dtype = want->dtype;
        /* [N, ...] where the model takes [1, ...]: N inputs, run one by one */
        Type item = t.type;
        item.dims[0] = 1;
        bool batched = t.type.rank == want->rank && want->rank > 0 && want->dims[0] == 1 && t.type.dims[0] > 1 &&
                       type_equal(&item, want);
        if ((!type_equal(&t.type, want) && !batched) || !convertible) {
            t.type.dtype = got;
            Loc loc = {.file = path};
            diag_error(diags, &loc, "input '%s' must be %s (or a batch of them, [N, ...]), the file holds %s",
                       r->input_names[index], type_format(arena, want), type_format(arena, &t.type));
            continue;
        }
        int64_t items = batched ? t.type.dims[0] : 1;
        if (items > 1 && batch->count > 1 && items != batch->count) {
            Loc loc = {.file = path};
            diag_error(diags, &loc, "a batch of %lld inputs, but another --input holds %lld",
                       (long long)items, (long long)batch->count);
            continue;
        }
        if (items > 1)
            batch->count = items;
        batch->data[index] = t.data;
        batch->items[index] = items;
        bound[index] = true;
    }
    for (int i = 0; i < r->n_inputs; i++)
        if (!bound[i] && diags->n_errors == 0)
            diag_error(diags, NULL, "no --input given for graph input '%s' (%s)", r->input_names[i],
                       type_format(arena, &r->input_types[i]));
    for (int i = 0; i < r->n_outputs && batch->count > 1 && diags->n_errors == 0; i++)
        if (r->output_types[i].rank == 0 || r->output_types[i].dims[0] != 1)
            diag_error(diags, NULL, "a batch of inputs needs outputs of batch 1 to stack, and output '%s' is %s",
                       r->output_names[i], type_format(arena, &r->output_types[i]));
    return diags->n_errors == 0;
}

/* Input k of the batch into the executor: a batched file's k-th, or the one
 * input of an unbatched file. */
static void bind_item(Runner *r, const Batch *batch, int64_t k)
{
    for (int i = 0; i < r->n_inputs; i++) {
        size_t numel = (size_t)type_numel(&r->input_types[i]);
        memcpy(runner_input(r, i), batch->data[i] + (batch->items[i] > 1 ? (size_t)k * numel : 0),
               numel * sizeof(float));
    }
}

/* A file-system-safe file name for a tensor name. */
static char *tensor_file_name(Arena *arena, const char *name, const char *ext)
{
    char *s = arena_printf(arena, "%s.%s", *name ? name : "output", ext);
    for (char *p = s; *p; p++)
        if (*p == '/' || *p == '\\' || *p == ':')
            *p = '_';
    return s;
}

static void print_tensor(const Tensor *t, Arena *arena, FILE *out)
{
    int64_t n = type_numel(&t->type);
    fprintf(out, "%s : %s =", t->name, type_format(arena, &t->type));
    bool exact = !dtype_is_float(t->type.dtype);    /* integers and bools in full */
    for (int64_t i = 0; i < n && i < 64; i++)
        fprintf(out, exact ? " %.0f" : " %.6g", t->data[i]);
    fprintf(out, n > 64 ? " ...\n" : "\n");
}

/* Where output i goes in out_dir. */
static const char *output_path(const Runner *r, int i, const char *out_dir, const char *format, Arena *arena)
{
    return arena_printf(arena, "%s/%s", out_dir, tensor_file_name(arena, r->output_names[i], format));
}

/* Writes every output into out_dir (outputs of `outs`), or prints them. */
/* The outputs: the executor's, or stacked[i] holding `count` of them ([N, ...]). */
static bool write_outputs(const Runner *r, float *const *stacked, int64_t count, const char *out_dir,
                          const char *format, Outputs *outs, FILE *text, Arena *arena, Diags *diags)
{
    for (int i = 0; i < r->n_outputs; i++) {
        Tensor t = {.name = r->output_names[i], .type = r->output_types[i], .data = (float *)runner_output(r, i)};
        if (stacked) {
            t.type.dims[0] = count;
            t.data = stacked[i];
        }
        if (!out_dir)
            print_tensor(&t, arena, text);
        else if (!tensor_write(&t, outs, output_path(r, i, out_dir, format, arena), diags))
            return false;
    }
    return true;
}

/* ---- xbarc interp / xbarc run ---- */

const char interp_usage[] =
    "usage: xbarc interp MODEL.onnx|IN.xir --input NAME=FILE ... [-o DIR]\n"
    "\n"
    "Runs the float32 reference interpreter.  Input and output tensors are ONNX\n"
    "TensorProto (.pb) or NumPy (.npy) files, by extension.  With one graph input,\n"
    "--input FILE is enough.  Without -o, outputs are printed.\n"
    "\n"
    "  --input NAME=FILE    a graph input (repeat for each); a file of [N, ...] where\n"
    "                       the model takes [1, ...] is N inputs, run one after the\n"
    "                       other, and each output stacks their N results\n"
    "  -o DIR               write each output to DIR/NAME.pb (or .npy, see --format);\n"
    "                       DIR is made if needed, the files appear together or not at all\n"
    "  --format pb|npy      file format of written outputs (default pb)\n"
    "  --passes=LIST        passes run before interpreting (default: the default\n"
    "                       pipeline for ONNX models, none for .xir)\n"
    INPUT_SHAPE_USAGE;

const char run_usage[] =
    "usage: xbarc run PROGRAM.xbp --input NAME=FILE ... [-o DIR] [--stats]\n"
    "                 [--stats-json FILE] [--perf NAME=VALUE ...] [--noise P] [--chip FILE] [--seed N]\n"
    "                 [--time T] [--set FIELD=VALUE ...] [--repeat N [--time-runs]] [--threads N]\n"
    "\n"
    "Executes a compiled program in the crossbar simulator, read by read.\n"
    "Tensors as for 'xbarc interp'.\n"
    "\n"
    "  --input NAME=FILE    a program input (repeat for each); [N, ...] in one file\n"
    "                       runs N inputs as 'xbarc interp' does, input k with the\n"
    "                       read noise of image k of 'xbarc eval'; --stats sums the\n"
    "                       counters and averages the model over the N\n"
    "  -o DIR               write each output to DIR/NAME.pb (or .npy), as 'xbarc interp'\n"
    "  --format pb|npy      file format of written outputs (default pb)\n"
    "  --stats              print the performance model per layer and in total:\n"
    "                       reads, ADC conversions and saturations, time, energy\n"
    "                       split, TOPS/W, images/s, latency, area (docs/perf.md)\n"
    "  --stats-json FILE    write the same as JSON ('-': stdout, the rest then to stderr)\n"
    "  --perf NAME=VALUE    override a figure of the model, e.g. adc_model=mnsim\n"
    "  --noise ideal|rram|pcm|neurram  non-idealities of the chip (docs/noise.md; default ideal)\n"
    "  --chip FILE          a chip file of non-ideality fields (JSON), after --noise; a bare NAME\n"
    "                       is chips/NAME.json beside the binary (docs/noise.md 13)\n"
    "  --time T             inference time after programming, for drift: 20s, 1h, 1d, 1y\n"
    "  --set FIELD=VALUE    set a non-ideality (or g_min_us, g_max_us), e.g. read_sigma=0.02,\n"
    "                       or wire_r_ohm=2: ohms per wire segment, solved as a circuit\n"
    "                       when the chip is programmed (docs/noise.md 7); wire_split_pairs=1\n"
    "                       puts G+ and G- in two arrays, wire_sense_far=1 the sense\n"
    "                       amplifiers at a block's last row (CrossSim's layout)\n"
    "  --seed N             seed of every random draw (default 0): same seed, same outputs\n"
    "  --repeat N           run the same inputs N times on the chip programmed once\n"
    "                       (outputs and --stats are the last run's)\n"
    "  --time-runs          print each run's wall and CPU seconds on stderr (all threads,\n"
    "                       and the calling thread's: with --threads, a bound on the wall\n"
    "                       time on free cores that a loaded machine's wall time hides);\n"
    "                       run 1 programs an ideal chip's blocks as it reaches them, the\n"
    "                       others show the time per image of a programmed chip\n"
    "  --threads N          split each layer's rows over N threads within a run (an\n"
    "                       ideal chip with lossless ADCs, the fast path; reads through\n"
    "                       ADCs stay on one): the same outputs, bit for bit, for any N\n";

/* The --perf overrides, checked as usage errors. */
static bool parse_perf(Args *a, char **assignments, int n, PerfParams *params)
{
    *params = perf_params_default();
    for (int i = 0; i < n && !a->failed; i++) {
        const char *error = perf_param_assign(params, assignments[i]);
        if (error) {
            const char *eq = strchr(assignments[i], '=');
            char what[512];
            snprintf(what, sizeof what, "%.*s %s", eq ? (int)(eq - assignments[i]) : (int)strlen(assignments[i]),
                     assignments[i], error);
            usage_error(a, "--perf: %s", what);
        }
    }
    return !a->failed;
}

/* Prints and writes the model of the program run `runs` times, from the
 * per-instruction counters summed over those runs. */
static bool report_stats(const Program *program, const PerfParams *params, const SimCounters *by_instr, double runs,
                         const PerfRun *run, FILE *print, Outputs *outs, const char *json_path, Arena *arena,
                         Diags *diags)
{
    PerfReport report;
    perf_model(arena, program, params, by_instr, runs, &report);
    report.run = run;
    if (print)
        perf_print(&report, print);
    return !json_path || perf_write_json(&report, outs, json_path, diags);
}

static void add_counters(const Sim *sim, int n_instrs, SimCounters *sum)
{
    for (int k = 0; k < n_instrs; k++) {
        SimCounters c = sim_instr_counters(sim, k);
        sum[k].reads += c.reads;
        sum[k].conversions += c.conversions;
        sum[k].saturated += c.saturated;
    }
}

static double seconds_of(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs the bound inputs `repeat` times, timing each run on request
 * (scripts/bench_sim.py reads these lines). */
static void run_repeated(Runner *r, long repeat, bool time_runs)
{
    for (long k = 1; k <= repeat; k++) {
        double wall = seconds_of(CLOCK_MONOTONIC), cpu = seconds_of(CLOCK_PROCESS_CPUTIME_ID),
               own = seconds_of(CLOCK_THREAD_CPUTIME_ID);
        runner_run(r);
        if (time_runs)
            fprintf(stderr, "run %ld: %.6f s wall, %.6f s cpu, %.6f s on the calling thread\n", k,
                    seconds_of(CLOCK_MONOTONIC) - wall, seconds_of(CLOCK_PROCESS_CPUTIME_ID) - cpu,
                    seconds_of(CLOCK_THREAD_CPUTIME_ID) - own);
    }
}

static int execute(Args *a, bool program)
{
    const char *model = NULL, *out_dir = NULL, *pipeline = NULL, *format = "pb", *spec;
    const char *stats_json = NULL, *repeat_text = NULL, *threads_text = NULL;
    bool stats = false, time_runs = false;
    long repeat = 1, threads = 1;
    char **specs = calloc((size_t)a->argc + 1, sizeof(char *));
    char **perf = calloc((size_t)a->argc + 1, sizeof(char *));
    int n_specs = 0, n_perf = 0;
    Chip chip = {.sets = calloc((size_t)a->argc + 1, sizeof(char *))};
    InputShapes shapes = {0};
    while (a->i < a->argc && !a->failed) {
        if ((program && chip_option(a, &chip)) || (!program && input_shape_option(a, &shapes)))
            continue;
        if (opt_value(a, "--input", &spec))
            specs[n_specs++] = (char *)spec;
        else if (program && opt_value(a, "--perf", &spec))
            perf[n_perf++] = (char *)spec;
        else if (opt_value(a, "-o", &out_dir) || opt_value(a, "--format", &format) ||
                 (!program && opt_value(a, "--passes", &pipeline)) ||
                 (program && opt_value(a, "--stats-json", &stats_json)) ||
                 (program && opt_value(a, "--repeat", &repeat_text)) ||
                 (program && opt_value(a, "--threads", &threads_text)))
            continue;
        else if (program && opt_flag(a, "--stats"))
            stats = true;
        else if (program && opt_flag(a, "--time-runs"))
            time_runs = true;
        else
            opt_positional(a, &model);
    }
    if (!a->failed && !model)
        usage_error(a, "%s", program ? "missing PROGRAM.xbp" : "missing MODEL");
    if (!a->failed && program != has_suffix(model, ".xbp"))
        usage_error(a, program ? "%s is not a program (.xbp): see 'xbarc compile'"
                               : "%s is a program: run it with 'xbarc run'", model);
    if (!a->failed && repeat_text && (!parse_count(repeat_text, &repeat) || repeat < 1))
        usage_error(a, "--repeat takes a positive integer, not '%s'", repeat_text);
    if (!a->failed && threads_text && (!parse_count(threads_text, &threads) || threads < 1 || threads > 256))
        usage_error(a, "--threads takes 1 to 256, not '%s'", threads_text);
    if (!a->failed && strcmp(format, "pb") != 0 && strcmp(format, "npy") != 0)
        usage_error(a, "--format must be pb or npy, not %s", format);
    PerfParams perf_params;
    if (!a->failed)
        parse_perf(a, perf, n_perf, &perf_params);
    free(perf);
    if (!a->failed && program)
        chip_check(a, &chip);
    if (a->failed) {
        free(specs);
        free(chip.sets);
        return EXIT_USAGE;
    }
    if (!pipeline)
        pipeline = has_suffix(model, ".xir") ? "" : default_pipeline;
    else if (strcmp(pipeline, "default") == 0)
        pipeline = default_pipeline;

    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Outputs *outs = outputs_new(arena, &diags);
    bool ok = !out_dir || outputs_add_dir(outs, out_dir);
    ok = (!stats_json || outputs_add(outs, stats_json)) && ok;
    Runner r = {0};
    ok = ok && runner_open(&r, arena, model, pipeline, &shapes, program ? &chip : NULL, &diags) &&
         (r.program || interp_fits(r.graph, 1, &diags));
    for (int i = 0; ok && out_dir && i < r.n_outputs; i++)
        ok = outputs_add(outs, output_path(&r, i, out_dir, format, arena));
    FILE *text = outputs_to_stdout(outs) ? stderr : stdout;
    if (ok)
        runner_start(&r);
    if (ok && r.sim && !sim_set_threads(r.sim, (int)threads)) {
        diag_error(&diags, NULL, "--threads %ld: the threads could not be started", threads);
        ok = false;
    }
    if (ok && r.sim && sim_chip_error(r.sim)) {
        diag_error(&diags, NULL, "programming the chip: %s", sim_chip_error(r.sim));
        ok = false;
    }
    Batch batch;
    if (ok && (ok = bind_inputs(&r, specs, n_specs, arena, &batch, &diags))) {
        float **stacked = batch.count > 1 ? arena_array(arena, (size_t)r.n_outputs + 1, sizeof(float *)) : NULL;
        if (stacked && repeat > 1) {
            diag_error(&diags, NULL, "--repeat times one input, and --input holds a batch of %lld",
                       (long long)batch.count);
            ok = false;
        }
        for (int i = 0; ok && stacked && i < r.n_outputs; i++) {
            uint64_t numel = (uint64_t)type_numel(&r.output_types[i]);
            ok = memory_check((uint64_t)batch.count * numel, sizeof(float), "the batch's outputs", NULL, &diags);
            stacked[i] = ok ? arena_array(arena, (size_t)batch.count * numel, sizeof(float)) : NULL;
        }
        int n_instrs = r.program ? r.program->n_instrs : 0;
        SimCounters *sum = arena_array(arena, (size_t)n_instrs + 1, sizeof(SimCounters)), total = {0};
        for (int64_t k = 0; ok && k < batch.count; k++) {
            bind_item(&r, &batch, k);
            if (r.sim)
                sim_set_stream(r.sim, (uint64_t)k);     /* input k's reads, as in xbarc eval */
            run_repeated(&r, repeat, time_runs);
            ok = !(r.sim && sim_check_error(r.sim));    /* check mode: sim_run said what differs */
            for (int i = 0; ok && stacked && i < r.n_outputs; i++) {
                size_t numel = (size_t)type_numel(&r.output_types[i]);
                memcpy(stacked[i] + (size_t)k * numel, runner_output(&r, i), numel * sizeof(float));
            }
            if (ok && r.sim) {
                add_counters(r.sim, n_instrs, sum);
                SimCounters c = sim_counters(r.sim);
                total.reads += c.reads, total.conversions += c.conversions, total.saturated += c.saturated;
            }
        }
        ok = ok && write_outputs(&r, stacked, batch.count, out_dir, format, outs, text, arena, &diags);
        if (ok && stats)
            fprintf(text, "crossbar reads: %llu\nADC conversions: %llu\nsaturated conversions: %llu\n",
                    (unsigned long long)total.reads, (unsigned long long)total.conversions,
                    (unsigned long long)total.saturated);
        if (ok && (stats || stats_json)) {
            PerfRun run = {.command = "run", .program = model, .accuracy = -1, .seed = chip.seed,
                           .noise = chip.preset, .time = chip.time, .n_sets = chip.n_sets, .sets = chip.sets};
            ok = report_stats(r.program, &perf_params, sum, (double)batch.count, &run, stats ? text : NULL, outs,
                              stats_json, arena, &diags);
        }
    }
    ok = outputs_commit(outs, ok);
    runner_close(&r);
    free(specs);
    free(chip.sets);
    return finish(arena, &diags, ok);
}

int cmd_interp(Args *a)
{
    return execute(a, false);
}

int cmd_run(Args *a)
{
    return execute(a, true);
}

/* ---- xbarc eval ---- */

const char eval_usage[] =
    "usage: xbarc eval MODEL.onnx|IN.xir|PROGRAM.xbp --dataset SPEC [--limit N]\n"
    "\n"
    "Top-1 accuracy on a labelled data set (its test split, unless --split): of the\n"
    "float32 reference interpreter for a model, of the crossbar simulator for a\n"
    "program.  The last line is 'accuracy: 0.xxxx (N images)'.\n"
    "\n"
    DATASET_USAGE
    "  --passes=LIST      passes run on a model first (default: the default pipeline)\n"
    "  --against MODEL    also run MODEL (a model or a program) on every image and\n"
    "                     report its accuracy, the top-1 agreement of the two, their\n"
    "                     largest output difference and how many outputs are\n"
    "                     bit-identical (e.g. a program against its quantized IR,\n"
    "                     which the reference interpreter runs as integer reference)\n"
    "  --stats            (a program) the performance model averaged over the images,\n"
    "                     as 'xbarc run --stats' prints it (docs/perf.md)\n"
    "  --stats-json FILE  write it as JSON ('-': stdout, the rest then to stderr)\n"
    "  --perf NAME=VALUE  override a figure of the model, e.g. adc_model=mnsim\n"
    "  --noise ideal|rram|pcm|neurram, --chip FILE, --time T, --set FIELD=VALUE, --seed N\n"
    "                     (a program) the chip's non-idealities, as for 'xbarc run'\n"
    "                     (docs/noise.md); image i gets read noise of its own\n"
    "  --threads N        images on N threads: the same results, bit for bit, for any N\n"
    "  --metric top1|top5|snr|relerr  the headline, the last line (default top1:\n"
    "                     the accuracy line above; top-5 is printed before it);\n"
    "                     snr (dB) and relerr (relative L2 error) compare the outputs\n"
    "                     with --against's over the whole set, for models that are not\n"
    "                     classifiers (docs/eval.md)\n"
    "  --metrics-json FILE  write top-1, top-5, per-class accuracy, the confusion\n"
    "                     matrix and, with --against, SNR and relative error as JSON\n"
    "                     ('-': stdout, the rest then to stderr)\n"
    INPUT_SHAPE_USAGE;

int cmd_eval(Args *a)
{
    const char *model = NULL, *pipeline = NULL, *against = NULL, *stats_json = NULL, *threads_text = NULL, *spec;
    bool stats = false;
    char **perf = calloc((size_t)a->argc + 1, sizeof(char *));
    int n_perf = 0;
    const char *metrics_json = NULL, *metric_text = NULL;   /* docs/eval.md */
    Chip chip = {.sets = calloc((size_t)a->argc + 1, sizeof(char *))};
    InputShapes shapes = {0};
    DatasetOptions dso = {0};
    while (a->i < a->argc && !a->failed) {
        if (chip_option(a, &chip) || input_shape_option(a, &shapes) || dataset_option(a, &dso))
            continue;
        if (opt_value(a, "--perf", &spec))
            perf[n_perf++] = (char *)spec;
        else if (opt_value(a, "--metrics-json", &metrics_json) || opt_value(a, "--metric", &metric_text))
            continue;
        else if (opt_flag(a, "--stats"))
            stats = true;
        else if (!opt_value(a, "--passes", &pipeline) &&
                 !opt_value(a, "--against", &against) && !opt_value(a, "--stats-json", &stats_json) &&
                 !opt_value(a, "--threads", &threads_text))
            opt_positional(a, &model);
    }
    long threads = 1;
    if (!a->failed && !model)
        usage_error(a, "%s", "missing MODEL");
    if (!a->failed && !dso.spec)
        usage_error(a, "%s", "missing --dataset SPEC");
    if (!a->failed && threads_text && (!parse_count(threads_text, &threads) || threads < 1 || threads > 256))
        usage_error(a, "--threads takes 1 to 256, not '%s'", threads_text);
    if (!a->failed && (stats || stats_json || n_perf) && !has_suffix(model, ".xbp"))
        usage_error(a, "--stats, --stats-json and --perf need a program (.xbp), not %s", model);
    if (!a->failed && shapes.count && has_suffix(model, ".xbp") && (!against || has_suffix(against, ".xbp")))
        usage_error(a, "--input-shape needs a model (a program's shapes are fixed), not %s", model);
    if (!a->failed && chip_given(&chip) && !has_suffix(model, ".xbp"))
        usage_error(a, "--noise, --chip, --time, --set and --seed need a program (.xbp), not %s", model);
    EvalMetric metric = METRIC_TOP1;
    if (!a->failed && metric_text && !eval_metric_parse(metric_text, &metric))
        usage_error(a, "--metric takes top1, top5, snr or relerr, not '%s'", metric_text);
    if (!a->failed && (metric == METRIC_SNR || metric == METRIC_RELERR) && !against)
        usage_error(a, "--metric %s compares with a reference: give the float model as --against MODEL",
                    eval_metric_name(metric));
    PerfParams perf_params;
    if (!a->failed)
        parse_perf(a, perf, n_perf, &perf_params);
    free(perf);
    if (!a->failed)
        chip_check(a, &chip);
    if (a->failed) {
        free(chip.sets);
        return EXIT_USAGE;
    }
    if (!pipeline || strcmp(pipeline, "default") == 0)
        pipeline = default_pipeline;

    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Outputs *outs = outputs_new(arena, &diags);
    Dataset data;
    Runner r = {0}, ref = {0};
    bool ok = (!stats_json || outputs_add(outs, stats_json)) && runner_open(&r, arena, model, pipeline, &shapes, &chip, &diags) &&
              (!against || runner_open(&ref, arena, against, pipeline, &shapes, NULL, &diags)) &&
              dataset_open(arena, &dso, "test", false, r.n_inputs == 1 ? &r.input_types[0] : NULL,
                           (int)type_numel(&r.output_types[0]), &data, &diags);
    const char *dataset_name = dso.spec;
    char **sets = arena_array(arena, (size_t)chip.n_sets + 1, sizeof(char *));     /* for the stats' JSON */
    memcpy(sets, chip.sets, (size_t)chip.n_sets * sizeof(char *));
    free(chip.sets);
    chip.sets = sets;
    ok = (!metrics_json || outputs_add(outs, metrics_json)) && ok;
    FILE *text = outputs_to_stdout(outs) ? stderr : stdout;
    if (ok && r.program && r.program->tuned) {
        /* A fine-tuned program belongs to its chip (docs/finetune.md): say when this is another. */
        const char *now = noise_describe(arena, &r.program->arch);
        if (r.program->tuned_seed != chip.seed || strcmp(now, r.program->tuned_chip) != 0)
            fprintf(stderr, "xbarc eval: note: %s was fine-tuned for the chip of seed %llu (%s); this one is seed "
                    "%llu (%s)\n", model, (unsigned long long)r.program->tuned_seed,
                    *r.program->tuned_chip ? r.program->tuned_chip : "ideal", (unsigned long long)chip.seed,
                    *now ? now : "ideal");
    }
    int64_t image_size = ok ? type_numel(&data.image_type) : 0;
    for (const Runner *x = &r; ok && x; x = x == &r && against ? &ref : NULL) {
        if (x->n_inputs != 1 || type_numel(&x->input_types[0]) != image_size ||
            type_numel(&x->output_types[0]) != type_numel(&r.output_types[0])) {
            Loc loc = {.file = x == &r ? model : against};
            diag_error(&diags, &loc, "the model's input must hold one %s image of %s (it has %d input%s)%s",
                       dataset_name, type_format(arena, &data.image_type), x->n_inputs,
                       x->n_inputs == 1 ? "" : "s", x == &r ? "" : ", and its output must match the model's");
            ok = false;
        }
    }
    if (!ok) {
        runner_close(&r);
        runner_close(&ref);
        return finish(arena, &diags, outputs_commit(outs, false));
    }
    int64_t n_logits = type_numel(&r.output_types[0]);
    int count = data.count;
    bool progress = isatty(STDERR_FILENO);
    /* the same results whatever --threads is (runtime/evaluate.c) */
    EvalSet set = {.images = data.images, .image_numel = image_size, .labels = data.labels, .count = count};
    EvalOptions options = {.threads = (int)threads, .keep_logits = against != NULL, .counters = stats || stats_json,
                           .progress = eval_progress_show};
    EvalProgressLine line;      /* a line on a terminal, else every few seconds (eval_report.c) */
    eval_progress_start(&line, dataset_name, progress);
    options.progress_context = &line;
    EvalResult res, ref_res = {0};
    ok = runner_evaluate(&r, arena, &set, &options, &res, &diags);
    eval_progress_end(&line);
    options.counters = false;
    if (ok && against) {
        eval_progress_start(&line, arena_printf(arena, "%s (against)", dataset_name), progress);
        ok = runner_evaluate(&ref, arena, &set, &options, &ref_res, &diags);
        eval_progress_end(&line);
    }
    runner_close(&r);
    runner_close(&ref);
    if (!ok)
        return finish(arena, &diags, outputs_commit(outs, false));
    int correct = res.correct, agree = 0, identical = 0;
    double max_diff = 0;
    OutputError error = {0};
    for (int i = 0; i < count && against; i++) {
        const float *out = res.logits + (size_t)i * (size_t)n_logits;
        const float *ref_out = ref_res.logits + (size_t)i * (size_t)n_logits;
        output_error_add(&error, out, ref_out, n_logits);     /* in image order: the same bits for any --threads */
        agree += res.predictions[i] == ref_res.predictions[i];
        identical += memcmp(out, ref_out, (size_t)n_logits * sizeof(float)) == 0;
        for (int64_t j = 0; j < n_logits; j++)
            max_diff = fmax(max_diff, fabs((double)out[j] - ref_out[j]));
    }
    int ref_correct = ref_res.correct;
    SimCounters *sum = res.instr_counters;
    bool classifier = metric == METRIC_TOP1 || metric == METRIC_TOP5;
    ClassMetrics classes = {0};
    if (classifier && !class_metrics(arena, res.predictions, res.ranks, data.labels, count, (int)n_logits, &classes,
                                     &diags))
        return finish(arena, &diags, outputs_commit(outs, false));
    if (against) {
        double n = count ? count : 1;
        if (classifier) {
            fprintf(text, "reference accuracy: %.4f (%s)\n", ref_correct / n, against);
            fprintf(text, "top-1 agreement: %.4f\n", agree / n);
        }
        fprintf(text, "largest output difference: %.6g\n", max_diff);
        fprintf(text, "bit-identical outputs: %d of %d\n", identical, count);
    }
    double headline = eval_headline(metric, &classes, &error);
    MetricsReport report = {.model = model, .dataset = dataset_name, .images = count, .seed = chip.seed,
                            .metric = eval_metric_name(metric), .value = headline,
                            .classes = classifier ? &classes : NULL, .against = against, .error = &error,
                            .reference_accuracy = count ? (double)ref_correct / count : 0.0,
                            .agreement = count ? (double)agree / count : 0.0, .largest_difference = max_diff,
                            .identical = identical};
    if (metrics_json) {
        const char *json = metrics_to_json(arena, &report);
        if (!outputs_write(outs, metrics_json, json, strlen(json)))
            return finish(arena, &diags, outputs_commit(outs, false));
    }
    PerfRun run = {.command = "eval", .program = model, .dataset = dataset_name, .images = count,
                   .accuracy = count ? (double)correct / count : 0.0, .seed = chip.seed, .noise = chip.preset,
                   .time = chip.time, .n_sets = chip.n_sets, .sets = chip.sets};
    ok = !sum || count == 0 ||
         report_stats(r.program, &perf_params, sum, count, &run, stats ? text : NULL, outs, stats_json, arena,
                      &diags);
    if (!outputs_commit(outs, ok))
        return finish(arena, &diags, false);
    eval_print_summary(text, metric, classifier ? &classes : NULL, against ? &error : NULL, count);
    return finish(arena, &diags, true);
}
