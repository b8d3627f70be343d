/* manager.c: running a pipeline of passes.
 *
 * The pipeline text is parsed and every name resolved before any pass runs, so
 * a typo costs nothing.  After each pass the verifier checks the graph: a pass
 * that breaks the IR is named in the error, not the pass that trips over the
 * damage later.  Printing and timing follow MLIR's opt: the IR after a pass
 * comes under a `// -----// IR after NAME //----- //` line, and the timing
 * table lists wall time per pass run (verifier time on its own row). */
#include "passes/passes.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const Pass *pass;
    PassArgs args;
    double seconds;
} PassRun;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *known_pass_list(Arena *arena)
{
    char *list = "";
    for (int i = 0; i < pass_registry_count; i++)
        list = arena_printf(arena, "%s%s%s", list, i ? ", " : "", pass_registry[i].name);
    return list;
}

/* Trims [*a, *b) of white space. */
static void trim(const char **a, const char **b)
{
    while (*a < *b && isspace((unsigned char)**a))
        (*a)++;
    while (*b > *a && isspace((unsigned char)(*b)[-1]))
        (*b)--;
}

static char *copy_range(Arena *arena, const char *a, const char *b)
{
    char *s = arena_alloc(arena, (size_t)(b - a) + 1);
    memcpy(s, a, (size_t)(b - a));
    return s;
}

/* True when `key` is one of the option names of `options` ("k1=... k2=..."). */
static bool accepts_option(const char *options, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = options; p && *p;) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != '=' && *end != ' ')
            end++;
        if ((size_t)(end - p) == n && strncmp(p, key, n) == 0)
            return true;
        while (*end && *end != ' ')
            end++;
        p = end;
    }
    return false;
}

/* Parses the inside of NAME{...}: comma-separated key=value pairs. */
static bool parse_options(const Pass *pass, const char *a, const char *b, PassArgs *args, Diags *diags)
{
    Arena *arena = diags->arena;
    int cap = 1;
    for (const char *p = a; p < b; p++)
        cap += *p == ',';
    args->pass = pass->name;
    args->keys = arena_array(arena, (size_t)cap, sizeof(char *));
    args->values = arena_array(arena, (size_t)cap, sizeof(char *));
    bool ok = true;
    for (const char *p = a; p < b;) {
        const char *end = memchr(p, ',', (size_t)(b - p));
        if (!end)
            end = b;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *ka = p, *kb = eq ? eq : end, *va = eq ? eq + 1 : end, *vb = end;
        trim(&ka, &kb);
        trim(&va, &vb);
        char *key = copy_range(arena, ka, kb);
        if (!eq || !*key || va == vb) {
            diag_error(diags, NULL, "pass '%s': option '%s' must be written key=value", pass->name,
                       copy_range(arena, p, end));
            ok = false;
        } else if (!accepts_option(pass->options, key)) {
            diag_error(diags, NULL, "pass '%s' has no option '%s' (it takes: %s)", pass->name, key,
                       pass->options ? pass->options : "none");
            ok = false;
        } else {
            args->keys[args->count] = key;
            args->values[args->count++] = copy_range(arena, va, vb);
        }
        p = end + (end < b);
    }
    return ok;
}

/* Splits "a, b{k=v,k2=v2} ,c" into resolved passes with their options; an empty
 * or blank pipeline has none.  Returns the number of passes, or -1 after
 * reporting every bad name and option. */
static int parse_pipeline(const char *pipeline, PassRun **runs, Diags *diags)
{
    Arena *arena = diags->arena;
    int cap = 1;
    for (const char *p = pipeline; *p; p++)
        cap += *p == ',';
    *runs = arena_array(arena, (size_t)cap, sizeof(PassRun));

    const char *p = pipeline;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p)
        return 0;

    int n = 0;
    bool ok = true;
    for (;;) {
        /* The entry ends at the first comma outside braces. */
        const char *end = p, *brace = NULL;
        for (int depth = 0; *end && (*end != ',' || depth > 0); end++) {
            if (*end == '{' && depth++ == 0 && !brace)
                brace = end;
            else if (*end == '}' && depth > 0)
                depth--;
        }
        const char *a = p, *b = brace ? brace : end;
        trim(&a, &b);
        char *name = copy_range(arena, a, b);
        const Pass *pass = pass_find(name);
        PassArgs args = {.pass = name};
        if (!*name) {
            diag_error(diags, NULL, "empty pass name in pipeline '%s'", pipeline);
            ok = false;
        } else if (!pass) {
            diag_error(diags, NULL, "unknown pass '%s' (known: %s)", name, known_pass_list(arena));
            ok = false;
        } else if (brace) {
            const char *close = strchr(brace, '}');
            const char *rest = close ? close + 1 : end, *rest_end = end;
            trim(&rest, &rest_end);
            if (!close || close > end || rest != rest_end) {
                diag_error(diags, NULL, "pass '%s': options must be written {key=value,...}", name);
                ok = false;
            } else {
                ok &= parse_options(pass, brace + 1, close, &args, diags);
            }
        }
        if (pass)
            (*runs)[n++] = (PassRun){.pass = pass, .args = args};
        if (!*end)
            break;
        p = end + 1;
    }
    return ok ? n : -1;
}

const char *pass_arg(const PassArgs *args, const char *key)
{
    for (int i = 0; args && i < args->count; i++)
        if (strcmp(args->keys[i], key) == 0)
            return args->values[i];
    return NULL;
}

bool pass_arg_number(const PassArgs *args, const char *key, double dflt, double lo, double hi, double *out,
                     Diags *diags)
{
    const char *text = pass_arg(args, key);
    *out = dflt;
    if (!text)
        return true;
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi)) {
        diag_error(diags, NULL, "pass '%s': option %s=%s must be a number from %g to %g", args->pass, key, text,
                   lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static void print_ir_after(const Graph *g, const char *name, FILE *out)
{
    fprintf(out, "// -----// IR after %s //----- //\n", name);
    ir_print(g, out, &(PrintOptions){0});
    fflush(out);
}

static void print_timing(const PassRun *runs, int n, double verify_seconds, FILE *out)
{
    double total = verify_seconds;
    for (int i = 0; i < n; i++)
        total += runs[i].seconds;
    double denom = total > 0 ? total : 1;
    fprintf(out, "// -----// pass timing report //----- //\n");
    fprintf(out, "// %12s  %7s  %s\n", "wall (ms)", "%", "pass");
    for (int i = 0; i < n; i++)
        fprintf(out, "// %12.3f  %6.1f%%  %s\n", runs[i].seconds * 1e3,
                100.0 * runs[i].seconds / denom, runs[i].pass->name);
    fprintf(out, "// %12.3f  %6.1f%%  %s\n", verify_seconds * 1e3,
            100.0 * verify_seconds / denom, "(verifier)");
    fprintf(out, "// %12.3f  %6.1f%%  %s\n", total * 1e3, 100.0, "total");
    fflush(out);
}

/* Moves the verifier's messages under a headline naming the guilty pass. */
static void report_broken_ir(Diags *diags, const char *pass_name, Diags *verify_diags)
{
    diag_error(diags, NULL, "after pass '%s': the IR does not verify", pass_name);
    if (!verify_diags->first)
        return;
    diags->last->next = verify_diags->first;
    diags->last = verify_diags->last;
    diags->n_errors += verify_diags->n_errors;
}

bool pass_run_pipeline(Graph *g, const char *pipeline, const PassOptions *options, Diags *diags)
{
    static const PassOptions no_options;
    if (!options)
        options = &no_options;
    FILE *log = options->log ? options->log : stderr;

    if (options->print_after && !pass_find(options->print_after)) {
        diag_error(diags, NULL, "--print-ir-after: unknown pass '%s' (known: %s)",
                   options->print_after, known_pass_list(diags->arena));
        return false;
    }
    PassRun *runs;
    int n = parse_pipeline(pipeline ? pipeline : "", &runs, diags);
    if (n < 0)
        return false;

    double verify_seconds = 0;
    bool ok = true;
    int done = 0;
    for (; done < n && ok; done++) {
        const Pass *pass = runs[done].pass;
        int errors_before = diags->n_errors;
        double t0 = now_seconds();
        bool ran = pass->run(g, &runs[done].args, diags);
        runs[done].seconds = now_seconds() - t0;
        if (!ran || diags->n_errors > errors_before) {
            if (diags->n_errors == errors_before)
                diag_error(diags, NULL, "pass '%s' failed", pass->name);
            ok = false;
            break;
        }

        Diags verify_diags;
        diags_init(&verify_diags, diags->arena);
        t0 = now_seconds();
        bool valid = ir_verify(g, &verify_diags);
        verify_seconds += now_seconds() - t0;
        if (!valid || verify_diags.n_errors > 0) {
            report_broken_ir(diags, pass->name, &verify_diags);
            ok = false;
            break;
        }

        if (options->print_after_all ||
            (options->print_after && strcmp(options->print_after, pass->name) == 0))
            print_ir_after(g, pass->name, log);
    }
    if (options->time_passes)
        print_timing(runs, ok ? done : done + 1, verify_seconds, log);
    return ok;
}
