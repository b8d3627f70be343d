/* options.c: what the subcommands share: option matching, the chip options
 * (--noise, --time, --set, --seed) and the steps every command takes (load a
 * model, write IR, finish with the diagnostics and the exit status). */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- option parsing ----------------------------------------------------------- */

void usage_error(Args *a, const char *fmt, const char *what)
{
    fprintf(stderr, "xbarc %s: ", a->command);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n(see 'xbarc %s --help')\n", a->command);
    a->failed = true;
}

/* Matches "--name=VALUE", "--name VALUE" (and "-x VALUE" when name is one letter). */
bool opt_value(Args *a, const char *name, const char **value)
{
    if (a->failed || a->i >= a->argc)     /* a matcher before this one consumed the last argument */
        return false;
    const char *arg = a->argv[a->i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return false;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        a->i++;
        return true;
    }
    if (arg[n] != 0)
        return false;
    if (a->i + 1 >= a->argc) {
        usage_error(a, "option %s needs a value", name);
        a->i++;
        return false;
    }
    *value = a->argv[a->i + 1];
    a->i += 2;
    return true;
}

bool opt_flag(Args *a, const char *name)
{
    if (a->failed || a->i >= a->argc || strcmp(a->argv[a->i], name) != 0)
        return false;
    a->i++;
    return true;
}

void opt_positional(Args *a, const char **slot)
{
    if (a->failed || a->i >= a->argc)
        return;
    const char *arg = a->argv[a->i++];
    if (arg[0] == '-' && arg[1])
        usage_error(a, "unknown option %s", arg);
    else if (*slot)
        usage_error(a, "unexpected argument %s", arg);
    else
        *slot = arg;
}

bool chip_option(Args *a, Chip *chip)
{
    const char *set;
    if (opt_value(a, "--set", &set)) {
        chip->sets[chip->n_sets++] = (char *)set;
        return true;
    }
    return opt_value(a, "--noise", &chip->preset) || opt_value(a, "--chip", &chip->chip_file) ||
           opt_value(a, "--time", &chip->time) || opt_value(a, "--seed", &chip->seed_text);
}

bool chip_given(const Chip *chip)
{
    return chip->preset || chip->chip_file || chip->time || chip->seed_text || chip->n_sets;
}

/* --chip FILE, or a bare NAME (no '/', no ".json") for chips/NAME.json beside
 * the xbarc binary (docs/noise.md 13). */
static const char *chip_path(const char *name, Arena *arena)
{
    size_t n = strlen(name);
    if (strchr(name, '/') || (n >= 5 && strcmp(name + n - 5, ".json") == 0))
        return name;
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return name;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    return arena_printf(arena, "%s/chips/%s.json", exe, name);
}

/* Sets the non-idealities of arch; the first problem as a message, or NULL. */
const char *chip_apply(const Chip *chip, Arch *arch, Arena *arena)
{
    if (!noise_preset(arch, chip->preset ? chip->preset : "ideal"))
        return arena_printf(arena, "--noise must be ideal, rram, pcm or neurram, not %s", chip->preset);
    if (chip->chip_file) {
        const char *why = noise_read_chip(arch, chip_path(chip->chip_file, arena), arena);
        if (why)
            return arena_printf(arena, "--chip %s", why);
    }
    if (chip->time && !noise_parse_time(chip->time, &arch->drift_time_s))
        return arena_printf(arena, "--time takes a duration such as 20s, 1h, 1d or 1y, not '%s'", chip->time);
    for (int i = 0; i < chip->n_sets; i++) {
        const char *why = noise_set(arch, chip->sets[i]);
        if (why) {
            const char *eq = strchr(chip->sets[i], '=');
            int len = eq ? (int)(eq - chip->sets[i]) : (int)strlen(chip->sets[i]);
            return arena_printf(arena, "--set %.*s: %s", len, chip->sets[i], why);
        }
    }
    return NULL;
}

/* The name is cut from its argument in place (argv's strings are the
 * program's to change), so that nothing is allocated. */
bool input_shape_option(Args *a, InputShapes *shapes)
{
    const char *spec;
    if (!opt_value(a, "--input-shape", &spec))
        return false;
    char *eq = strrchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) {
        usage_error(a, "--input-shape takes NAME=DxDx... (e.g. input=1x3x32x32), not '%s'", spec);
        return true;
    }
    if (shapes->count == MAX_INPUT_SHAPES) {
        usage_error(a, "at most %s --input-shape options", "64");
        return true;
    }
    OnnxBinding *b = &shapes->shapes[shapes->count];
    memset(b, 0, sizeof *b);
    int64_t numel = 1;
    for (const char *p = eq + 1;; p++) {
        char *end = NULL;
        errno = 0;
        long long d = isdigit((unsigned char)*p) ? strtoll(p, &end, 10) : -1;
        const char *why = d < 0 || (*end && *end != 'x') ? "sizes are positive integers joined by 'x'"
                          : b->rank == IR_MAX_RANK ? "at most 8 dimensions"
                          : d == 0 ? "a size of 0 (empty tensors are not supported)"
                          : errno || d > (1LL << 31) || !i64_mul(numel, d, &numel) || numel > IR_MAX_NUMEL
                              ? "absurdly large (at most 2^31 a dimension, 2^32 elements)" : NULL;
        if (why) {
            char text[1024];
            snprintf(text, sizeof text, "%s: %s", spec, why);
            usage_error(a, "--input-shape %s", text);
            return true;
        }
        b->dims[b->rank++] = d;
        p = end;
        if (!*p)
            break;
    }
    *eq = '\0';
    b->input_name = spec;
    for (int i = 0; i < shapes->count; i++)
        if (strcmp(shapes->shapes[i].input_name, spec) == 0) {
            usage_error(a, "--input-shape gives input '%s' twice", spec);
            return true;
        }
    shapes->count++;
    return true;
}

bool parse_count(const char *text, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0)
        return false;
    *out = v;
    return true;
}

bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- data set options ---------------------------------------------------------- */

/* "a,b,c": 1 to 4 numbers (std: positive). */
static bool parse_floats(const char *text, float *out, int *n, bool positive)
{
    *n = 0;
    for (const char *p = text;; p++) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || (*end && *end != ',') || *n == 4 || !isfinite(v) || (positive && !(v > 0)))
            return false;
        out[(*n)++] = (float)v;
        p = end;
        if (!*p)
            return true;
    }
}

bool dataset_option(Args *a, DatasetOptions *o)
{
    const char *v;
    long n = 0;
    if (opt_value(a, "--dataset", &o->spec) || opt_value(a, "--data-dir", &o->dir))
        return true;
    if (opt_value(a, "--split", &v)) {
        if (strcmp(v, "train") != 0 && strcmp(v, "test") != 0)
            usage_error(a, "--split takes train or test, not '%s'", v);
        o->split = v;
    } else if (opt_value(a, "--limit", &v)) {
        if (!parse_count(v, &o->limit) || o->limit < 1)
            usage_error(a, "--limit takes a positive count, not '%s'", v);
    } else if (opt_value(a, "--offset", &v)) {
        if (!parse_count(v, &o->offset) || o->offset > INT_MAX)
            usage_error(a, "--offset takes a count from 0, not '%s'", v);
    } else if (opt_value(a, "--shuffle", &v)) {
        if (!parse_count(v, &n))
            usage_error(a, "--shuffle takes a seed (a non-negative integer), not '%s'", v);
        o->shuffle = true;
        o->shuffle_seed = (uint64_t)n;
    } else if (opt_value(a, "--scale", &v)) {
        char *end;
        double num = strtod(v, &end), den = 1;
        if (end != v && *end == '/')
            den = strtod(end + 1, &end);
        if (end == v || *end || !(num > 0 && num < 1e6) || !(den > 0 && den < 1e6))
            usage_error(a, "--scale takes a positive number such as 0.0625 or 1/16, not '%s'", v);
        o->scale_given = true;
        o->scale_mul = (float)num;
        o->scale_div = (float)den;
    } else if (opt_value(a, "--resize", &v)) {
        if (!parse_count(v, &n) || n < 1 || n > 65536)
            usage_error(a, "--resize takes a size from 1 to 65536, not '%s'", v);
        o->resize = (int)n;
    } else if (opt_value(a, "--center-crop", &v)) {
        if (!parse_count(v, &n) || n < 1 || n > 65536)
            usage_error(a, "--center-crop takes a size from 1 to 65536, not '%s'", v);
        o->crop = (int)n;
    } else if (opt_value(a, "--mean", &v)) {
        if (!parse_floats(v, o->mean, &o->n_mean, false))
            usage_error(a, "--mean takes 1 to 4 numbers joined by commas, not '%s'", v);
    } else if (opt_value(a, "--std", &v)) {
        if (!parse_floats(v, o->std, &o->n_std, true))
            usage_error(a, "--std takes 1 to 4 positive numbers joined by commas, not '%s'", v);
    } else {
        return false;
    }
    return true;
}

/* ---- shared steps ------------------------------------------------------------- */

bool write_ir(const Graph *g, const PrintOptions *options, Outputs *outs, const char *path)
{
    FILE *f = outputs_open(outs, path);
    if (f)
        ir_print(g, f, options);
    return f != NULL;
}

int finish(Arena *arena, Diags *diags, bool ok)
{
    diags_print(diags, stderr);
    arena_free(arena);
    return ok && diags->n_errors == 0 ? 0 : EXIT_INPUT;
}

/* The chip options, checked on the default architecture as usage errors. */
void chip_check(Args *a, Chip *chip)
{
    long seed = 0;
    if (chip->seed_text && !parse_count(chip->seed_text, &seed))
        usage_error(a, "--seed takes a non-negative integer, not '%s'", chip->seed_text);
    chip->seed = (uint64_t)seed;
    Arena *scratch = arena_new();
    Arch arch = arch_default();
    const char *why = a->failed ? NULL : chip_apply(chip, &arch, scratch);
    Diags diags;
    diags_init(&diags, scratch);
    if (why)
        usage_error(a, "%s", why);
    else if (!a->failed && !arch_validate(&arch, NULL, &diags))
        usage_error(a, "%s", diags.first->text + (strncmp(diags.first->text, "error: ", 7) ? 0 : 7));
    arena_free(scratch);
}

struct Program *chip_program(Arena *arena, const char *path, const Chip *chip, Diags *diags)
{
    Program *p = program_read(arena, path, diags);
    if (!p || !chip)
        return p;
    /* checked by chip_check: only a value against the program's range can fail */
    const char *why = chip_apply(chip, &p->arch, arena);
    Loc loc = {.file = path};
    if (why)
        diag_error(diags, &loc, "%s", why);
    return why || !arch_validate(&p->arch, path, diags) ? NULL : p;
}
