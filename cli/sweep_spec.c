/* sweep_spec.c: the definition of a sweep (docs/sweep.md 1-2).
 *
 * The options that decide the rows are parsed here alone, from the command
 * line, a sweep file (its keys turned into the same options) or a run
 * directory's stored copy (a Slurm shard parses what the submitter did), so
 * every executor runs the same grid.  An axis is classified by its name: a
 * chip field or time (another chip, same program), an architecture field or
 * a compile option (another compile), the model or the data set. */
#include "cli/sweep.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The compile options a grid may vary, by column name. */
static const struct {
    const char *name, *option;
    bool numeric;
} compile_axes[] = {
    {"adc", "--adc", false},           {"packing", "--packing", false},
    {"tile_budget", "--tiles", true},  {"replicate", "--replicate", false},
    {"calib", "--calib", false},       {"calib_count", "--calib-count", true},
    {"calib_range", "--calib-range", false}, {"adc_tolerance", "--adc-tolerance", true},
};
enum { N_COMPILE_AXES = sizeof compile_axes / sizeof compile_axes[0] };

/* The metric columns, in order (docs/results.md); the last two are the
 * machine's timings, left out with --no-timing. */
static const char *const metric_columns[] = {
    "accuracy", "top5", "float_accuracy", "energy_pj", "latency_ns", "images_per_s", "tops_per_w",
    "area_mm2", "tiles", "utilization", "max_adc_bits", "images", "compile_s", "run_s",
};
enum { N_METRICS = sizeof metric_columns / sizeof metric_columns[0], N_TIMINGS = 2 };

static bool parse_real(const char *text, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return *text && !*end && !errno && isfinite(*out);
}

/* How the parameter `n` is set: its kind, field or option; a message when
 * nothing is called that. */
static const char *classify_name(const char *n, AxisKind *kind, int *field, const char **option, bool *numeric,
                                 Arena *arena)
{
    *numeric = true;
    if (strcmp(n, "model") == 0 || strcmp(n, "dataset") == 0) {
        *kind = n[0] == 'm' ? AXIS_MODEL : AXIS_DATASET;
        *numeric = false;
        return NULL;
    }
    if (strcmp(n, "time") == 0) {
        *kind = AXIS_TIME;
        return NULL;
    }
    for (int i = 0; i < N_COMPILE_AXES; i++)
        if (strcmp(n, compile_axes[i].name) == 0) {
            *kind = AXIS_COMPILE;
            *option = compile_axes[i].option;
            *numeric = compile_axes[i].numeric;
            return NULL;
        }
    if (strcmp(n, "tiles") == 0)
        return "--vary tiles: the tile budget varies as tile_budget (tiles is a column of the results)";
    for (int i = 0; i < N_METRICS; i++)
        if (strcmp(n, metric_columns[i]) == 0 || strcmp(n, "point") == 0 || strcmp(n, "seed") == 0)
            return arena_printf(arena, "--vary %s: that is a column of the results, not a parameter", n);
    *field = arch_field_find(n);
    if (*field < 0)
        return arena_printf(arena, "--vary %s: not a parameter: an architecture or chip field (docs/arch.md, "
                            "docs/noise.md), time, model, dataset, or one of adc, packing, tile_budget, "
                            "replicate, calib, calib_count, calib_range, adc_tolerance", n);
    Arch trial = arch_default();
    const char *why = noise_set(&trial, arena_printf(arena, "%s=0", n));
    *kind = why && strstr(why, "fixed by the compiled") ? AXIS_ARCH : AXIS_CHIP;
    *numeric = !arch_field_is_name(*field);
    return NULL;
}

/* The axis's kind from its name: one parameter, or several of one kind tied
 * with '+' (rows+cols: a square array of each size). */
static const char *classify(SweepAxis *x, Arena *arena)
{
    char *names = arena_strdup(arena, x->name);
    x->numeric = true;
    for (char *part = names; part; x->n_parts++) {
        char *plus = strchr(part, '+');
        if (plus)
            *plus = 0;
        if (x->n_parts == SWEEP_MAX_TIED)
            return arena_printf(arena, "--vary %s: at most %d parameters tied with '+'", x->name, SWEEP_MAX_TIED);
        AxisKind kind = AXIS_CHIP;
        bool numeric;
        int k = x->n_parts;
        x->parts[k] = part;
        x->fields[k] = -1;
        const char *why = classify_name(part, &kind, &x->fields[k], &x->options[k], &numeric, arena);
        if (why)
            return why;
        if (k > 0 && (kind != x->kind || kind == AXIS_MODEL || kind == AXIS_DATASET || kind == AXIS_TIME))
            return arena_printf(arena, "--vary %s: only architecture fields, chip fields or compile options, one "
                                "kind, can be tied with '+'", x->name);
        x->kind = kind;
        x->numeric &= numeric;
        part = plus ? plus + 1 : NULL;
    }
    return NULL;
}

/* One value of a numeric axis, as text and number. */
static bool axis_number(const SweepAxis *x, const char *text, double *out)
{
    return x->kind == AXIS_TIME ? noise_parse_time(text, out) : parse_real(text, out);
}

/* PARAM=FROM:TO:STEP (numeric axes) or PARAM=V1,V2,...; a message or NULL. */
static const char *parse_vary(Arena *arena, const char *spec, SweepAxis *x)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return arena_printf(arena, "--vary takes PARAM=FROM:TO:STEP or PARAM=V1,V2,..., not '%s'", spec);
    x->name = arena_printf(arena, "%.*s", (int)(eq - spec), spec);
    if (strcmp(x->name, "drift_time_s") == 0)
        x->name = "time";
    const char *why = classify(x, arena);
    if (why)
        return why;
    char *rest = arena_printf(arena, "%s", eq + 1);
    x->texts = arena_array(arena, SWEEP_MAX_VALUES, sizeof(char *));
    x->numbers = arena_array(arena, SWEEP_MAX_VALUES, sizeof(double));
    if (x->numeric && strchr(rest, ':') && !strchr(rest, ',')) {
        char *parts[3] = {rest, NULL, NULL};
        for (int i = 1; i < 3 && parts[i - 1]; i++) {
            char *colon = strchr(parts[i - 1], ':');
            if (colon) {
                *colon = 0;
                parts[i] = colon + 1;
            }
        }
        double from, to, step;
        if (!parts[2] || strchr(parts[2], ':') || !axis_number(x, parts[0], &from) ||
            !axis_number(x, parts[1], &to) || !axis_number(x, parts[2], &step))
            return arena_printf(arena, "--vary %s: FROM:TO:STEP must be three numbers", x->name);
        if (!(step > 0) || to < from)
            return arena_printf(arena, "--vary %s: STEP must be positive and TO at least FROM", x->name);
        double span = (to - from) / step;
        if (span + 1 > SWEEP_MAX_VALUES)
            return arena_printf(arena, "--vary %s: more than %d values", x->name, SWEEP_MAX_VALUES);
        x->n = (int)floor(span + 1e-9) + 1;
        for (int i = 0; i < x->n; i++) {
            double v = from + i * step;     /* not accumulated: no drift of rounding errors */
            v = fabs(v - to) < 1e-9 * step ? to : fabs(v) < 1e-12 * step ? 0 : v;
            char text[64];
            results_format_number(text, sizeof text, v);
            x->numbers[i] = v;
            x->texts[i] = arena_printf(arena, "%s", text);
        }
        return NULL;
    }
    for (char *item = rest; item; x->n++) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = 0;
        if (x->n == SWEEP_MAX_VALUES)
            return arena_printf(arena, "--vary %s: more than %d values", x->name, SWEEP_MAX_VALUES);
        if (!*item)
            return arena_printf(arena, "--vary %s: an empty value", x->name);
        x->texts[x->n] = item;
        x->numbers[x->n] = NAN;
        if (x->numeric && !axis_number(x, item, &x->numbers[x->n]))
            return arena_printf(arena, "--vary %s: '%s' is not a %s", x->name, item,
                                x->kind == AXIS_TIME ? "duration (20s, 1h, 1d, 1y)" : "number");
        for (int i = 0; i < x->n; i++)
            if (strcmp(x->texts[i], item) == 0)
                return arena_printf(arena, "--vary %s: the value %s is given twice", x->name, item);
        item = comma ? comma + 1 : NULL;
    }
    return NULL;
}

/* Appends one argument, keeping the array NULL-terminated. */
static void arg_push(Arena *arena, char ***argv, int *argc, int *cap, const char *text)
{
    if (!*argv) {
        *cap = 16;
        *argv = arena_array(arena, (size_t)*cap, sizeof(char *));
    }
    ARENA_GROW(arena, *argv, *argc + 1, *cap);     /* the arguments and their NULL */
    (*argv)[(*argc)++] = (char *)text;
    (*argv)[*argc] = NULL;
}

bool sweep_spec_option(Args *a, SweepSpec *s, Arena *arena)
{
    int start = a->i;
    const char *value = NULL;
    if (opt_value(a, "--vary", &value)) {
        if (s->n_axes == SWEEP_MAX_AXES)
            usage_error(a, "more than %s --vary axes", "16");
        else if (!a->failed) {
            SweepAxis *x = &s->axes[s->n_axes++];
            const char *why = parse_vary(arena, value, x);
            if (why)
                usage_error(a, "%s", why);
        }
    } else if (opt_value(a, "--set", &value)) {     /* chip_option's, into an array that grows */
        ARENA_GROW(arena, s->chip.sets, s->chip.n_sets, s->sets_cap);
        s->chip.sets[s->chip.n_sets++] = (char *)value;
    } else if (opt_value(a, "--perf", &value)) {
        ARENA_GROW(arena, s->perf, s->n_perf, s->perf_cap);
        s->perf[s->n_perf++] = (char *)value;
    } else if (opt_value(a, "--model", &value)) {
        if (s->model || s->program)
            usage_error(a, "%s", "one model or program per sweep (vary it with --vary model=A,B)");
        s->model = value;
    } else if (opt_value(a, "--seeds", &value)) {
        long seeds;
        if (!parse_count(value, &seeds) || seeds < 1 || seeds > SWEEP_MAX_SEEDS)
            usage_error(a, "--seeds takes a count from 1 to 100000, not '%s'", value);
        s->seeds = (int)seeds;
    } else if (opt_flag(a, "--no-baseline")) {
        s->baseline = false;
    } else if (opt_flag(a, "--no-timing")) {
        s->timing = false;
    } else if (!dataset_option(a, &s->data) && !chip_option(a, &s->chip) && !compile_option(a, &s->compile)) {
        if (a->failed || a->i >= a->argc)
            return true;        /* an option without its value: reported */
        const char *arg = a->argv[a->i];
        if (arg[0] == '-' && arg[1])
            return false;
        const char *path = NULL;
        opt_positional(a, &path);
        if (s->model || s->program)
            usage_error(a, "unexpected argument %s: one model or program per sweep", path);
        else if (has_suffix(path, ".xbp"))
            s->program = path;
        else
            s->model = path;
    }
    /* record what made the definition, for the run directory and the manifest */
    for (int i = start; i < a->i; i++)
        arg_push(arena, &s->argv, &s->argc, &s->argv_cap, a->argv[i]);
    return true;
}

/* A sweep file's value as option text: strings as they are, numbers in their
 * shortest form, arrays joined by commas (a --vary list). */
static const char *json_option_text(const cJSON *v, Arena *arena)
{
    if (cJSON_IsString(v))
        return arena_strdup(arena, v->valuestring);     /* outlives the JSON */
    if (cJSON_IsNumber(v)) {
        char text[64];
        results_format_number(text, sizeof text, v->valuedouble);
        return arena_printf(arena, "%s", text);
    }
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
        const char *joined = "";
        for (const cJSON *item = v->child; item; item = item->next) {
            const char *text = cJSON_IsArray(item) ? NULL : json_option_text(item, arena);
            if (!text)
                return NULL;
            joined = arena_printf(arena, "%s%s%s", joined, item == v->child ? "" : ",", text);
        }
        return joined;
    }
    return NULL;
}

bool sweep_file_options(Args *a, const char *path, Arena *arena, char ***argv, int *argc, int *cap)
{
    Diags diags;
    diags_init(&diags, arena);
    Loc loc = {.file = path};
    FileBytes bytes;
    if (!file_read(path, 16 << 20, &loc, &diags, &bytes)) {
        diags_print(&diags, stderr);
        usage_error(a, "--file %s: cannot be read", path);
        return false;
    }
    bool ok = sweep_file_parse(a, path, (const char *)bytes.data, bytes.size, arena, argv, argc, cap);
    file_release(&bytes);
    return ok;
}

bool sweep_file_parse(Args *a, const char *path, const char *text, size_t size, Arena *arena, char ***argv,
                      int *argc, int *cap)
{
    cJSON *root = cJSON_ParseWithLength(text, size);
    if (!cJSON_IsObject(root)) {
        usage_error(a, arena_printf(arena, "--file %s: %%s", path), "is not a JSON object (docs/sweep.md 2)");
        cJSON_Delete(root);
        return false;
    }
    for (const cJSON *key = root->child; key && !a->failed; key = key->next) {
        const char *name = key->string;
        bool vary = strcmp(name, "vary") == 0;
        if (vary && !cJSON_IsObject(key)) {
            usage_error(a, "--file: \"vary\" must be an object of PARAM: values, not %s", "another type");
            break;
        }
        /* "vary" {PARAM: values}, "set" [FIELD=VALUE...], "perf" [...], flags true, the rest --name value */
        int n = vary ? cJSON_GetArraySize(key) : 1;
        const cJSON *item = vary ? key->child : key;
        for (int i = 0; i < n && !a->failed; i++, item = vary ? item->next : NULL) {
            char *option = arena_printf(arena, "--%s", vary ? "vary" : name);
            for (char *c = option + 2; *c; c++)
                *c = *c == '_' ? '-' : *c;
            const char *value = NULL;
            bool repeated = !vary && cJSON_IsArray(item) &&
                            (strcmp(name, "set") == 0 || strcmp(name, "perf") == 0 || strcmp(name, "input_shape") == 0);
            if (cJSON_IsTrue(item) && !vary) {
                value = NULL;
            } else if (repeated) {
                for (const cJSON *e = item->child; e && !a->failed; e = e->next) {
                    if (!cJSON_IsString(e)) {
                        usage_error(a, "--file: \"%s\" must hold strings", name);
                        break;
                    }
                    arg_push(arena, argv, argc, cap, option);
                    arg_push(arena, argv, argc, cap, arena_strdup(arena, e->valuestring));
                }
                continue;
            } else if (!(value = json_option_text(item, arena))) {
                usage_error(a, "--file: \"%s\" must be a string, a number, true or a list of those",
                            vary ? item->string : name);
                break;
            }
            if (vary)
                value = arena_printf(arena, "%s=%s", item->string, value);
            arg_push(arena, argv, argc, cap, option);
            if (value)
                arg_push(arena, argv, argc, cap, value);
        }
    }
    cJSON_Delete(root);
    return !a->failed;
}

/* Checks the compile axis values: each applied to the base options. */
static void check_compile_value(Args *a, const SweepSpec *s, const SweepAxis *x, const char *value)
{
    CompileArgs trial = s->compile;
    char *argv[2 * SWEEP_MAX_TIED + 1];
    for (int k = 0; k < x->n_parts; k++)
        argv[2 * k] = (char *)x->options[k], argv[2 * k + 1] = (char *)value;
    Args sub = {.argc = 2 * x->n_parts, .argv = argv, .command = a->command};
    while (sub.i < sub.argc && !sub.failed)
        compile_option(&sub, &trial);
    compile_args_check(&sub, &trial);
    a->failed |= sub.failed;
}

void sweep_spec_check(Args *a, SweepSpec *s, Arena *arena)
{
    if (a->failed)
        return;
    if (!s->model && !s->program)
        return usage_error(a, "%s", "missing the model (--model M.onnx) or program (P.xbp)");
    if (s->chip.seed_text)
        return usage_error(a, "%s", "a sweep's chips are seeds 1 to N: --seeds N, not --seed");
    compile_args_check(a, &s->compile);
    bool fixed = s->program != NULL;
    s->n_points = 1;
    for (int i = 0; i < s->n_axes && !a->failed; i++) {
        SweepAxis *x = &s->axes[i];
        for (int j = 0; j < i; j++)
            if (strcmp(s->axes[j].name, x->name) == 0)
                return usage_error(a, "--vary %s is given twice", x->name);
        if (fixed && (x->kind == AXIS_ARCH || x->kind == AXIS_COMPILE))
            return usage_error(a, arena_printf(arena, "--vary %%s: fixed by the compiled program %s: sweep the "
                                               "model (--model M.onnx) to recompile", s->program), x->name);
        if (x->kind == AXIS_MODEL)
            for (int v = 0; v < x->n; v++)
                if (has_suffix(x->texts[v], ".xbp") != (s->program != NULL))
                    return usage_error(a, "--vary model: %s: the values are all models (.onnx, .xir) or all "
                                       "programs (.xbp), as the sweep's own", x->texts[v]);
        for (int v = 0; v < x->n && !a->failed; v++) {
            Arch trial = arch_default();
            const char *why = NULL;
            for (int k = 0; k < x->n_parts && !why; k++) {
                if (x->kind == AXIS_CHIP)
                    why = noise_set(&trial, arena_printf(arena, "%s=%s", x->parts[k], x->texts[v]));
                else if (x->kind == AXIS_ARCH)
                    why = arch_field_parse(&trial, x->fields[k], x->texts[v], arch_field_is_name(x->fields[k]));
            }
            if (x->kind == AXIS_COMPILE)
                check_compile_value(a, s, x, x->texts[v]);
            if (!why && x->kind == AXIS_ARCH) {
                Diags quiet;        /* the values alone on the default architecture */
                diags_init(&quiet, arena);
                const char *said = arch_validate(&trial, "--vary", &quiet) ? NULL : quiet.first->text;
                why = said && strstr(said, "error: ") ? strstr(said, "error: ") + 7 : said;
            }
            if (why)
                usage_error(a, arena_printf(arena, "--vary %s=%s: %%s", x->name, x->texts[v]), why);
        }
        s->n_points *= x->n;
        if (s->n_points * s->seeds > SWEEP_MAX_POINTS)
            return usage_error(a, "the grid has more than %s rows (points x seeds)", "10000000");
    }
    Arch trial = arch_default();
    const char *why = a->failed ? NULL : chip_apply(&s->chip, &trial, arena);
    if (why)
        usage_error(a, "%s", why);
    for (int i = 0; i < s->n_perf && !a->failed; i++) {
        s->perf_params = i ? s->perf_params : perf_params_default();
        if ((why = perf_param_assign(&s->perf_params, s->perf[i])))
            usage_error(a, arena_printf(arena, "--perf %s: %%s", s->perf[i]), why);
    }
    if (!s->n_perf)
        s->perf_params = perf_params_default();
    /* the data set's reading applies to calibration too (--scale, --mean, ...), not which images */
    DatasetOptions *calib = &s->compile.c.calib_data;
    const DatasetOptions *d = &s->data;
    calib->dir = d->dir;
    calib->scale_given = d->scale_given, calib->scale_mul = d->scale_mul, calib->scale_div = d->scale_div;
    calib->resize = d->resize, calib->crop = d->crop;
    calib->n_mean = d->n_mean, calib->n_std = d->n_std;
    memcpy(calib->mean, d->mean, sizeof calib->mean);
    memcpy(calib->std, d->std, sizeof calib->std);
}

SweepSpec sweep_spec_default(void)
{
    return (SweepSpec){.compile = compile_args_default(), .seeds = 1, .baseline = true, .timing = true};
}

bool sweep_spec_parse(Arena *arena, int argc, char **argv, SweepSpec *s, const char **why)
{
    *s = sweep_spec_default();
    Args a = {.argc = argc, .argv = argv, .command = "sweep"};
    while (a.i < a.argc && !a.failed)
        if (!sweep_spec_option(&a, s, arena))
            usage_error(&a, "unknown option %s", a.argv[a.i++]);
    sweep_spec_check(&a, s, arena);
    *why = a.failed ? "the stored definition does not parse (see above)" : NULL;
    return !a.failed;
}

void sweep_point_values(const SweepSpec *s, int64_t point, int *values)
{
    for (int i = s->n_axes - 1; i >= 0; i--) {
        values[i] = (int)(point % s->axes[i].n);
        point /= s->axes[i].n;
    }
}

int sweep_columns(const SweepSpec *s, Arena *arena, const char ***columns)
{
    int n = 0, n_metrics = N_METRICS - (s->timing ? 0 : N_TIMINGS);
    const char **c = arena_array(arena, (size_t)(s->n_axes + 2 + N_METRICS), sizeof(char *));
    c[n++] = "point";
    for (int i = 0; i < s->n_axes; i++)
        c[n++] = s->axes[i].name;
    c[n++] = "seed";
    for (int i = 0; i < n_metrics; i++)
        c[n++] = metric_columns[i];
    *columns = c;
    return n;
}

static const char *const kind_names[] = {"arch", "compile", "chip", "time", "model", "dataset"};

char *sweep_manifest(const SweepSpec *s, Arena *arena)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "xbarc", XBARC_VERSION);
    cJSON *definition = cJSON_AddArrayToObject(m, "definition");
    for (int i = 0; i < s->argc; i++)
        cJSON_AddItemToArray(definition, cJSON_CreateString(s->argv[i]));
    if (s->program)
        cJSON_AddStringToObject(m, "program", s->program);
    else
        cJSON_AddStringToObject(m, "model", s->model);
    if (s->data.spec)
        cJSON_AddStringToObject(m, "dataset", s->data.spec);
    else
        cJSON_AddNullToObject(m, "dataset");
    cJSON *axes = cJSON_AddArrayToObject(m, "axes");
    for (int i = 0; i < s->n_axes; i++) {
        const SweepAxis *x = &s->axes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", x->name);
        cJSON_AddStringToObject(o, "kind", kind_names[x->kind]);
        cJSON *values = cJSON_AddArrayToObject(o, "values");
        for (int v = 0; v < x->n; v++)
            cJSON_AddItemToArray(values, x->numeric ? cJSON_CreateNumber(x->numbers[v]) : cJSON_CreateString(x->texts[v]));
        cJSON_AddItemToArray(axes, o);
    }
    cJSON *seeds = cJSON_AddArrayToObject(m, "seeds");
    for (int i = 1; i <= s->seeds; i++)
        cJSON_AddItemToArray(seeds, cJSON_CreateNumber(i));
    const char **columns;
    int n = sweep_columns(s, arena, &columns);
    cJSON *metrics = cJSON_AddArrayToObject(m, "metrics");
    for (int i = s->n_axes + 2; i < n; i++)
        cJSON_AddItemToArray(metrics, cJSON_CreateString(columns[i]));
    /* the chip every point starts from, before its own axes */
    Arch chip = arch_default();
    if (!chip_apply(&s->chip, &chip, arena))
        cJSON_AddStringToObject(m, "chip", *noise_describe(arena, &chip) ? noise_describe(arena, &chip) : "ideal");
    /* the architecture every compile starts from (the file's, filled in), before the point's axes */
    Arch arch = arch_default();
    Diags quiet;
    diags_init(&quiet, arena);
    const char *arch_path = s->compile.c.arch_path;
    cJSON_AddStringToObject(m, "arch_file", s->program ? "(the program's)" : arch_path ? arch_path : "(built in)");
    cJSON *arch_json = !s->program && (!arch_path || arch_read_json(arch_path, &arch, &quiet))
                           ? cJSON_Parse(arch_to_json(arena, &arch))
                           : NULL;
    if (arch_json)
        cJSON_AddItemToObject(m, "arch", arch_json);
    char *printed = cJSON_PrintUnformatted(m);
    char *text = arena_printf(arena, "%s", printed);
    free(printed);
    cJSON_Delete(m);
    return text;
}

/* Compile axes first, then the data set, then the chip: consecutive units
 * share a program and a data set. */
static int kind_rank(AxisKind kind)
{
    return kind == AXIS_DATASET ? 1 : kind == AXIS_CHIP || kind == AXIS_TIME ? 2 : 0;
}

void sweep_unit(const SweepSpec *s, int64_t unit, int64_t *point, int *seed)
{
    *seed = (int)(unit % s->seeds) + 1;
    int64_t rest = unit / s->seeds;
    int order[SWEEP_MAX_AXES], n = 0, values[SWEEP_MAX_AXES];
    for (int rank = 0; rank < 3; rank++)
        for (int i = 0; i < s->n_axes; i++)
            if (kind_rank(s->axes[i].kind) == rank)
                order[n++] = i;
    for (int k = n - 1; k >= 0; k--) {
        values[order[k]] = (int)(rest % s->axes[order[k]].n);
        rest /= s->axes[order[k]].n;
    }
    int64_t p = 0;
    for (int i = 0; i < s->n_axes; i++)
        p = p * s->axes[i].n + values[i];
    *point = p;
}
