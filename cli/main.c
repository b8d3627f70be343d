/* main.c: the xbarc command-line driver: option helpers, shared steps and
 * the table of subcommands (one function each, in cmd_*.c).
 *
 * Exit status: 0 success, 1 bad input (a message names the file and what is
 * wrong), 2 bad usage.  A command's output files go through one Outputs set
 * (ir/file.c), so a failure never leaves a partial file behind. */
#include "cli/cli.h"
#include "frontend/frontend.h"
#include "runtime/blas.h"
#include "runtime/noise.h"

#include <errno.h>
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
    if (strcmp(a->argv[a->i], name) != 0)
        return false;
    a->i++;
    return true;
}

void opt_positional(Args *a, const char **slot)
{
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
    return opt_value(a, "--noise", &chip->preset) || opt_value(a, "--time", &chip->time) ||
           opt_value(a, "--seed", &chip->seed_text);
}

bool chip_given(const Chip *chip)
{
    return chip->preset || chip->time || chip->seed_text || chip->n_sets;
}

/* Sets the non-idealities of arch; the first problem as a message, or NULL. */
const char *chip_apply(const Chip *chip, Arch *arch, Arena *arena)
{
    if (!noise_preset(arch, chip->preset ? chip->preset : "ideal"))
        return arena_printf(arena, "--noise must be ideal, rram or pcm, not %s", chip->preset);
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

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
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

/* ---- shared steps ------------------------------------------------------------- */

/* An ONNX model or textual IR, by its extension, with `pipeline` run on it. */
Graph *load_model(Arena *arena, const char *path, const char *pipeline,
                         const PassOptions *pass_options, Diags *diags)
{
    Graph *g = has_suffix(path, ".xir") ? ir_parse_file(arena, path, diags)
                                        : onnx_import(arena, path, NULL, 0, diags);
    if (!g)
        return NULL;
    if (pipeline && *pipeline && !pass_run_pipeline(g, pipeline, pass_options, diags))
        return NULL;
    return g;
}

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

/* ---- dispatch ----------------------------------------------------------------- */

typedef struct {
    const char *name;
    int (*run)(Args *a);
    const char *usage;
    const char *summary;
} Command;

static const Command commands[] = {
    {"import", cmd_import, import_usage, "ONNX model to textual IR"},
    {"opt", cmd_opt, opt_usage, "run passes on textual IR"},
    {"interp", cmd_interp, interp_usage, "run the float32 reference interpreter"},
    {"arch", cmd_arch, arch_usage, "show or check an architecture description"},
    {"compile", cmd_compile, compile_usage, "map a model onto crossbar tiles, write a program"},
    {"explain", cmd_explain, explain_usage, "list a program's tiles and instructions"},
    {"run", cmd_run, run_usage, "execute a program in the crossbar simulator"},
    {"eval", cmd_eval, eval_usage, "top-1 accuracy on a data set (model or program)"},
    {"finetune", cmd_finetune, finetune_usage, "retrain a program's last layer on its chip, reprogram it"},
    {"sweep", cmd_sweep, sweep_usage, "accuracy against a non-ideality, over seeds (CSV, SVG)"},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: xbarc COMMAND [options]   ('xbarc COMMAND --help' for each)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    blas_single_thread();       /* before any product, while there is one thread */
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const Command *c = &commands[i];
        if (strcmp(argv[1], c->name) != 0)
            continue;
        if (wants_help(argc - 2, argv + 2)) {
            fputs(c->usage, stdout);
            if (c->run == cmd_opt || c->run == cmd_compile)
                print_pass_list(stdout);
            return 0;
        }
        Args a = {.argc = argc, .argv = argv, .i = 2, .command = c->name};
        return c->run(&a);
    }
    fprintf(stderr, "xbarc: unknown command '%s'\n", argv[1]);
    print_usage(stderr);
    return EXIT_USAGE;
}
