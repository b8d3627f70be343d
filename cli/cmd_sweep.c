/* cmd_sweep.c: `xbarc sweep`: accuracy against one non-ideality of the chip.
 *
 * The program is read once.  Its architecture gets --noise, --time and --set
 * as in `xbarc eval` (docs/noise.md); then for each value of the varied field
 * and each seed 1..N, a copy of the program whose arch has that value is
 * evaluated (runtime/evaluate.c): every seed is another programmed chip, and
 * the same seed at another value is the same chip's draws scaled, so the curve
 * is smooth in the parameter (common random numbers).  The evaluator's
 * results do not depend on --threads, so neither does anything written here.
 *
 * Outputs: a summary table on stdout (mean, sample standard deviation, min and
 * max over the seeds, per value), the per-seed CSV (-o) and an SVG line plot of
 * the mean with a min-max band (--plot), both checked before the first run and
 * written together or not at all (ir/file.c); a progress bar on stderr when it
 * is a terminal. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char sweep_usage[] =
    "usage: xbarc sweep PROGRAM.xbp --dataset SPEC --vary PARAM=FROM:TO:STEP --seeds N\n"
    "                   [--limit N] [--threads N] [-o OUT.csv] [--plot OUT.svg]\n"
    "                   [--noise P] [--chip FILE] [--time T] [--set FIELD=VALUE ...] [--data-dir DIR]\n"
    "                   [--metric top1|top5]\n"
    "\n"
    "Top-1 accuracy of a program on the simulated chip as one non-ideality varies:\n"
    "for each value of PARAM and each seed 1..N (each seed another programmed\n"
    "chip), the test split of the data set is evaluated as 'xbarc eval' does.\n"
    "Prints the mean, standard deviation (over seeds, n - 1), min and max per value.\n"
    "\n"
    "  --vary PARAM=FROM:TO:STEP  the values FROM, FROM + STEP, ... up to TO;\n"
    "                       or PARAM=V1,V2,... (plotted evenly spaced, as given).\n"
    "                       PARAM is a chip field of docs/noise.md (read_sigma,\n"
    "                       prog_sigma, sa0_fraction, drift_time_s, wire_r_ohm, ...),\n"
    "                       g_min_us, g_max_us, or time (drift_time_s; values like\n"
    "                       1h, 1d, 1y)\n"
    "  --seeds N            seeds 1 to N per value\n"
    DATASET_USAGE
    "  --threads N          images on N threads (the results do not depend on N)\n"
    "  -o OUT.csv           write one row per value and seed: param,value,seed,accuracy\n"
    "  --plot OUT.svg       write a plot of the mean accuracy and its min-max band\n"
    "                       (both checked before the first run, written together or\n"
    "                       not at all; '-' is stdout, the table then goes to stderr)\n"
    "  --noise ideal|rram|pcm|neurram, --chip FILE, --time T, --set FIELD=VALUE\n"
    "                       the other non-idealities, as for 'xbarc eval' (before PARAM)\n"
    "  --metric top1|top5   what is recorded (default top1; the CSV column is then\n"
    "                       'accuracy', else 'top5')\n";

enum { MAX_VALUES = 1000, MAX_THREADS = 256 };

/* The varied field and its values. */
typedef struct {
    const char *param;          /* as given: a field name or "time" */
    const char *field;          /* the Arch field */
    int n;
    double *values;
    const char **labels;        /* the texts of a list (plot ticks), or NULL for a range */
} Vary;

/* One number of --vary: seconds with a unit for time, else a plain number. */
static bool parse_number(const Vary *v, const char *text, double *out)
{
    if (strcmp(v->param, "time") == 0)
        return noise_parse_time(text, out);
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return *text && !*end && !errno && isfinite(*out);
}

/* Parses PARAM=FROM:TO:STEP or PARAM=V1,V2,...; a message, or NULL. */
static const char *parse_vary(Arena *arena, const char *spec, Vary *v)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return arena_printf(arena, "--vary takes PARAM=FROM:TO:STEP or PARAM=V1,V2,..., not '%s'", spec);
    v->param = arena_printf(arena, "%.*s", (int)(eq - spec), spec);
    v->field = strcmp(v->param, "time") == 0 ? "drift_time_s" : v->param;
    char *rest = arena_printf(arena, "%s", eq + 1);
    v->values = arena_array(arena, MAX_VALUES, sizeof(double));
    if (strchr(rest, ':')) {
        char *parts[3] = {rest, NULL, NULL};
        for (int i = 1; i < 3 && parts[i - 1]; i++) {
            char *colon = strchr(parts[i - 1], ':');
            if (colon) {
                *colon = 0;
                parts[i] = colon + 1;
            }
        }
        double from, to, step;
        if (!parts[2] || strchr(parts[2], ':') || !parse_number(v, parts[0], &from) ||
            !parse_number(v, parts[1], &to) || !parse_number(v, parts[2], &step))
            return arena_printf(arena, "--vary %s: FROM:TO:STEP must be three numbers", v->param);
        if (!(step > 0) || to < from)
            return arena_printf(arena, "--vary %s: STEP must be positive and TO at least FROM", v->param);
        double span = (to - from) / step;
        if (span + 1 > MAX_VALUES)
            return arena_printf(arena, "--vary %s: more than %d values", v->param, MAX_VALUES);
        v->n = (int)floor(span + 1e-9) + 1;
        for (int i = 0; i < v->n; i++) {
            double x = from + i * step;     /* not accumulated: no drift of rounding errors */
            v->values[i] = fabs(x - to) < 1e-9 * step ? to : fabs(x) < 1e-12 * step ? 0 : x;
        }
        return NULL;
    }
    v->labels = arena_array(arena, MAX_VALUES, sizeof(char *));
    for (char *item = rest; item; v->n++) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = 0;
        if (v->n == MAX_VALUES)
            return arena_printf(arena, "--vary %s: more than %d values", v->param, MAX_VALUES);
        if (!parse_number(v, item, &v->values[v->n]))
            return arena_printf(arena, "--vary %s: '%s' is not a %s", v->param, item,
                                strcmp(v->param, "time") == 0 ? "duration (20s, 1h, 1d, 1y)" : "number");
        v->labels[v->n] = item;
        item = comma ? comma + 1 : NULL;
    }
    return NULL;
}

/* Sets the varied field of arch to value; a message, or NULL. */
static const char *set_field(Arena *arena, const Vary *v, Arch *arch, double value)
{
    const char *why = noise_set(arch, arena_printf(arena, "%s=%.17g", v->field, value));
    return why ? arena_printf(arena, "--vary %s: %s", v->param, why) : NULL;
}


/* ---- progress ---- */

typedef struct {
    const Vary *vary;
    int value, seed, seeds, run, runs;
    int last_shown;             /* per mille, -1 before the first */
    time_t start;
} Bar;

static void show_bar(void *context, int done, int count, int correct)
{
    (void)correct;
    Bar *b = context;
    double fraction = ((double)b->run + (count ? (double)done / count : 1)) / b->runs;
    int shown = (int)(fraction * 1000);
    if (shown == b->last_shown)
        return;
    b->last_shown = shown;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    int filled = (int)(fraction * WIDTH);
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = 0;
    fprintf(stderr, "\r[%s] %5.1f%%  %s=%-10g seed %d/%d  %lds ", bar, fraction * 100, b->vary->param,
            b->vary->values[b->value], b->seed, b->seeds, (long)(time(NULL) - b->start));
}

/* ---- statistics ---- */

typedef struct {
    double mean, std, min, max;
} Summary;

static Summary summarize(const double *x, int n)
{
    Summary s = {.min = x[0], .max = x[0]};
    double sum = 0;
    for (int i = 0; i < n; i++) {
        sum += x[i];
        s.min = fmin(s.min, x[i]);
        s.max = fmax(s.max, x[i]);
    }
    s.mean = sum / n;
    double sq = 0;
    for (int i = 0; i < n; i++)
        sq += (x[i] - s.mean) * (x[i] - s.mean);
    s.std = n > 1 ? sqrt(sq / (n - 1)) : 0;
    return s;
}

/* ---- files ---- */


static void write_csv(FILE *f, const Vary *v, int seeds, const double *acc, bool top5)
{
    fprintf(f, "param,value,seed,%s\n", top5 ? "top5" : "accuracy");
    for (int i = 0; i < v->n; i++)
        for (int s = 0; s < seeds; s++)
            fprintf(f, "%s,%.10g,%d,%.6f\n", v->param, v->values[i], s + 1, acc[(size_t)i * seeds + s]);
}

/* ---- the plot ---- */

/* Ticks at multiples of 1, 2 or 5 x 10^k, about `target` of them over [lo, hi]. */
static double tick_step(double lo, double hi, int target)
{
    double raw = (hi - lo) / target;
    double magnitude = pow(10, floor(log10(raw)));
    double f = raw / magnitude;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
}

/* Widens [*lo, *hi] to whole ticks (and to some width when it has none). */
static double nice_range(double *lo, double *hi, int target)
{
    if (*hi - *lo < 1e-12 * fmax(1, fabs(*hi))) {
        double pad = *lo != 0 ? fabs(*lo) * 0.01 : 0.01;
        *lo -= pad, *hi += pad;
    }
    double step = tick_step(*lo, *hi, target);
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
    return step;
}

static int tick_decimals(double step)
{
    int d = (int)-floor(log10(step) + 1e-9);
    return d > 0 ? d : 0;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

enum { W = 640, H = 420, LEFT = 72, RIGHT = 24, TOP = 40, BOTTOM = 56 };

static void write_svg(FILE *f, const Vary *v, const Summary *sum, int seeds, const char *program,
                      const char *dataset, int images, bool top5)
{
    double x0 = LEFT, x1 = W - RIGHT, y0 = H - BOTTOM, y1 = TOP;
    /* x: the values on a linear axis, or a list's items evenly spaced */
    double xlo = 0, xhi = v->n > 1 ? v->n - 1 : 1, xstep = 1;
    if (!v->labels) {
        xlo = v->values[0], xhi = v->values[v->n - 1];
        xstep = nice_range(&xlo, &xhi, 6);
    } else if (v->n == 1) {
        xlo = -1;
    }
    double ylo = sum[0].min, yhi = sum[0].max;
    for (int i = 1; i < v->n; i++)
        ylo = fmin(ylo, sum[i].min), yhi = fmax(yhi, sum[i].max);
    double ystep = nice_range(&ylo, &yhi, 5);
#define PX(x) (x0 + ((x) - xlo) / (xhi - xlo) * (x1 - x0))
#define PY(y) (y0 + ((y) - ylo) / (yhi - ylo) * (y1 - y0))
#define XAT(i) PX(v->labels ? (double)(i) : v->values[i])

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">", W / 2);
    const char *slash = strrchr(program, '/');
    xml_text(f, slash ? slash + 1 : program);
    fprintf(f, " on %s (%d images): top-%d accuracy, mean and min-max over %d seed%s</text>\n", dataset, images,
            top5 ? 5 : 1, seeds, seeds == 1 ? "" : "s");

    /* grid, ticks and tick labels */
    int yd = tick_decimals(ystep);
    for (int k = 0; ylo + k * ystep <= yhi + ystep * 1e-6; k++) {
        double y = ylo + k * ystep, py = PY(y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", x0, py, x1, py);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", x0 - 5, py, x0, py);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", x0 - 8, py + 4, yd, y);
    }
    int xd = tick_decimals(xstep);
    int n_xticks = v->labels ? v->n : (int)floor((xhi - xlo) / xstep + 1e-6) + 1;
    for (int k = 0; k < n_xticks; k++) {
        double x = v->labels ? k : xlo + k * xstep, px = PX(x);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", px, y0, px, y0 + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", px, y0 + 19);
        if (v->labels)
            xml_text(f, v->labels[k]);
        else
            fprintf(f, "%.*f", xd, x);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<path d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" stroke=\"black\"/>\n", x0, y1, y0, x1);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", (x0 + x1) / 2, H - 14);
    xml_text(f, v->param);
    fprintf(f, "%s</text>\n", strcmp(v->param, "time") == 0 && !v->labels ? " (s)" : "");
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">top-%d accuracy</text>\n",
            (y0 + y1) / 2, top5 ? 5 : 1);

    /* the min-max band, then the mean */
    fprintf(f, "<polygon fill=\"#9ecae1\" fill-opacity=\"0.6\" stroke=\"none\" points=\"");
    for (int i = 0; i < v->n; i++)
        fprintf(f, "%.1f,%.1f ", XAT(i), PY(sum[i].max));
    for (int i = v->n - 1; i >= 0; i--)
        fprintf(f, "%.1f,%.1f ", XAT(i), PY(sum[i].min));
    fprintf(f, "\"/>\n<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\" points=\"");
    for (int i = 0; i < v->n; i++)
        fprintf(f, "%.1f,%.1f ", XAT(i), PY(sum[i].mean));
    fprintf(f, "\"/>\n");
    for (int i = 0; i < v->n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#08519c\"/>\n", XAT(i), PY(sum[i].mean));
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
#undef XAT
}

/* ---- the command ---- */

int cmd_sweep(Args *a)
{
    const char *path = NULL, *vary_spec = NULL, *seeds_text = NULL, *threads_text = NULL, *csv_path = NULL, *svg_path = NULL, *preset = NULL,
               *time_text = NULL, *chip_file = NULL, *set;
    const char *metric_text = NULL;
    char **sets = calloc((size_t)a->argc + 1, sizeof(char *));
    int n_sets = 0;
    DatasetOptions dso = {0};
    while (a->i < a->argc && !a->failed) {
        if (opt_value(a, "--set", &set))
            sets[n_sets++] = (char *)set;
        else if (!dataset_option(a, &dso) &&
                 !opt_value(a, "--vary", &vary_spec) && !opt_value(a, "--seeds", &seeds_text) &&
                 !opt_value(a, "--threads", &threads_text) &&
                 !opt_value(a, "-o", &csv_path) && !opt_value(a, "--plot", &svg_path) &&
                 !opt_value(a, "--noise", &preset) && !opt_value(a, "--chip", &chip_file) &&
                 !opt_value(a, "--time", &time_text) &&
                 !opt_value(a, "--metric", &metric_text))
            opt_positional(a, &path);
    }
    Chip chip = {.preset = preset, .chip_file = chip_file, .time = time_text, .sets = sets, .n_sets = n_sets};
    Arena *arena = arena_new();
    Vary vary = {0};
    long seeds = 0, threads = 1;
    const char *dataset_name = dso.spec;
    const char *why = NULL;
    if (!a->failed && (!path || !has_suffix(path, ".xbp")))
        usage_error(a, "%s", path ? "the program must be an .xbp file (see 'xbarc compile')" : "missing PROGRAM.xbp");
    if (!a->failed && !dataset_name)
        usage_error(a, "%s", "missing --dataset SPEC");
    if (!a->failed && !vary_spec)
        usage_error(a, "%s", "missing --vary PARAM=FROM:TO:STEP");
    if (!a->failed && !seeds_text)
        usage_error(a, "%s", "missing --seeds N");
    if (!a->failed && (!parse_count(seeds_text, &seeds) || seeds < 1 || seeds > 100000))
        usage_error(a, "--seeds takes a count from 1 to 100000, not '%s'", seeds_text);
    if (!a->failed && threads_text && (!parse_count(threads_text, &threads) || threads < 1 || threads > MAX_THREADS))
        usage_error(a, "--threads takes 1 to 256, not '%s'", threads_text);
    /* eval's snr and relerr need a reference run: not here (yet) */
    bool top5 = metric_text && strcmp(metric_text, "top5") == 0;
    if (!a->failed && metric_text && !top5 && strcmp(metric_text, "top1") != 0)
        usage_error(a, "--metric takes top1 or top5, not '%s'", metric_text);
    if (!a->failed && (why = parse_vary(arena, vary_spec, &vary)))
        usage_error(a, "%s", why);
    /* every value on the default chip: a field that cannot vary is a usage error */
    Arch trial = arch_default();
    if (!a->failed && (why = chip_apply(&chip, &trial, arena)))
        usage_error(a, "%s", why);
    for (int i = 0; i < vary.n && !a->failed; i++)
        if ((why = set_field(arena, &vary, &trial, vary.values[i])))
            usage_error(a, "%s", why);
    if (a->failed) {
        free(sets);
        arena_free(arena);
        return EXIT_USAGE;
    }

    Diags diags;
    diags_init(&diags, arena);
    Outputs *outs = outputs_new(arena, &diags);
    bool files_ok = !csv_path || outputs_add(outs, csv_path);
    files_ok = (!svg_path || outputs_add(outs, svg_path)) && files_ok;     /* both reported */
    FILE *text = outputs_to_stdout(outs) ? stderr : stdout;
    Dataset data;
    Program *program = files_ok ? program_read(arena, path, &diags) : NULL;
    if (!program || !dataset_open(arena, &dso, "test", false,
                                  program->n_inputs == 1 ? &program->buffers[program->inputs[0]].type : NULL,
                                  program->n_outputs >= 1 ? (int)type_numel(&program->buffers[program->outputs[0]].type) : 0,
                                  &data, &diags)) {
        free(sets);
        return finish(arena, &diags, outputs_commit(outs, false));
    }
    /* each value's architecture, checked against the program's before any run */
    Arch *archs = arena_array(arena, (size_t)vary.n, sizeof(Arch));
    Loc loc = {.file = path};
    for (int i = 0; i < vary.n && diags.n_errors == 0; i++) {
        archs[i] = program->arch;
        if ((why = chip_apply(&chip, &archs[i], arena)) ||
            (why = set_field(arena, &vary, &archs[i], vary.values[i])))
            diag_error(&diags, &loc, "%s", why);
        else
            arch_validate_at(&archs[i], &loc, &diags);
    }
    free(sets);
    int64_t image_size = type_numel(&data.image_type);
    if (diags.n_errors == 0 && (program->n_inputs != 1 ||
                                type_numel(&program->buffers[program->inputs[0]].type) != image_size))
        diag_error(&diags, &loc, "the program's input must hold one %s image of %s (it has %d input%s)",
                   dataset_name, type_format(arena, &data.image_type), program->n_inputs,
                   program->n_inputs == 1 ? "" : "s");
    if (diags.n_errors)
        return finish(arena, &diags, outputs_commit(outs, false));
    if (strcmp(vary.field, "prog_sigma") == 0 && archs[0].prog_model == PROG_NONE)
        fprintf(stderr, "xbarc sweep: note: prog_sigma does nothing with prog_model none "
                        "(--noise rram or --set prog_model=proportional)\n");
    if (program->float_weights)
        fprintf(stderr, "xbarc sweep: note: a float-weight program has no conductances: the chip fields do nothing\n");

    int count = data.count;
    EvalSet images = {.images = data.images, .image_numel = image_size, .labels = data.labels, .count = count};
    double *acc = arena_array(arena, (size_t)vary.n * (size_t)seeds, sizeof(double));
    Bar bar = {.vary = &vary, .seeds = (int)seeds, .runs = vary.n * (int)seeds, .last_shown = -1,
               .start = time(NULL)};
    bool progress = isatty(STDERR_FILENO);
    for (int i = 0; i < vary.n; i++) {
        Program chip = *program;    /* shares everything but the arch */
        chip.arch = archs[i];
        for (int s = 0; s < seeds; s++) {
            bar.value = i, bar.seed = s + 1;
            EvalOptions o = {.seed = (uint64_t)(s + 1), .threads = (int)threads,
                             .progress = progress ? show_bar : NULL, .progress_context = &bar};
            Arena *scratch = arena_new();
            EvalResult r;
            bool ok = evaluate_program(scratch, &chip, &images, &o, &r, &diags);
            int correct5 = 0;
            for (int k = 0; ok && top5 && k < count; k++)
                correct5 += r.ranks[k] < 5;
            arena_free(scratch);
            if (!ok)
                return finish(arena, &diags, outputs_commit(outs, false));
            acc[(size_t)i * seeds + s] = top5 ? (count ? (double)correct5 / count : 0.0) : r.accuracy;
            bar.run++;
        }
    }
    if (progress)
        fprintf(stderr, "\n");

    Summary *sum = arena_array(arena, (size_t)vary.n, sizeof(Summary));
    fprintf(text, "sweep of %s over %d value%s, seeds 1 to %ld, %d %s images each\n", vary.param, vary.n,
            vary.n == 1 ? "" : "s", seeds, count, dataset_name);
    fprintf(text, "%-12s %8s %8s %8s %8s\n", "value", "mean", "std", "min", "max");
    for (int i = 0; i < vary.n; i++) {
        sum[i] = summarize(acc + (size_t)i * seeds, (int)seeds);
        char value[64];
        if (vary.labels)
            snprintf(value, sizeof value, "%s", vary.labels[i]);
        else
            snprintf(value, sizeof value, "%.10g", vary.values[i]);
        fprintf(text, "%-12s %8.4f %8.4f %8.4f %8.4f\n", value, sum[i].mean, sum[i].std, sum[i].min, sum[i].max);
    }
    fflush(text);
    FILE *csv = csv_path ? outputs_open(outs, csv_path) : NULL;
    if (csv)
        write_csv(csv, &vary, (int)seeds, acc, top5);
    FILE *svg = svg_path ? outputs_open(outs, svg_path) : NULL;
    if (svg)
        write_svg(svg, &vary, sum, (int)seeds, path, dataset_name, count, top5);
    return finish(arena, &diags, outputs_commit(outs, (!csv_path || csv) && (!svg_path || svg)));
}
