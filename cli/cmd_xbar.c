/* cmd_xbar.c: `xbarc arch`, `xbarc compile` and `xbarc explain`: mapping a
 * model onto crossbar tiles and looking at the result.
 *
 * compile = import and clean up (default pipeline), lower-xbar, calibrate the
 * activation ranges on real images (or take a nominal one, --calib none),
 * quantize, the mapping pipeline, emit the program, write it, print a
 * per-layer summary. */
#include "cli/cli.h"
#include "runtime/device.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- xbarc arch ---- */

const char arch_usage[] =
    "usage: xbarc arch [--dump] [--check FILE.json]\n"
    "\n"
    "Prints the built-in default architecture as JSON (--dump, the default), or\n"
    "checks an architecture file and prints it with every field filled in.\n"
    "The format is documented in docs/arch.md.\n";

int cmd_arch(Args *a)
{
    const char *check = NULL;
    while (a->i < a->argc && !a->failed) {
        if (!opt_flag(a, "--dump") && !opt_value(a, "--check", &check)) {
            const char *extra = NULL;
            opt_positional(a, &extra);
            if (extra)
                usage_error(a, "unexpected argument %s", extra);
        }
    }
    if (a->failed)
        return EXIT_USAGE;
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Arch arch = arch_default();
    bool ok = !check || arch_read_json(check, &arch, &diags);
    if (ok)
        fputs(arch_to_json(arena, &arch), stdout);
    return finish(arena, &diags, ok);
}

/* ---- xbarc compile ---- */

/* --calib-range RULE[,LAYER=RULE...]: at most one rule for every layer (the
 * default max) and the layers' own; each rule max, mse, pN or a magnitude,
 * and only magnitudes without calibration data.  The layers are looked up
 * by the compilation. */
static void check_calib_range(Args *a, const char *text, bool no_data, CalibRange *range)
{
    int bare = 0;
    for (const char *entry = text; *entry && !a->failed;) {
        size_t n = strcspn(entry, ",");
        char rule_text[64] = "";
        const char *eq = memchr(entry, '=', n), *rule = eq ? eq + 1 : entry;
        size_t length = (size_t)(entry + n - rule);
        CalibRange parsed;
        if (length < sizeof rule_text)
            memcpy(rule_text, rule, length);
        if (length >= sizeof rule_text || !calib_range_parse(rule_text, &parsed))
            usage_error(a, "--calib-range takes max, mse, pN (50 <= N < 100, e.g. p99.9) or a positive magnitude "
                        "(e.g. 1), for every layer or as LAYER=RULE, not '%s'", length < sizeof rule_text ? rule_text : text);
        else if (no_data && parsed.rule != RANGE_VALUE)
            usage_error(a, "--calib-range %s needs calibration data, and --calib none has none", rule_text);
        else if (!eq && bare++)
            usage_error(a, "--calib-range has more than one rule for every layer: '%s'", text);
        else if (!eq)
            *range = parsed;
        entry += n + (entry[n] == ',');
    }
}

/* --adc arch|lossless|alloc[:CLIP]|uniform:B[:RANGE] and --adc-tolerance P
 * (docs/adc.md). */
static void check_adc_options(Args *a, const char *adc, const char *tolerance, bool float_weights,
                              AdcAllocOptions *options, int *uniform_bits, const char **uniform_clip)
{
    long bits = 0;
    if (strncmp(adc, "uniform:", 8) == 0) {
        const char *colon = strchr(adc + 8, ':');
        char count[16] = "";
        size_t length = colon ? (size_t)(colon - adc - 8) : strlen(adc + 8);
        if (length < sizeof count)
            memcpy(count, adc + 8, length);
        if (length >= sizeof count || !parse_count(count, &bits) || bits < 1 || bits > 24)
            usage_error(a, "--adc uniform:B takes B bits from 1 to 24, not '%s'", length < sizeof count ? count : adc + 8);
        else if (colon && !(*uniform_clip = adc_range_clip(colon + 1)))
            usage_error(a, "--adc uniform:B:RANGE takes calib, max, p99.99, p99.9, p99 or a fraction of max above 0 "
                        "and at most 1 (e.g. 0.25), not '%s'", colon + 1);
    } else if (strncmp(adc, "alloc:", 6) == 0) {
        options->clip = adc + 6;    /* adc-alloc checks the name */
    } else if (strncmp(adc, "lossless:", 9) == 0 || strncmp(adc, "arch:", 5) == 0) {
        usage_error(a, "--adc lossless and --adc arch take no range, not '%s': a range of your choice is "
                    "uniform:B:RANGE (docs/adc.md)", adc);
    } else if (strcmp(adc, "alloc") != 0 && strcmp(adc, "lossless") != 0 && strcmp(adc, "arch") != 0) {
        usage_error(a, "--adc takes arch, lossless, alloc[:CLIP] or uniform:B[:RANGE], not '%s'", adc);
    }
    if (!a->failed && float_weights && strcmp(adc, "lossless") != 0 && strcmp(adc, "arch") != 0)
        usage_error(a, "--adc %s needs quantized weights: float weights have no ADC", adc);
    *uniform_bits = (int)bits;
    if (tolerance && !a->failed) {
        char *end;
        options->tolerance = strtod(tolerance, &end);
        if (*end || end == tolerance || !(options->tolerance >= 0 && options->tolerance <= 100))
            usage_error(a, "--adc-tolerance takes points from 0 to 100, not '%s'", tolerance);
    }
}

const char compile_usage[] =
    "usage: xbarc compile MODEL.onnx|IN.xir [--arch A.json] [--calib SET] [-o PROGRAM.xbp]\n"
    "                     [--report] [--report-json FILE] [--tile-map FILE] [--emit-ir FILE]\n"
    "\n"
    "Maps a model onto crossbar tiles and writes a program for 'xbarc run'\n"
    "(docs/crossbar.md, docs/program-format.md), then prints a mapping summary.\n"
    "Without -o only the reports asked for are made; at least one of -o, --report,\n"
    "--report-json, --tile-map and --emit-ir is needed.  The files are written\n"
    "together or not at all; FILE '-' is stdout (the summary then goes to stderr).\n"
    "\n"
    "  -o FILE             the program to write\n"
    "  --arch FILE         architecture (JSON, docs/arch.md); default: built in\n"
    "  --calib SET         activation ranges from: auto (default: the training split\n"
    "                      of fashion-mnist for 28x28 inputs, of digits for 64-element\n"
    "                      inputs, said on stderr; else random, with a warning),\n"
    "                      fashion-mnist, digits, random\n"
    "                      (uniform [0,1), fixed seed), a directory of .pb/.npy inputs\n"
    "                      (one each, or batches [N, ...]),\n"
    "                      a data set path as eval's --dataset takes (its training\n"
    "                      split; default options: docs/datasets.md),\n"
    "                      or none: the range [0, 1] for every layer, no data and no\n"
    "                      interpretation -- for mapping studies only: accuracies\n"
    "                      are meaningless\n"
    "  --calib-count N     images used for calibration (default 512; 16 for random\n"
    "                      data, whose ranges settle within a few images)\n"
    "  --calib-range R     each layer's range from its calibration inputs: max\n"
    "                      (default: the largest magnitude), pN (the magnitude N%\n"
    "                      of them stay within: p99.9, p99.99) or mse (least\n"
    "                      squared error of clipping plus rounding), or a magnitude\n"
    "                      V (e.g. 1: every layer's DAC full scale is V in the units\n"
    "                      of its input, [0, V], or [-V, V] for inputs the data took\n"
    "                      below 0; with --calib none, [0, V]); LAYER=R entries,\n"
    "                      comma-separated, give layers their own (max,/0/Gemm=1);\n"
    "                      the JSON report gives each layer's range and the values\n"
    "                      clipped\n"
    "  --calib-threads N   calibration images on N threads, an interpreter each\n"
    "                      (default 1): the same ranges, bit for bit, for any N\n"
    "  --split, --shuffle SEED, --offset N, --scale S, --resize N, --center-crop N,\n"
    "  --mean a,b,c, --std a,b,c\n"
    "                      how --calib's data set is read, as eval reads --dataset\n"
    "                      (docs/datasets.md)\n"
    "  --float-weights     keep weights and activations in float (no quantization,\n"
    "                      one slice, no ADC): checks the data movement alone\n"
    "  --adc MODE          ADC bits per block, never more than the architecture's\n"
    "                      adc_bits (docs/adc.md): arch (default: lossless where adc_bits\n"
    "                      suffice, else adc_bits with the range of the largest\n"
    "                      calibration sum; the summary says what that costs),\n"
    "                      lossless (every column sum exact, or an error), alloc[:CLIP]\n"
    "                      (the fewest bits per layer within --adc-tolerance; CLIP is\n"
    "                      max, p99.99, p99.9 or p99 (default)) or uniform:B[:RANGE]\n"
    "                      (B bits everywhere, every block's full scale from RANGE:\n"
    "                      calib (default: the largest calibration column sum),\n"
    "                      p99.99, p99.9, p99 (percentiles of the calibration sums),\n"
    "                      max (the largest sum the block can produce: rows x top\n"
    "                      input chunk x top cell level, CrossSim's range MAX; needs\n"
    "                      no data) or a fraction of max, 0 < F <= 1 (e.g. 0.25))\n"
    "  --adc-range LAYER=RANGE,...\n"
    "                      with uniform:B, the named layers' own RANGE (layer names\n"
    "                      as --report prints them, e.g. /0/Gemm=0.25)\n"
    "  --adc-tolerance P   top-1 points alloc may lose on calibration images (0.5)\n"
    "  --packing MODE      balanced (default: share tiles only where no pipeline stage\n"
    "                      gets slower: the fewest tiles at full throughput), dense\n"
    "                      (fewest tiles, blocks may take turns) or none (one block\n"
    "                      per tile)\n"
    "  --tiles N           tile budget; layers are replicated to use it (docs/mapping.md)\n"
    "  --replicate R       none, auto (for the budget) or LAYER=R,... copies by hand\n"
    "  --report            print the mapping report (per layer and totals) instead of\n"
    "                      the short summary\n"
    "  --report-json FILE  write the mapping report as JSON\n"
    "  --tile-map FILE     draw the tiles as SVG, every block coloured by its layer\n"
    "  --emit-ir FILE      write the mapped IR as text\n"
    "  --train-mapping M   map the weights for in-memory training, no bit slicing\n"
    "                      (docs/train-mapping.md): device (one bipolar device per\n"
    "                      weight: offset, cell_bits = weight_bits), pair (a\n"
    "                      differential pair: pair-analog, cell_bits = weight_bits - 1)\n"
    "                      or split (a fast low-significance pair and a slow high one:\n"
    "                      two slices of ceil((weight_bits - 1) / 2) bits); a cell\n"
    "                      holds at most 8 bits\n"
    "  --train-algorithm A what training adds, in the training section of --report and\n"
    "                      --report-json (needs one of them; so do the three below): sgd\n"
    "                      (default: in-memory SGD), mixed (mixed precision: a digital\n"
    "                      accumulator) or ttv2 (Tiki-Taka v2: fast arrays A and a\n"
    "                      transfer buffer H); in tiles, buffer bytes, area and the\n"
    "                      time of one training step\n"
    "  --train-layers L,...  the trained crossbar layers (default: the fully connected\n"
    "                      ones after the last convolution)\n"
    "  --train-bl N        pulse slots of one update (default 10, Gokmen and Vlasov)\n"
    "  --train-device D    the device (a preset or a device file, docs/devices.md)\n"
    "                      whose pulse time a slot takes (default idealized)\n"
    "  --print-ir-after-all, --print-ir-after=NAME, --time-passes   as for 'xbarc opt'\n"
    INPUT_SHAPE_USAGE;

/* Every option with the value compile used, for the JSON report. */
static void record_options(ReportContext *rc, const CompileOptions *c, const char *calib_count, const char *tolerance,
                           Arena *arena)
{
    rc->version = XBARC_VERSION;
    report_option(rc, "model", c->model, true);
    /* --input-shape NAME=DxD..., each binding as given; symbolic dims left to the importer otherwise */
    const char *shapes = "";
    for (int i = 0; i < c->n_input_shapes; i++) {
        const OnnxBinding *b = &c->input_shapes[i];
        shapes = arena_printf(arena, "%s%s%s=", shapes, i ? "," : "", b->input_name);
        for (int d = 0; d < b->rank; d++)
            shapes = arena_printf(arena, "%s%s%lld", shapes, d ? "x" : "", (long long)b->dims[d]);
    }
    report_option(rc, "input_shape", c->n_input_shapes ? shapes : "(the model's; a symbolic batch is 1)",
                  c->n_input_shapes > 0);
    report_option(rc, "arch", c->arch_path ? c->arch_path : "(built in)", c->arch_path != NULL);
    report_option(rc, "calib", c->calib, strcmp(c->calib, "auto") != 0);
    report_option(rc, "calib_count", calib_count ? calib_count : "(the set's default)", calib_count != NULL);
    report_option(rc, "float_weights", c->float_weights ? "true" : "false", c->float_weights);
    report_option(rc, "adc", c->adc, strcmp(c->adc, "arch") != 0);
    report_option(rc, "adc_range", c->adc_ranges ? c->adc_ranges : "(the --adc RANGE for every layer)",
                  c->adc_ranges != NULL);
    report_option(rc, "adc_tolerance", tolerance ? tolerance : arena_printf(arena, "%g", c->adc_options.tolerance),
                  tolerance != NULL);
    report_option(rc, "packing", c->packing ? c->packing : MAPPING_DEFAULT_PACKING, c->packing != NULL);
    report_option(rc, "tiles", c->tiles ? c->tiles : "(the architecture's)", c->tiles != NULL);
    report_option(rc, "replicate", c->replicate ? c->replicate : c->tiles ? "auto" : "none", c->replicate != NULL);
    report_option(rc, "train_mapping", c->train_mapping ? c->train_mapping : "none", c->train_mapping != NULL);
}

/* --train-algorithm, --train-bl and --train-device of the report's training
 * section (docs/train-mapping.md): a request and the device's pulse time. */
typedef struct {
    const char *algorithm, *bl, *device, *layers;
} TrainArgs;

static bool train_option(Args *a, TrainArgs *t)
{
    return opt_value(a, "--train-algorithm", &t->algorithm) || opt_value(a, "--train-bl", &t->bl) ||
           opt_value(a, "--train-device", &t->device) || opt_value(a, "--train-layers", &t->layers);
}

static void record_train_options(ReportContext *rc, const TrainArgs *t, const TrainMapRequest *request, Arena *arena)
{
    report_option(rc, "train_algorithm", train_algorithm_name(request->algorithm), t->algorithm != NULL);
    report_option(rc, "train_layers", t->layers ? t->layers : "(the fully connected ones after the last convolution)",
                  t->layers != NULL);
    report_option(rc, "train_bl", arena_printf(arena, "%d", request->bl), t->bl != NULL);
    report_option(rc, "train_device", t->device ? t->device : "idealized", t->device != NULL);
}

static void train_args_check(Args *a, const TrainArgs *t, bool float_weights, TrainMapRequest *request)
{
    long bl = TRAIN_MAP_DEFAULT_BL;
    *request = (TrainMapRequest){.algorithm = TRAIN_SGD};
    if (!a->failed && t->algorithm && !train_algorithm_from_name(t->algorithm, &request->algorithm))
        usage_error(a, "--train-algorithm takes sgd, mixed or ttv2, not '%s'", t->algorithm);
    if (!a->failed && t->bl && (!parse_count(t->bl, &bl) || bl < 1 || bl > 1000000))
        usage_error(a, "--train-bl takes 1 to 1000000 pulse slots, not '%s'", t->bl);
    if (!a->failed && float_weights && (t->algorithm || t->bl || t->device || t->layers))
        usage_error(a, "%s", "--train-algorithm, --train-bl, --train-device and --train-layers cost the training of "
                    "quantized weights; --float-weights has none");
    request->bl = (int)bl;
    size_t n = t->layers ? strlen(t->layers) : 0;
    if (!a->failed && t->layers && (!n || t->layers[0] == ',' || t->layers[n - 1] == ',' || strstr(t->layers, ",,")))
        usage_error(a, "--train-layers takes LAYER,LAYER,... (names as --report prints them), not '%s'", t->layers);
}

/* The names of --train-layers, in `arena`. */
static void train_layer_names(Arena *arena, const char *text, TrainMapRequest *request)
{
    int n = 1;
    for (const char *c = text; *c; c++)
        n += *c == ',';
    const char **names = arena_array(arena, (size_t)n, sizeof(char *));
    for (const char *entry = text;; entry++) {
        size_t length = strcspn(entry, ",");
        names[request->n_layers++] = arena_printf(arena, "%.*s", (int)length, entry);
        entry += length;
        if (!*entry)
            break;
    }
    request->layers = names;
}


bool compile_option(Args *a, CompileArgs *ca)
{
    CompileOptions *c = &ca->c;
    if (input_shape_option(a, &ca->shapes) || opt_value(a, "--arch", &c->arch_path) ||
        dataset_option(a, &c->calib_data) || opt_value(a, "--calib", &c->calib) ||
        opt_value(a, "--calib-count", &ca->calib_count) || opt_value(a, "--calib-range", &ca->calib_range) ||
        opt_value(a, "--calib-threads", &ca->calib_threads) ||
        opt_value(a, "--adc", &c->adc) || opt_value(a, "--adc-range", &c->adc_ranges) ||
        opt_value(a, "--adc-tolerance", &ca->adc_tolerance) || opt_value(a, "--packing", &c->packing) ||
        opt_value(a, "--tiles", &c->tiles) || opt_value(a, "--replicate", &c->replicate) ||
        opt_value(a, "--train-mapping", &c->train_mapping))
        return true;
    if (opt_flag(a, "--float-weights"))
        return c->float_weights = true;
    return false;
}

CompileArgs compile_args_default(void)
{
    return (CompileArgs){.c = {.calib = "auto", .adc = "arch", .uniform_clip = "max",
                               .adc_options = {.tolerance = 0.5}}};
}

void compile_args_check(Args *a, CompileArgs *ca)
{
    CompileOptions *c = &ca->c;
    /* The data set options read --calib's set; it is named and counted by
     * --calib and --calib-count alone. */
    if (!a->failed && (c->calib_data.spec || c->calib_data.limit))
        usage_error(a, "compile reads its data with --calib SPEC and --calib-count N, not %s",
                    c->calib_data.spec ? "--dataset" : "--limit");
    c->calib_range = (CalibRange){0};
    if (!a->failed && ca->calib_range)
        check_calib_range(a, ca->calib_range, strcmp(c->calib, "none") == 0, &c->calib_range);
    c->calib_ranges = strchr(ca->calib_range ? ca->calib_range : "", '=') ? ca->calib_range : NULL;
    c->calib_count = 0;
    if (!a->failed && ca->calib_count &&
        (!parse_count(ca->calib_count, &c->calib_count) || c->calib_count < 1 || c->calib_count > INT_MAX))
        usage_error(a, "--calib-count takes a count from 1 to 2147483647, not '%s'", ca->calib_count);
    c->threads = 1;
    if (!a->failed && ca->calib_threads &&
        (!parse_count(ca->calib_threads, &c->threads) || c->threads < 1 || c->threads > 256))
        usage_error(a, "--calib-threads takes 1 to 256, not '%s'", ca->calib_threads);
    if (!a->failed && c->packing && strcmp(c->packing, "none") && strcmp(c->packing, "dense") &&
        strcmp(c->packing, "balanced"))
        usage_error(a, "--packing takes none, dense or balanced, not '%s'", c->packing);
    if (!a->failed && c->tiles &&
        (!parse_count(c->tiles, &c->tile_budget) || c->tile_budget < 1 || c->tile_budget > 1000000000))
        usage_error(a, "--tiles takes a positive count, not '%s'", c->tiles);
    c->uniform_bits = 0;
    c->uniform_clip = "max";
    c->adc_options = (AdcAllocOptions){.tolerance = 0.5};
    if (!a->failed)
        check_adc_options(a, c->adc, ca->adc_tolerance, c->float_weights, &c->adc_options, &c->uniform_bits,
                          &c->uniform_clip);
    if (!a->failed && c->adc_ranges && !c->uniform_bits)
        usage_error(a, "--adc-range applies to --adc uniform:B[:RANGE], not '%s'", c->adc);
    if (!a->failed && strcmp(c->calib, "none") == 0 && strcmp(c->adc, "lossless") != 0 &&
        strcmp(c->adc, "arch") != 0 && !(c->uniform_bits && adc_clip_needs_no_data(c->uniform_clip)))
        usage_error(a, "--adc %s needs calibration images, and --calib none has none", c->adc);
    TrainMapping mapping;
    if (!a->failed && c->train_mapping && !train_mapping_from_name(c->train_mapping, &mapping))
        usage_error(a, "--train-mapping takes device, pair or split, not '%s'", c->train_mapping);
    if (!a->failed && c->train_mapping && c->float_weights)
        usage_error(a, "%s", "--train-mapping maps quantized weights onto devices; --float-weights has none");
    c->input_shapes = ca->shapes.shapes;
    c->n_input_shapes = ca->shapes.count;
}

int cmd_compile(Args *a)
{
    CompileArgs ca = compile_args_default();
    CompileOptions *cp = &ca.c;
    const char *out = NULL, *emit_ir = NULL, *report_json = NULL, *tile_map = NULL;
    bool report = false;
    TrainArgs train = {0};
    while (a->i < a->argc && !a->failed) {
        if (opt_value(a, "-o", &out) || compile_option(a, &ca) || train_option(a, &train) ||
            opt_value(a, "--emit-ir", &emit_ir) ||
            opt_value(a, "--print-ir-after", &cp->pass_options.print_after) ||
            opt_value(a, "--report-json", &report_json) || opt_value(a, "--tile-map", &tile_map))
            continue;
        if (opt_flag(a, "--report"))
            report = true;
        else if (opt_flag(a, "--print-ir-after-all"))
            cp->pass_options.print_after_all = true;
        else if (opt_flag(a, "--time-passes"))
            cp->pass_options.time_passes = true;
        else
            opt_positional(a, &cp->model);
    }
    if (!a->failed && !cp->model)
        usage_error(a, "%s", "missing MODEL");
    if (!a->failed && !out && !report && !report_json && !tile_map && !emit_ir)
        usage_error(a, "%s", "missing -o PROGRAM.xbp (or --report, --report-json, --tile-map, --emit-ir)");
    compile_args_check(a, &ca);
    TrainMapRequest request;
    train_args_check(a, &train, cp->float_weights, &request);
    if (!a->failed && !report && !report_json && (train.algorithm || train.bl || train.device || train.layers))
        usage_error(a, "%s", "--train-algorithm, --train-bl, --train-device and --train-layers shape the mapping "
                    "report's training section: add --report or --report-json");
    /* the reports' training section; a program alone needs none of it */
    bool training = (report || report_json) &&
                    (cp->train_mapping || train.algorithm || train.bl || train.device || train.layers);
    if (a->failed)
        return EXIT_USAGE;
    CompileOptions c = ca.c;
    const char *calib_count_text = ca.calib_count, *adc_tolerance = ca.adc_tolerance;

    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    /* every file checked before the work, every problem at once */
    Outputs *outs = outputs_new(arena, &diags);
    const char *files[] = {emit_ir, out, report_json, tile_map};
    bool ok = true;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        ok = (!files[i] || outputs_add(outs, files[i])) && ok;
    AdcReport adc_report = {0};
    AdcFitReport fit = {0};
    Graph *g = ok ? compile_model(arena, &c, &adc_report, &fit, &diags) : NULL;
    Program *p = g ? emit_program(arena, g, &diags) : NULL;
    PerfReport perf;
    PerfParams perf_params = perf_params_default();
    if (p)
        perf_model(arena, p, &perf_params, NULL, 1, &perf);
    /* what training adds, with the device's pulse time (docs/train-mapping.md) */
    TrainMap train_map_report;
    DeviceModel device = {0};
    const char *device_why = training ? device_load(&device, train.device ? train.device : "idealized", arena) : NULL;
    if (device_why) {
        diag_error(&diags, NULL, "--train-device: %s", device_why);     /* it names the device */
        p = NULL;
    }
    request.pulse_ns = training ? device.pulse_ns : 0;
    if (train.layers)
        train_layer_names(arena, train.layers, &request);
    if (p && training && !train_map(arena, p, &perf_params, &request, &train_map_report, &diags))
        p = NULL;
    ReportContext context = {.adc_clipped_layers = fit.clipped_layers, .adc_images = fit.images,
                             .adc_agreement = fit.clipped_layers ? fit.agreement : -1,
                             .training = training && p ? &train_map_report : NULL};
    record_options(&context, &c, calib_count_text, adc_tolerance, arena);
    if (training)       /* the training section's own (docs/train-mapping.md 4) */
        record_train_options(&context, &train, &request, arena);
    PrintOptions print = {0};
    ok = p && (!emit_ir || write_ir(g, &print, outs, emit_ir)) && (!out || program_write(p, outs, out, &diags)) &&
         (!report_json || report_write_json(g, &perf, &context, outs, report_json, &diags)) &&
         (!tile_map || report_write_tile_map(g, outs, tile_map, &diags));
    ok = outputs_commit(outs, ok);
    FILE *text = outputs_to_stdout(outs) ? stderr : stdout;
    if (ok && report)
        ok = report_print(g, &perf, &context, text, &diags);
    else if (ok)
        report_summary(g, p, text);
    if (ok && !report)
        ok = report_print_choices(g, &context, text, &diags);
    if (ok)
        adc_fit_print(&fit, text);
    if (ok && adc_report.n_layers)
        adc_report_print(&adc_report, text);
    return finish(arena, &diags, ok);
}

/* ---- xbarc explain ---- */

const char explain_usage[] =
    "usage: xbarc explain PROGRAM.xbp\n"
    "\n"
    "Lists a program: its architecture, buffers, tiles and one row per instruction.\n";

int cmd_explain(Args *a)
{
    const char *path = NULL;
    while (a->i < a->argc && !a->failed)
        opt_positional(a, &path);
    if (!a->failed && !path)
        usage_error(a, "%s", "missing PROGRAM.xbp");
    if (a->failed)
        return EXIT_USAGE;
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Program *p = program_read(arena, path, &diags);
    if (p)
        program_explain(p, stdout);
    return finish(arena, &diags, p != NULL);
}
