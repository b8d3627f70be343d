/* cmd_graph.c: `xbarc import` and `xbarc opt`, the commands on graph IR. */
#include "cli/cli.h"

#include <string.h>

const char import_usage[] =
    "usage: xbarc import MODEL.onnx [-o OUT.xir] [--elide-constants] [--input-shape NAME=DxDx...]\n"
    "\n"
    "Imports an ONNX model (opset 7 to 17) into xbarc's graph IR and prints it as\n"
    "text (stdout unless -o).  No pass runs: see 'xbarc opt'.\n"
    "\n"
    "  -o FILE              write the IR to FILE instead of stdout\n"
    "  --elide-constants    print weights as 'elided' (for reading; not parseable)\n"
    INPUT_SHAPE_USAGE;

int cmd_import(Args *a)
{
    const char *model = NULL, *out = NULL;
    PrintOptions print = {0};
    InputShapes shapes = {0};
    while (a->i < a->argc && !a->failed) {
        if (opt_value(a, "-o", &out) || input_shape_option(a, &shapes))
            continue;
        if (opt_flag(a, "--elide-constants")) {
            print.elide_constants = true;
            continue;
        }
        opt_positional(a, &model);
    }
    if (!a->failed && !model)
        usage_error(a, "%s", "missing MODEL.onnx");
    if (a->failed)
        return EXIT_USAGE;

    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Outputs *outs = outputs_new(arena, &diags);
    out = out ? out : "-";
    Graph *g = outputs_add(outs, out) ? onnx_import(arena, model, shapes.shapes, shapes.count, &diags) : NULL;
    bool ok = outputs_commit(outs, g && write_ir(g, &print, outs, out));
    return finish(arena, &diags, ok);
}

/* ---- xbarc opt ---------------------------------------------------------------- */

void print_pass_list(FILE *out)
{
    fprintf(out, "\npasses:\n");
    for (int i = 0; i < pass_registry_count; i++)
        fprintf(out, "  %-20s %s\n", pass_registry[i].name, pass_registry[i].summary);
    fprintf(out, "default pipeline: %s\n", default_pipeline);
}

const char opt_usage[] =
    "usage: xbarc opt IN.xir|MODEL.onnx --passes=a,b,... [-o OUT.xir] [options]\n"
    "\n"
    "Runs the named passes, in order, on textual IR (or an imported ONNX model),\n"
    "verifying the IR after each, and prints the result.\n"
    "\n"
    "  --passes=LIST           comma-separated pass names; 'default' is the default\n"
    "                          pipeline; empty runs none (parse, verify, print)\n"
    "  -o FILE                 write the IR to FILE instead of stdout\n"
    "  --print-ir-after-all    print the IR after every pass (stderr)\n"
    "  --print-ir-after=NAME   print the IR after pass NAME (stderr)\n"
    "  --time-passes           print the time each pass took (stderr)\n"
    "  --elide-constants       print weights as 'elided'\n"
    INPUT_SHAPE_USAGE;

int cmd_opt(Args *a)
{
    const char *input = NULL, *out = NULL, *pipeline = NULL;
    PassOptions pass_options = {0};
    PrintOptions print = {0};
    InputShapes shapes = {0};
    while (a->i < a->argc && !a->failed) {
        if (opt_value(a, "--passes", &pipeline) || opt_value(a, "-o", &out) || input_shape_option(a, &shapes) ||
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
        opt_positional(a, &input);
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
    Outputs *outs = outputs_new(arena, &diags);
    out = out ? out : "-";
    Graph *g = outputs_add(outs, out) ? load_model(arena, input, shapes.shapes, shapes.count, pipeline, &pass_options, &diags) : NULL;
    bool ok = outputs_commit(outs, g && write_ir(g, &print, outs, out));
    return finish(arena, &diags, ok);
}

