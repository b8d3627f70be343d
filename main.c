/* main.c: the xbarc command-line driver.
 *
 * Each subcommand is one function that parses its options, calls the layers
 * (frontend, passes, runtime) and reports collected diagnostics.  Exit status:
 * 0 success, 1 bad input (a message names the file and what is wrong), 2 bad
 * usage.  Every output file is written to a temporary name and renamed, so a
 * failure never leaves a partial file behind. */
#include "frontend/frontend.h"
#include "ir/ir.h"
#include "passes/passes.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

/* ---- option parsing ----------------------------------------------------------- */

typedef struct {
    int argc;
    char **argv;
    int i;                  /* next argument */
    const char *command;
    const char *usage;
    bool failed;
} Args;

static void usage_error(Args *a, const char *fmt, const char *what)
{
    fprintf(stderr, "xbarc %s: ", a->command);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n(see 'xbarc %s --help')\n", a->command);
    a->failed = true;
}

/* Matches "--name=VALUE", "--name VALUE" (and "-x VALUE" when name is one letter). */
static bool opt_value(Args *a, const char *name, const char **value)
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

static bool opt_flag(Args *a, const char *name)
{
    if (strcmp(a->argv[a->i], name) != 0)
        return false;
    a->i++;
    return true;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static bool parse_count(const char *text, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0)
        return false;
    *out = v;
    return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- shared steps ------------------------------------------------------------- */

/* An ONNX model or textual IR, by its extension, with `pipeline` run on it. */
static Graph *load_model(Arena *arena, const char *path, const char *pipeline,
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

/* Writes the IR to `path` ("-" or NULL: stdout) through a temporary file. */
static bool write_ir(const Graph *g, const char *path, const PrintOptions *options, Diags *diags)
{
    if (!path || strcmp(path, "-") == 0) {
        ir_print(g, stdout, options);
        return fflush(stdout) == 0;
    }
    Loc loc = {.file = path};
    char *tmp = arena_printf(g->arena, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f) {
        diag_error(diags, &loc, "cannot write: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return false;
    }
    ir_print(g, f, options);
    bool ok = !ferror(f);
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        diag_error(diags, &loc, "cannot write: %s", strerror(errno));
        unlink(tmp);
    }
    return ok;
}

static int finish(Arena *arena, Diags *diags, bool ok)
{
    diags_print(diags, stderr);
    arena_free(arena);
    return ok && diags->n_errors == 0 ? 0 : EXIT_INPUT;
}

/* ---- xbarc import ------------------------------------------------------------- */

static const char import_usage[] =
    "usage: xbarc import MODEL.onnx [-o OUT.xir] [--elide-constants]\n"
    "\n"
    "Imports an ONNX model (opset 7 to 17) into xbarc's graph IR and prints it as\n"
    "text (stdout unless -o).  No pass runs: see 'xbarc opt'.\n"
    "\n"
    "  -o FILE              write the IR to FILE (atomically)\n"
    "  --elide-constants    print weights as 'elided' (for reading; not parseable)\n";

static int cmd_import(Args *a)
{
    const char *model = NULL, *out = NULL;
    PrintOptions print = {0};
    while (a->i < a->argc && !a->failed) {
        if (opt_value(a, "-o", &out))
            continue;
        if (opt_flag(a, "--elide-constants")) {
            print.elide_constants = true;
            continue;
        }
        const char *arg = a->argv[a->i++];
        if (arg[0] == '-' && arg[1])
            usage_error(a, "unknown option %s", arg);
        else if (model)
            usage_error(a, "unexpected argument %s", arg);
        else
            model = arg;
    }
    if (!a->failed && !model)
        usage_error(a, "%s", "missing MODEL.onnx");
    if (a->failed)
        return EXIT_USAGE;

    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Graph *g = onnx_import(arena, model, NULL, 0, &diags);
    bool ok = g && write_ir(g, out, &print, &diags);
    return finish(arena, &diags, ok);
}

/* ---- xbarc opt ---------------------------------------------------------------- */

static void print_pass_list(FILE *out)
{
    fprintf(out, "\npasses:\n");
    for (int i = 0; i < pass_registry_count; i++)
        fprintf(out, "  %-20s %s\n", pass_registry[i].name, pass_registry[i].summary);
    fprintf(out, "default pipeline: %s\n", default_pipeline);
}

static const char opt_usage[] =
    "usage: xbarc opt IN.xir|MODEL.onnx --passes=a,b,... [-o OUT.xir] [options]\n"
    "\n"
    "Runs the named passes, in order, on textual IR (or an imported ONNX model),\n"
    "verifying the IR after each, and prints the result.\n"
    "\n"
    "  --passes=LIST           comma-separated pass names; 'default' is the default\n"
    "                          pipeline; empty runs none (parse, verify, print)\n"
    "  -o FILE                 write the IR to FILE (atomically)\n"
    "  --print-ir-after-all    print the IR after every pass (stderr)\n"
    "  --print-ir-after=NAME   print the IR after pass NAME (stderr)\n"
    "  --time-passes           print the time each pass took (stderr)\n"
    "  --elide-constants       print weights as 'elided'\n";

static int cmd_opt(Args *a)
{
    const char *input = NULL, *out = NULL, *pipeline = NULL;
    PassOptions pass_options = {0};
    PrintOptions print = {0};
    while (a->i < a->argc && !a->failed) {
        if (opt_value(a, "--passes", &pipeline) || opt_value(a, "-o", &out) ||
            opt_value(a, "--print-ir-after", &pass_options.print_after))
            continue;
        if (opt_flag(a, "--print-ir-after-all")) {
            pass_options.print_after_all = true;
            continue;
        }
        if (opt_flag(a, "--time-passes")) {
            pass_options.time_passes = true;
            continue;
        }
        if (opt_flag(a, "--elide-constants")) {
            print.elide_constants = true;
            continue;
        }
        const char *arg = a->argv[a->i++];
        if (arg[0] == '-' && arg[1])
            usage_error(a, "unknown option %s", arg);
        else if (input)
            usage_error(a, "unexpected argument %s", arg);
        else
            input = arg;
    }
    if (!a->failed && !input)
        usage_error(a, "%s", "missing input IN.xir");
    if (!a->failed && !pipeline)
        usage_error(a, "%s", "missing --passes=LIST (use --passes= to run none)");
    if (a->failed)
        return EXIT_USAGE;
    if (strcmp(pipeline, "default") == 0)
        pipeline = default_pipeline;

    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Graph *g = load_model(arena, input, pipeline, &pass_options, &diags);
    bool ok = g && write_ir(g, out, &print, &diags);
    return finish(arena, &diags, ok);
}

/* ---- xbarc interp ------------------------------------------------------------- */

static const char interp_usage[] =
    "usage: xbarc interp MODEL.onnx|IN.xir --input NAME=FILE ... [-o DIR]\n"
    "\n"
    "Runs the float32 reference interpreter.  Input and output tensors are ONNX\n"
    "TensorProto (.pb) or NumPy (.npy) files, by extension.  With one graph input,\n"
    "--input FILE is enough.  Without -o, outputs are printed.\n"
    "\n"
    "  --input NAME=FILE    a graph input (repeat for each)\n"
    "  -o DIR               write each output to DIR/NAME.pb (or .npy, see --format)\n"
    "  --format pb|npy      file format of written outputs (default pb)\n"
    "  --passes=LIST        passes run before interpreting (default: the default\n"
    "                       pipeline for ONNX models, none for .xir)\n";

/* A file-system-safe file name for a tensor name. */
static char *tensor_file_name(Arena *arena, const char *name, const char *ext)
{
    char *s = arena_printf(arena, "%s.%s", *name ? name : "output", ext);
    for (char *p = s; *p; p++)
        if (*p == '/' || *p == '\\' || *p == ':')
            *p = '_';
    return s;
}

static void print_tensor(const Tensor *t, Arena *arena)
{
    int64_t n = type_numel(&t->type);
    printf("%s : %s =", t->name, type_format(arena, &t->type));
    for (int64_t i = 0; i < n && i < 64; i++)
        printf(" %.6g", t->data[i]);
    printf(n > 64 ? " ...\n" : "\n");
}

/* Matches --input arguments to graph inputs and reads them into the interpreter. */
static bool bind_inputs(const Graph *g, Interp *interp, char **specs, int n_specs, Arena *arena, Diags *diags)
{
    bool *bound = arena_array(arena, (size_t)g->n_inputs + 1, sizeof(bool));
    for (int s = 0; s < n_specs; s++) {
        char *spec = specs[s];
        char *eq = strchr(spec, '=');
        const char *path = eq ? eq + 1 : spec;
        int index = -1;
        if (eq) {
            *eq = 0;
            for (int i = 0; i < g->n_inputs; i++)
                if (strcmp(g->inputs[i]->name, spec) == 0)
                    index = i;
            if (index < 0)
                diag_error(diags, NULL, "--input: the model has no input named '%s'", spec);
            *eq = '=';
        } else if (g->n_inputs == 1) {
            index = 0;
        } else {
            diag_error(diags, NULL, "--input %s: the model has %d inputs; write NAME=FILE", spec, g->n_inputs);
        }
        if (index < 0)
            continue;
        Tensor t;
        if (!tensor_read(arena, path, &t, diags))
            continue;
        const Type *want = &g->inputs[index]->type;
        if (!type_equal(&t.type, want)) {
            Loc loc = {.file = path};
            diag_error(diags, &loc, "input '%s' must be %s, the file holds %s", g->inputs[index]->name,
                       type_format(arena, want), type_format(arena, &t.type));
            continue;
        }
        memcpy(interp_input(interp, index), t.data, (size_t)type_numel(want) * sizeof(float));
        bound[index] = true;
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (!bound[i] && diags->n_errors == 0)
            diag_error(diags, NULL, "no --input given for graph input '%s' (%s)", g->inputs[i]->name,
                       type_format(arena, &g->inputs[i]->type));
    return diags->n_errors == 0;
}

static int cmd_interp(Args *a)
{
    const char *model = NULL, *out_dir = NULL, *pipeline = NULL, *format = "pb", *spec;
    char **specs = calloc((size_t)a->argc + 1, sizeof(char *));
    int n_specs = 0;
    while (a->i < a->argc && !a->failed) {
        if (opt_value(a, "--input", &spec)) {
            specs[n_specs++] = (char *)spec;
            continue;
        }
        if (opt_value(a, "-o", &out_dir) || opt_value(a, "--passes", &pipeline) ||
            opt_value(a, "--format", &format))
            continue;
        const char *arg = a->argv[a->i++];
        if (arg[0] == '-' && arg[1])
            usage_error(a, "unknown option %s", arg);
        else if (model)
            usage_error(a, "unexpected argument %s", arg);
        else
            model = arg;
    }
    if (!a->failed && !model)
        usage_error(a, "%s", "missing MODEL");
    if (!a->failed && strcmp(format, "pb") != 0 && strcmp(format, "npy") != 0)
        usage_error(a, "--format must be pb or npy, not %s", format);
    if (a->failed) {
        free(specs);
        return EXIT_USAGE;
    }
    if (!pipeline)
        pipeline = has_suffix(model, ".xir") ? "" : default_pipeline;
    else if (strcmp(pipeline, "default") == 0)
        pipeline = default_pipeline;

    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    PassOptions pass_options = {0};
    Graph *g = load_model(arena, model, pipeline, &pass_options, &diags);
    Interp *interp = g ? interp_new(g) : NULL;
    bool ok = interp && bind_inputs(g, interp, specs, n_specs, arena, &diags);
    if (ok) {
        interp_run(interp);
        if (out_dir && mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
            Loc loc = {.file = out_dir};
            diag_error(&diags, &loc, "cannot create output directory: %s", strerror(errno));
            ok = false;
        }
        for (int i = 0; ok && i < g->n_outputs; i++) {
            Tensor t = {.name = g->outputs[i]->name, .type = g->outputs[i]->type,
                        .data = (float *)interp_output(interp, i)};
            if (out_dir)
                ok = tensor_write(arena_printf(arena, "%s/%s", out_dir, tensor_file_name(arena, t.name, format)),
                                  &t, &diags);
            else
                print_tensor(&t, arena);
        }
    }
    if (interp)
        interp_free(interp);
    free(specs);
    return finish(arena, &diags, ok);
}

/* ---- xbarc eval --------------------------------------------------------------- */

static const char eval_usage[] =
    "usage: xbarc eval MODEL.onnx|IN.xir --dataset fashion-mnist|digits [--limit N]\n"
    "\n"
    "Top-1 accuracy of the float32 reference interpreter on a labelled data set\n"
    "(test split).  The last line is 'accuracy: 0.xxxx (N images)'.\n"
    "\n"
    "  --dataset NAME     fashion-mnist (Debian's dataset-fashion-mnist) or digits\n"
    "  --data-dir DIR     where the data set files are (default: their usual place)\n"
    "  --limit N          only the first N images\n"
    "  --passes=LIST      passes run first (default: the default pipeline)\n";

static int argmax(const float *v, int64_t n)
{
    int best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = (int)i;
    return best;
}

static int cmd_eval(Args *a)
{
    const char *model = NULL, *dataset_name = NULL, *data_dir = NULL, *limit_text = NULL, *pipeline = NULL;
    while (a->i < a->argc && !a->failed) {
        if (opt_value(a, "--dataset", &dataset_name) || opt_value(a, "--data-dir", &data_dir) ||
            opt_value(a, "--limit", &limit_text) || opt_value(a, "--passes", &pipeline))
            continue;
        const char *arg = a->argv[a->i++];
        if (arg[0] == '-' && arg[1])
            usage_error(a, "unknown option %s", arg);
        else if (model)
            usage_error(a, "unexpected argument %s", arg);
        else
            model = arg;
    }
    long limit = -1;
    if (!a->failed && !model)
        usage_error(a, "%s", "missing MODEL");
    if (!a->failed && !dataset_name)
        usage_error(a, "%s", "missing --dataset NAME");
    if (!a->failed && limit_text && !parse_count(limit_text, &limit))
        usage_error(a, "--limit takes a count, not '%s'", limit_text);
    if (a->failed)
        return EXIT_USAGE;
    if (!pipeline || strcmp(pipeline, "default") == 0)
        pipeline = default_pipeline;

    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    PassOptions pass_options = {0};
    Dataset data;
    Graph *g = load_model(arena, model, pipeline, &pass_options, &diags);
    if (!g || !dataset_load(arena, dataset_name, "test", data_dir, &data, &diags))
        return finish(arena, &diags, false);
    if (g->n_inputs != 1 || type_numel(&g->inputs[0]->type) != type_numel(&data.image_type)) {
        Loc loc = {.file = model};
        diag_error(&diags, &loc, "the model's input must hold one %s image of %s (it has %d input%s)",
                   dataset_name, type_format(arena, &data.image_type), g->n_inputs,
                   g->n_inputs == 1 ? "" : "s");
        return finish(arena, &diags, false);
    }
    int64_t n_logits = type_numel(&g->outputs[0]->type);
    int64_t image_size = type_numel(&data.image_type);
    int count = limit >= 0 && limit < data.count ? (int)limit : data.count;
    bool progress = isatty(STDERR_FILENO);

    Interp *interp = interp_new(g);
    int correct = 0;
    for (int i = 0; i < count; i++) {
        memcpy(interp_input(interp, 0), data.images + (size_t)i * image_size, (size_t)image_size * sizeof(float));
        interp_run(interp);
        correct += argmax(interp_output(interp, 0), n_logits) == data.labels[i];
        if (progress && (i % 256 == 255 || i == count - 1))
            fprintf(stderr, "\r%s: %d/%d images, accuracy so far %.4f", dataset_name, i + 1, count,
                    (double)correct / (i + 1));
    }
    if (progress)
        fprintf(stderr, "\n");
    interp_free(interp);
    printf("accuracy: %.4f (%d images)\n", count ? (double)correct / count : 0.0, count);
    return finish(arena, &diags, true);
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
    {"eval", cmd_eval, eval_usage, "top-1 accuracy on a data set"},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: xbarc COMMAND [options]   ('xbarc COMMAND --help' for each)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
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
            if (c->run == cmd_opt)
                print_pass_list(stdout);
            return 0;
        }
        Args a = {.argc = argc, .argv = argv, .i = 2, .command = c->name, .usage = c->usage};
        return c->run(&a);
    }
    fprintf(stderr, "xbarc: unknown command '%s'\n", argv[1]);
    print_usage(stderr);
    return EXIT_USAGE;
}
