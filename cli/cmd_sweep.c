/* cmd_sweep.c: `xbarc sweep`: a grid of compiles, chips and seeds, run here
 * or on a Slurm cluster (docs/sweep.md).
 *
 * The command parses the definition (sweep_spec.c) and the executor's
 * options, makes or reuses the run directory, has the rows made (locally by
 * sweep_exec.c, or by an `sbatch --array` job, sweep_slurm.c), merges them in
 * grid order and writes the results (cli/results.c: CSV, JSON lines, the
 * manifest; a plot), all checked before the first row and written together
 * or not at all.  --merge, --status and --shard work on a run directory. */
#define _XOPEN_SOURCE 700   /* realpath */
#include "cli/sweep.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char sweep_usage[] =
    "usage: xbarc sweep (MODEL.onnx | --model MODEL.onnx | PROGRAM.xbp) [--dataset SPEC]\n"
    "                   --vary PARAM=VALUES ... [--seeds N] [-o OUT.csv|OUT.jsonl ...]\n"
    "                   [--jobs N | --slurm ...] [--run-dir DIR] [--plot FILE]\n"
    "       xbarc sweep --file SWEEP.json [options]\n"
    "       xbarc sweep --merge DIR [-o FILE ...] | --status DIR\n"
    "\n"
    "Runs every point of a grid -- the cross product of the --vary axes -- for\n"
    "seeds 1..N (each seed another programmed chip) and writes one row per point\n"
    "and seed: the varied values, the seed, top-1 and top-5 accuracy, the float\n"
    "model's accuracy on the same images, energy per image, latency, images/s,\n"
    "TOPS/W, area, tiles, cell utilization, the most ADC bits, and the compile\n"
    "and run times (docs/sweep.md, docs/results.md).  Without --dataset, only the\n"
    "mapping's figures (priced from the instruction shapes).\n"
    "\n"
    "  --vary PARAM=V1,V2,...  or PARAM=FROM:TO:STEP (numbers): an axis; repeat for\n"
    "                       a grid, the first outermost.  PARAM is\n"
    "                       - a chip field (read_sigma, prog_sigma, wire_r_ohm, ...,\n"
    "                         g_min_us, g_max_us; docs/noise.md) or time (1h, 1d, 1y):\n"
    "                         another chip, the same program;\n"
    "                       - an architecture field (rows, cols, cell_bits, adc_bits,\n"
    "                         dac_bits, ...; docs/arch.md) or a compile option: adc,\n"
    "                         packing, tile_budget (--tiles), replicate, calib,\n"
    "                         calib_count, calib_range, adc_tolerance: a recompile of\n"
    "                         the model (each distinct compile once per worker);\n"
    "                       - model (files) or dataset (specs);\n"
    "                       parameters of one kind tied with '+' take the same value:\n"
    "                       rows+cols=64,128 (square arrays)\n"
    "  --seeds N            seeds 1 to N per point (default 1)\n"
    "  --file SWEEP.json    the definition as JSON: each key an option without its\n"
    "                       dashes (\"model\", \"dataset\", \"limit\", \"seeds\", \"noise\",\n"
    "                       \"set\": [...], \"arch\", \"adc\", ...), \"vary\" an object of\n"
    "                       PARAM: [values] or \"FROM:TO:STEP\"; the command line adds to it\n"
    DATASET_USAGE
    "  --arch, --calib, --calib-count, --calib-range, --adc, --adc-range,\n"
    "  --adc-tolerance, --packing, --tiles, --replicate, --input-shape, --float-weights\n"
    "                       how the model is compiled, as for 'xbarc compile'\n"
    "                       (the data set options above also read --calib's set)\n"
    "  --noise P, --chip FILE, --time T, --set FIELD=VALUE\n"
    "                       the chip before the point's own axes, as for 'xbarc eval'\n"
    "  --perf NAME=VALUE    a figure of the performance model (docs/perf.md)\n"
    "  --no-baseline        no float_accuracy column values (saves a float run per model)\n"
    "  --no-timing          no compile_s and run_s columns: the files are then the same\n"
    "                       bytes for the same definition, however the work was split\n"
    "\n"
    "Results (checked before the first row; written together or not at all):\n"
    "  -o FILE              .csv (a header, one line per row) or .jsonl (the manifest,\n"
    "                       then one object per row); repeatable; '-' is CSV on stdout\n"
    "  --manifest FILE      the manifest alone (version, definition, axes, seeds, chip)\n"
    "  --plot FILE          a figure (.png, .pdf, .svg): by default accuracy against the\n"
    "                       first numeric axis, one series per value of another, mean\n"
    "                       and min-max band over the seeds; --x, --y, --series, --where,\n"
    "                       --log-x, --log-y, --pareto, --title, --size, --format as for\n"
    "                       'xbarc plot' (docs/results.md)\n"
    "\n"
    "Execution:\n"
    "  --jobs N             N worker processes on this machine (default 1)\n"
    "  --threads N          images of one evaluation on N threads (same results)\n"
    "  --run-dir DIR        where the rows are kept as they are made, so a run that\n"
    "                       stopped goes on where it was when started again (default:\n"
    "                       the first -o file's name plus .sweep, remade when the\n"
    "                       definition changes; without -o a temporary directory)\n"
    "  --slurm              run as one 'sbatch --array' job of --shards tasks and a\n"
    "                       merge job writing the -o files (docs/slurm.md); with\n"
    "  --wait               block until the merge is done and print the results' path\n"
    "  --resume             submit only the shards whose rows are missing\n"
    "  --shards N           array tasks (default: one per compile when the grid has two\n"
    "                       or more, at most 64; else one per row, at most 16)\n"
    "  --partition P, --time-limit T, --mem M, --array-limit N, --sbatch-arg ARG\n"
    "                       sbatch's --partition, --time, --mem, --array=...%N and\n"
    "                       anything else (repeatable); --time is the chip's age\n"
    "  --merge DIR          write the results of a run directory (the -o files it was\n"
    "                       submitted with, or those given); an error names what is\n"
    "                       missing\n"
    "  --status DIR         how far a run directory is: rows made, shards done\n";

/* The outputs asked for, by kind. */
typedef struct {
    char **files;               /* -o: .csv, .jsonl, or '-' (CSV) */
    int n_files, files_cap;
    const char *manifest;
    const char *plot;           /* --plot FILE, drawn as plot_args->spec says */
    PlotArgs *plot_args;
    PlotInfo plot_info;         /* what was drawn */
} SweepOutputs;

static bool is_jsonl(const char *path)
{
    return has_suffix(path, ".jsonl") || has_suffix(path, ".json");
}

/* The summary: per point, the mean, sample standard deviation, min and max
 * of the accuracy over the seeds, and the mapping's figures. */
static void print_summary(FILE *out, const SweepSpec *s, const ResultTable *t)
{
    int acc = results_column(t, "accuracy"), energy = results_column(t, "energy_pj"),
        tiles = results_column(t, "tiles"), util = results_column(t, "utilization");
    bool measured = s->data.spec || (s->n_axes && s->axes[0].kind == AXIS_DATASET);
    fprintf(out, "sweep of %lld point%s x %d seed%s%s%s\n", (long long)s->n_points, s->n_points == 1 ? "" : "s",
            s->seeds, s->seeds == 1 ? "" : "s", s->data.spec ? " on " : "", s->data.spec ? s->data.spec : "");
    for (int i = 0; i < s->n_axes; i++)
        fprintf(out, "%-12s ", s->axes[i].name);
    if (measured)
        fprintf(out, "%8s %8s %8s %8s ", "mean", "std", "min", "max");
    fprintf(out, "%12s %6s %6s\n", "energy(nJ)", "tiles", "util");
    for (int64_t p = 0; p < s->n_points; p++) {
        const ResultCell *first = t->cells + (size_t)(p * s->seeds) * (size_t)t->n_columns;
        int values[SWEEP_MAX_AXES];
        sweep_point_values(s, p, values);
        for (int i = 0; i < s->n_axes; i++)
            fprintf(out, "%-12s ", s->axes[i].texts[values[i]]);   /* as given: 1h, not 3600 */
        if (measured) {
            double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
            for (int k = 0; k < s->seeds; k++) {
                double x = first[(size_t)k * (size_t)t->n_columns + (size_t)acc].number;
                sum += x, lo = fmin(lo, x), hi = fmax(hi, x);
            }
            double mean = sum / s->seeds;
            for (int k = 0; k < s->seeds; k++) {
                double x = first[(size_t)k * (size_t)t->n_columns + (size_t)acc].number;
                sq += (x - mean) * (x - mean);
            }
            fprintf(out, "%8.4f %8.4f %8.4f %8.4f ", mean, s->seeds > 1 ? sqrt(sq / (s->seeds - 1)) : 0.0, lo, hi);
        }
        fprintf(out, "%12.4g %6.0f %5.1f%%\n", first[energy].number / 1000, first[tiles].number,
                100 * first[util].number);
    }
}

/* Writes the merged table as every output asked for. */
static bool write_results(const SweepSpec *s, const ResultTable *t, SweepOutputs *o, Outputs *outs, Arena *arena,
                          Diags *diags)
{
    bool ok = true;
    for (int i = 0; i < o->n_files && ok; i++) {
        FILE *f = outputs_open(outs, o->files[i]);
        if (f && is_jsonl(o->files[i]))
            results_write_jsonl(f, t);
        else if (f)
            results_write_csv(f, t);
        ok = f != NULL;
    }
    if (ok && o->plot) {
        /* by default y against the numeric axis with the most values (the
         * innermost of those), a series per value of another */
        PlotSpec spec = o->plot_args->spec;
        int x = -1, most = 0;
        for (int i = 0; i < s->n_axes && !spec.x; i++)
            if (s->axes[i].numeric && s->axes[i].n >= most)
                x = i, most = s->axes[i].n;
        if (x >= 0)
            spec.x = s->axes[x].name;
        for (int i = 0; i < s->n_axes && x >= 0 && !spec.series && !spec.n_where && !spec.pareto; i++)
            if (i != x)
                spec.series = s->axes[i].name;
        ok = plot_write(t, &spec, outs, o->plot, &o->plot_info, arena, diags);
    }
    if (ok && o->manifest) {
        FILE *f = outputs_open(outs, o->manifest);
        ok = f && fprintf(f, "%s\n", t->manifest) > 0;
    }
    return ok;
}

static bool add_outputs(Outputs *outs, const SweepOutputs *o)
{
    bool ok = true;
    for (int i = 0; i < o->n_files; i++)
        ok = outputs_add(outs, o->files[i]) && ok;
    ok = (!o->plot || outputs_add(outs, o->plot)) && ok;
    return (!o->manifest || outputs_add(outs, o->manifest)) && ok;
}

/* Removes a run directory this command made for itself (rows files, the
 * definition, the directory). */
static void remove_run_dir(const char *dir, Arena *arena)
{
    const char *rows = arena_printf(arena, "%s/rows", dir);
    DIR *d = opendir(rows);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.')
            unlink(arena_printf(arena, "%s/%s", rows, e->d_name));
    if (d)
        closedir(d);
    rmdir(rows);
    unlink(arena_printf(arena, "%s/sweep.json", dir));
    rmdir(dir);
}

/* --merge DIR: the results of a run directory. */
static int merge_command(const char *dir, SweepOutputs *o, bool summary, Arena *arena, Diags *diags)
{
    SweepSpec s;
    char *abs_dir = realpath(dir, NULL);
    const char *where = abs_dir ? arena_strdup(arena, abs_dir) : dir;
    free(abs_dir);
    ResultTable t;
    Outputs *outs = outputs_new(arena, diags);
    bool ok = sweep_dir_load(arena, where, &s, diags) && add_outputs(outs, o) && sweep_merge(arena, where, &s, &t, diags) &&
              write_results(&s, &t, o, outs, arena, diags);
    ok = outputs_commit(outs, ok);
    if (ok && summary)
        print_summary(outputs_to_stdout(outs) ? stderr : stdout, &s, &t);
    if (ok && o->plot)
        plot_print_summary(outputs_to_stdout(outs) ? stderr : stdout, o->plot, &t, o->plot_args, &o->plot_info);
    return finish(arena, diags, ok);
}

int cmd_sweep(Args *a)
{
    Arena *arena = arena_new();
    SweepSpec s = sweep_spec_default();
    SweepRun run = {.jobs = 1, .threads = 1};
    SweepOutputs o = {0};
    PlotArgs plot = {0};
    bool plot_options = false;
    const char *jobs = NULL, *threads = NULL, *shards = NULL, *merge = NULL, *status = NULL, *shard = NULL,
               *value = NULL;
    int sbatch_cap = 0;
    char **plot_tokens = NULL;
    int n_plot_tokens = 0, plot_tokens_cap = 0;
    while (a->i < a->argc && !a->failed) {
        int start = a->i;
        if (opt_value(a, "-o", &value)) {
            ARENA_GROW(arena, o.files, o.n_files, o.files_cap);
            o.files[o.n_files++] = (char *)value;
        } else if (opt_value(a, "--file", &value)) {
            char **argv = NULL;
            int argc = 0, cap = 0;
            if (sweep_file_options(a, value, arena, &argv, &argc, &cap)) {
                Args sub = {.argc = argc, .argv = argv, .command = a->command};
                while (sub.i < sub.argc && !sub.failed)
                    if (!sweep_spec_option(&sub, &s, arena))
                        usage_error(&sub, "--file: %s is not an option of the definition", sub.argv[sub.i++]);
                a->failed |= sub.failed;
            }
        } else if (opt_value(a, "--sbatch-arg", &value)) {
            ARENA_GROW(arena, run.sbatch_args, run.n_sbatch_args, sbatch_cap);
            run.sbatch_args[run.n_sbatch_args++] = (char *)value;
        } else if (plot_option(a, &plot, arena)) {
            plot_options = true;
            for (int i = start; i < a->i; i++) {     /* again for a Slurm merge job */
                ARENA_GROW(arena, plot_tokens, n_plot_tokens, plot_tokens_cap);
                plot_tokens[n_plot_tokens++] = a->argv[i];
            }
        } else if (opt_value(a, "--manifest", &o.manifest) || opt_value(a, "--plot", &o.plot) || opt_value(a, "--jobs", &jobs) ||
                   opt_value(a, "--threads", &threads) || opt_value(a, "--run-dir", &run.run_dir) ||
                   opt_value(a, "--shards", &shards) || opt_value(a, "--partition", &run.partition) ||
                   opt_value(a, "--time-limit", &run.time_limit) || opt_value(a, "--mem", &run.mem) ||
                   opt_value(a, "--array-limit", &run.array_limit) || opt_value(a, "--merge", &merge) ||
                   opt_value(a, "--status", &status) || opt_value(a, "--shard", &shard)) {
        } else if (opt_flag(a, "--slurm")) {
            run.slurm = true;
        } else if (opt_flag(a, "--wait")) {
            run.wait = true;
        } else if (opt_flag(a, "--resume")) {
            run.resume = true;
        } else if (!sweep_spec_option(a, &s, arena)) {
            usage_error(a, "unknown option %s", a->argv[a->i++]);
        }
    }
    long count = 0;
    if (!a->failed && jobs && (!parse_count(jobs, &count) || count < 1 || count > 256))
        usage_error(a, "--jobs takes 1 to 256, not '%s'", jobs);
    run.jobs = jobs ? (int)count : 1;
    if (!a->failed && threads && (!parse_count(threads, &count) || count < 1 || count > 256))
        usage_error(a, "--threads takes 1 to 256, not '%s'", threads);
    run.threads = threads ? (int)count : 1;
    if (!a->failed && shards && (!parse_count(shards, &count) || count < 1 || count > 100000))
        usage_error(a, "--shards takes 1 to 100000, not '%s'", shards);
    run.shards = shards ? (int)count : 0;
    if (!a->failed && (run.wait || run.resume || (shards && !shard) || run.partition || run.time_limit || run.mem ||
                       run.array_limit || run.n_sbatch_args) && !run.slurm && !merge)
        usage_error(a, "%s", "--wait, --resume, --shards and the sbatch options go with --slurm");
    if (!a->failed && o.n_files > 1)
        for (int i = 0; i < o.n_files; i++)
            if (strcmp(o.files[i], "-") == 0)
                usage_error(a, "%s", "-o - (CSV on stdout) cannot go with other -o files");
    o.plot_args = &plot;
    if (!a->failed && plot_options && !o.plot)
        usage_error(a, "%s", "--x, --y, --series, --where, --log-x, --log-y, --pareto, --title, --size and --format "
                    "go with --plot FILE");
    if (o.plot)
        plot_args_check(a, &plot, o.plot);
    Diags diags;
    diags_init(&diags, arena);
    if (!a->failed && status) {
        if (a->i != a->argc || s.argc || o.n_files)
            usage_error(a, "%s", "--status DIR takes nothing else");
        else
            return finish(arena, &diags, sweep_status(status, arena, &diags) == 0);
    }
    if (!a->failed && merge) {
        if (s.argc)
            usage_error(a, "--merge DIR reads the definition from DIR, not %s", s.argv[0]);
        else
            return merge_command(merge, &o, true, arena, &diags);
    }
    if (!a->failed && shard) {
        /* an array task: the definition is the run directory's */
        if (!parse_count(shard, &count) || count < 0 || !run.run_dir || s.argc)
            usage_error(a, "%s", "--shard K takes a shard number and --run-dir DIR alone");
        if (a->failed) {
            arena_free(arena);
            return EXIT_USAGE;
        }
        if (!sweep_dir_load(arena, run.run_dir, &s, &diags))
            return finish(arena, &diags, false);
        int total = run.shards ? run.shards : 1;
        int64_t first, end;
        sweep_shard_range(&s, (int)count, total, &first, &end);
        run.tag = arena_printf(arena, "shard-%ld", count);
        return finish(arena, &diags, sweep_run_local(&s, &run, run.run_dir, first, end, &diags));
    }
    sweep_spec_check(a, &s, arena);
    if (a->failed) {
        arena_free(arena);
        return EXIT_USAGE;
    }

    /* the run directory: named, the first output's, or a temporary one */
    bool own_dir = false, temporary = false;
    const char *dir = run.run_dir;
    struct stat st;
    if (!dir && o.n_files && strcmp(o.files[0], "-") != 0 &&
        (stat(o.files[0], &st) != 0 ? errno == ENOENT : S_ISREG(st.st_mode))) {
        dir = arena_printf(arena, "%s.sweep", o.files[0]);
        own_dir = true;
    }
    if (!dir && run.slurm) {
        usage_error(a, "%s", "--slurm needs -o FILE or --run-dir DIR (a directory the nodes share)");
        arena_free(arena);
        return EXIT_USAGE;
    }
    if (!dir) {
        const char *tmp = getenv("TMPDIR");
        char *made = arena_printf(arena, "%s/xbarc-sweep-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        dir = mkdtemp(made) ? made : NULL;
        temporary = true;
        if (!dir) {
            diag_error(&diags, NULL, "cannot make a temporary run directory: %s", strerror(errno));
            return finish(arena, &diags, false);
        }
    }
    Outputs *outs = outputs_new(arena, &diags);
    bool ok = add_outputs(outs, &o);
    if (ok && own_dir && stat(arena_printf(arena, "%s/sweep.json", dir), &st) == 0) {
        /* our own directory of an earlier definition is remade */
        if (!sweep_dir_matches(dir, &s, arena)) {
            fprintf(stderr, "xbarc sweep: note: %s held another sweep's rows: remade\n", dir);
            remove_run_dir(dir, arena);
        }
    }
    ok = ok && sweep_dir_create(dir, &s, arena, &diags);
    if (ok && run.slurm) {
        outputs_commit(outs, false);       /* checked here; the merge job writes them */
        /* the merge job writes what this command would have */
        char **merge_args = arena_array(arena, 2 * (size_t)o.n_files + 4 + 2 * (size_t)n_plot_tokens, sizeof(char *));
        int n = 0;
        for (int i = 0; i < o.n_files; i++) {
            merge_args[n++] = "-o";
            merge_args[n++] = (char *)sweep_absolute_path(arena, o.files[i]);
        }
        const char *extra[] = {"--manifest", o.manifest, "--plot", o.plot};
        for (int i = 0; i < 4; i += 2)
            if (extra[i + 1]) {
                merge_args[n++] = (char *)extra[i];
                merge_args[n++] = (char *)sweep_absolute_path(arena, extra[i + 1]);
            }
        for (int i = 0; i < n_plot_tokens; i++)
            merge_args[n++] = plot_tokens[i];
        return finish(arena, &diags, sweep_slurm_submit(&s, &run, dir, merge_args, n, o.n_files ? o.files[0] : NULL,
                                                        arena, &diags));
    }
    run.progress = isatty(STDERR_FILENO);
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);     /* a worker gone is told by its status */
    ok = ok && sweep_run_local(&s, &run, dir, 0, s.n_points * s.seeds, &diags);
    signal(SIGPIPE, old_pipe);
    ResultTable t;
    ok = ok && sweep_merge(arena, dir, &s, &t, &diags) && write_results(&s, &t, &o, outs, arena, &diags);
    ok = outputs_commit(outs, ok);
    if (ok)
        print_summary(outputs_to_stdout(outs) ? stderr : stdout, &s, &t);
    if (ok && o.plot)
        plot_print_summary(outputs_to_stdout(outs) ? stderr : stdout, o.plot, &t, &plot, &o.plot_info);
    if (temporary)
        remove_run_dir(dir, arena);
    return finish(arena, &diags, ok);
}
