/* main.c: the xbarc command-line driver: the table of subcommands (one
 * function each, in cli/cmd_*.c; the helpers they share are in
 * cli/options.c).
 *
 * Exit status: 0 success, 1 bad input (a message names the file and what is
 * wrong), 2 bad usage.  A command's output files go through one Outputs set
 * (ir/file.c), so a failure never leaves a partial file behind. */
#include "cli/cli.h"

#include <string.h>

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
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
    {"train", cmd_train, train_usage, "train a program's last layers in memory: transposed reads, pulse updates"},
    {"sweep", cmd_sweep, sweep_usage, "accuracy against a non-ideality, over seeds (CSV, SVG)"},
    {"plot", cmd_plot, plot_usage, "draw a sweep's results (PNG, PDF, SVG; Pareto fronts)"},
    {"device", cmd_device, device_usage, "a device update model and its pulse response (docs/devices.md)"},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: xbarc COMMAND [options]   ('xbarc COMMAND --help' for each)\n"
                 "       xbarc --version\n\ncommands:\n");
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
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("xbarc %s\n", XBARC_VERSION);
        return 0;
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
