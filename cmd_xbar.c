/* cmd_xbar.c: `xbarc arch`, `xbarc compile` and `xbarc explain`: mapping a
 * model onto crossbar tiles and looking at the result.
 *
 * compile = import and clean up (default pipeline), lower-xbar, calibrate the
 * activation ranges on real images (or take a nominal one, --calib none),
 * quantize, the mapping pipeline, emit the program, write it, print a
 * per-layer summary. */
#include "backend/backend.h"
#include "cli.h"
#include "frontend/frontend.h"
#include "runtime/perf.h"
#include "runtime/program.h"
#include "runtime/runtime.h"

#include <dirent.h>
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

/* ---- calibration images ---- */

/* Deterministic uniform [0, 1) inputs (xorshift64*, fixed seed): the
 * calibration of last resort, for models with no data set of their own. */
static void random_images(float *out, int64_t n, uint64_t seed)
{
    uint64_t s = seed ? seed : 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        out[i] = (float)((s * 0x2545F4914F6CDD1DULL) >> 40) / (float)(1 << 24);
    }
}

/* Every .pb / .npy file of a directory, in name order, as one input each. */
static float *directory_images(Arena *arena, const char *dir, int64_t image_size, int *count, Diags *diags)
{
    Loc loc = {.file = dir};
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        diag_error(diags, &loc, "cannot read the calibration directory");
        return NULL;
    }
    float *images = NULL;
    int kept = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && !memory_check((uint64_t)kept * (uint64_t)image_size, sizeof(float),
                                       "the calibration inputs", &loc, diags))
            break;
        if (pass == 1)
            images = arena_array(arena, (size_t)(kept ? kept : 1) * (size_t)image_size, sizeof(float));
        kept = 0;
        for (int i = 0; i < n; i++) {
            const char *name = names[i]->d_name;
            if (!has_suffix(name, ".pb") && !has_suffix(name, ".npy"))
                continue;
            if (pass == 1) {
                Tensor t;
                char *path = arena_printf(arena, "%s/%s", dir, name);
                if (!tensor_read(arena, path, &t, diags))
                    break;
                if (type_numel(&t.type) != image_size) {
                    Loc file = {.file = path};
                    diag_error(diags, &file, "a calibration input must have %lld elements, not %lld",
                               (long long)image_size, (long long)type_numel(&t.type));
                    break;
                }
                memcpy(images + (size_t)kept * (size_t)image_size, t.data, (size_t)image_size * sizeof(float));
            }
            kept++;
        }
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!kept)
        diag_error(diags, &loc, "no .pb or .npy calibration inputs in this directory");
    *count = kept;
    return diags->n_errors ? NULL : images;
}

/* Calibration images when --calib-count is not given: data sets and
 * directories give up to CALIB_COUNT; random data far fewer, as its ranges
 * mean nothing for accuracy and settle within a few images, while each image
 * of an ImageNet-sized model costs a full float inference (docs/benchmarks.md,
 * "Compile time"). */
enum { CALIB_COUNT = 512, RANDOM_CALIB_COUNT = 16 };

/* The calibration set of `spec` (auto, random, a data set name or a directory)
 * for inputs of `image_size` elements: at most `limit` images (0: the default). */
static float *calibration_images(Arena *arena, const char *spec, int64_t image_size, int limit, int *count,
                                 Diags *diags)
{
    if (strcmp(spec, "auto") == 0)
        spec = image_size == 28 * 28 ? "fashion-mnist" : image_size == 64 ? "digits" : "random";
    if (limit == 0)
        limit = strcmp(spec, "random") == 0 ? RANDOM_CALIB_COUNT : CALIB_COUNT;
    if (strcmp(spec, "random") == 0) {
        const char *what = arena_printf(arena, "--calib random: %d images of %lld elements (--calib-count)", limit,
                                        (long long)image_size);
        if (!memory_check((uint64_t)limit * (uint64_t)image_size, sizeof(float), what, NULL, diags))
            return NULL;
        float *images = arena_array(arena, (size_t)limit * (size_t)image_size, sizeof(float));
        random_images(images, (int64_t)limit * image_size, 0x5eed);
        *count = limit;
        return images;
    }
    if (strcmp(spec, "fashion-mnist") == 0 || strcmp(spec, "digits") == 0) {
        Dataset data;
        if (!dataset_load(arena, spec, "train", NULL, &data, diags))
            return NULL;
        if (type_numel(&data.image_type) != image_size) {
            diag_error(diags, NULL, "--calib %s: its images have %lld elements, the model's input %lld", spec,
                       (long long)type_numel(&data.image_type), (long long)image_size);
            return NULL;
        }
        *count = data.count < limit ? data.count : limit;
        return data.images;
    }
    float *images = directory_images(arena, spec, image_size, count, diags);
    if (images && *count > limit)
        *count = limit;
    return images;
}

/* ---- the mapping summary ---- */

static int64_t attr_count(const Op *op, const char *name)
{
    const Attr *attr = ir_attr(op, name);
    return attr ? attr->count : 0;
}

static void print_summary(const Graph *g, const Program *p, FILE *out)
{
    fprintf(out, "%-28s %-6s %6s %6s %4s %6s %6s %5s %5s\n", "layer", "form", "K", "N", "G", "slices", "blocks",
            "tiles", "adc");
    uint8_t *seen = arena_alloc(p->arena, (size_t)p->n_tiles + 1);
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        if (op->kind != OP_XBAR)
            continue;
        const Type *w = &op->inputs[1]->type;
        const Attr *form = ir_attr(op, "form");
        const int64_t *place, *adc_bits;
        int n_place = ir_attr_ints(op, "place", &place), n_adc = ir_attr_ints(op, "adc_bits", &adc_bits);
        int tiles = 0, max_adc = 0;
        for (int b = 0; b < n_place / 3; b++) {     /* distinct tiles: mark, count, unmark */
            int64_t t = place[3 * b];
            if (t >= 0 && t < p->n_tiles && !seen[t])
                seen[t] = 1, tiles++;
        }
        for (int b = 0; b < n_place / 3; b++)
            if (place[3 * b] >= 0 && place[3 * b] < p->n_tiles)
                seen[place[3 * b]] = 0;
        for (int b = 0; b < n_adc; b++)
            max_adc = adc_bits[b] > max_adc ? (int)adc_bits[b] : max_adc;
        fprintf(out, "%-28.28s %-6s %6lld %6lld %4lld %6lld %6lld %5d %4db\n", op->result->name,
                form ? form->s : "?", (long long)w->dims[1], (long long)w->dims[2], (long long)w->dims[0],
                (long long)ir_attr_int(op, "slices", 1), (long long)attr_count(op, "adc_bits"), tiles, max_adc);
    }
    /* Cells the blocks cover, from the mvms (blocks never overlap: the
     * emitter refuses that), not from a scan of every cell. */
    int64_t used = 0, cells = (int64_t)p->n_tiles * p->arch.rows * p->arch.cols;
    for (int k = 0; k < p->n_instrs; k++)
        if (p->instrs[k].opcode == INSTR_MVM)
            used += (int64_t)p->instrs[k].mvm.rows * p->instrs[k].mvm.phys_cols;
    fprintf(out, "tiles: %d of %dx%d cells, %d instructions, cells in blocks %.1f%%\n", p->n_tiles, p->arch.rows,
            p->arch.cols, p->n_instrs, cells ? 100.0 * (double)used / (double)cells : 0.0);
}

/* ---- xbarc compile ---- */

/* --adc lossless|alloc|uniform:B and --adc-tolerance P (docs/adc.md). */
static void check_adc_options(Args *a, const char *adc, const char *tolerance, bool float_weights,
                              AdcAllocOptions *options, int *uniform_bits)
{
    long bits = 0;
    if (strncmp(adc, "uniform:", 8) == 0 && (!parse_count(adc + 8, &bits) || bits < 1 || bits > 24))
        usage_error(a, "--adc uniform:B takes B bits from 1 to 24, not '%s'", adc + 8);
    else if (strncmp(adc, "alloc:", 6) == 0)
        options->clip = adc + 6;    /* adc-alloc checks the name */
    else if (strncmp(adc, "uniform:", 8) != 0 && strcmp(adc, "alloc") != 0 && strcmp(adc, "lossless") != 0)
        usage_error(a, "--adc takes lossless, alloc[:CLIP] or uniform:B, not '%s'", adc);
    else if (float_weights && strcmp(adc, "lossless") != 0)
        usage_error(a, "--adc %s needs quantized weights: float weights have no ADC", adc);
    *uniform_bits = (int)bits;
    if (tolerance && !a->failed) {
        char *end;
        options->tolerance = strtod(tolerance, &end);
        if (*end || end == tolerance || !(options->tolerance >= 0 && options->tolerance <= 100))
            usage_error(a, "--adc-tolerance takes points from 0 to 100, not '%s'", tolerance);
    }
}

/* The mapping pipeline for --packing, --tiles and --replicate (docs/mapping.md):
 * split full blocks when packing, so that the remainders pack together; a
 * budget without --replicate searches the replication for it. */
static const char *mapping_passes(Arena *arena, const char *packing, const char *tiles, const char *replicate)
{
    if (!packing && !tiles && !replicate)
        return mapping_pipeline;
    packing = packing ? packing : "none";
    if (!replicate)
        replicate = tiles ? "auto" : "keep";
    const char *copies = "replicate";
    if (strcmp(replicate, "none") == 0 || strcmp(replicate, "auto") == 0) {
        copies = arena_printf(arena, "replicate{mode=%s%s%s}", replicate, strcmp(replicate, "auto") == 0 ?
                              ",packing=" : "", strcmp(replicate, "auto") == 0 ? packing : "");
    } else if (strcmp(replicate, "keep") != 0) {
        char *layers = arena_strdup(arena, replicate);
        for (char *c = layers; *c; c++)
            *c = *c == ',' ? ';' : *c;
        copies = arena_printf(arena, "replicate{layers=%s,packing=%s}", layers, packing);
    }
    return arena_printf(arena, "sign-map,bit-slice,split{mode=%s},%s,place{packing=%s},adc-lossless",
                        strcmp(packing, "none") == 0 ? "balanced" : "full", copies, packing);
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
    "                      inputs, else random), fashion-mnist, digits, random\n"
    "                      (uniform [0,1), fixed seed), a directory of .pb/.npy inputs,\n"
    "                      or none: the range [0, 1] for every layer, no data and no\n"
    "                      interpretation -- for mapping studies only: accuracies\n"
    "                      are meaningless\n"
    "  --calib-count N     images used for calibration (default 512; 16 for random\n"
    "                      data, whose ranges settle within a few images)\n"
    "  --float-weights     keep weights and activations in float (no quantization,\n"
    "                      one slice, no ADC): checks the data movement alone\n"
    "  --adc MODE          lossless (default: every column sum exact), alloc[:CLIP]\n"
    "                      (the fewest bits per layer within --adc-tolerance; CLIP is\n"
    "                      max, p99.99, p99.9 or p99 (default), docs/adc.md) or\n"
    "                      uniform:B (B bits everywhere, range from calibration)\n"
    "  --adc-tolerance P   top-1 points alloc may lose on calibration images (0.5)\n"
    "  --packing MODE      none (default: one block per tile), dense (fewest tiles)\n"
    "                      or balanced (share tiles without slowing the pipeline)\n"
    "  --tiles N           tile budget; layers are replicated to use it (docs/mapping.md)\n"
    "  --replicate R       none, auto (for the budget) or LAYER=R,... copies by hand\n"
    "  --report            print the mapping report (per layer and totals) instead of\n"
    "                      the short summary\n"
    "  --report-json FILE  write the mapping report as JSON\n"
    "  --tile-map FILE     draw the tiles as SVG, every block coloured by its layer\n"
    "  --emit-ir FILE      write the mapped IR as text\n"
    "  --print-ir-after-all, --print-ir-after=NAME, --time-passes   as for 'xbarc opt'\n";

/* What `xbarc compile` was asked for, checked. */
typedef struct {
    const char *model, *arch_path, *calib, *adc, *packing, *tiles, *replicate;
    long calib_count;           /* 0: the calibration set's default */
    long tile_budget;
    bool float_weights;
    int uniform_bits;           /* --adc uniform:B */
    AdcAllocOptions adc_options;
    PassOptions pass_options;
} CompileOptions;

/* The model, lowered, calibrated, quantized, mapped and given its ADCs: the
 * graph the program is emitted from, or NULL (reported). */
static Graph *compile_graph(Arena *arena, const CompileOptions *c, AdcReport *adc_report, Diags *diags)
{
    Arch *arch = arena_alloc(arena, sizeof *arch);
    *arch = arch_default();
    if (c->arch_path && !arch_read_json(c->arch_path, arch, diags))
        return NULL;
    if (c->tiles)
        arch->tiles = (int)c->tile_budget;
    const PassOptions *passes = &c->pass_options;
    Graph *g = load_model(arena, c->model, has_suffix(c->model, ".xir") ? "" : default_pipeline, passes, diags);
    if (!g)
        return NULL;
    g->arch = arch;
    if (!pass_run_pipeline(g, lowering_pipeline, passes, diags))
        return NULL;
    float *images = NULL;
    int count = 0;
    if (!c->float_weights && strcmp(c->calib, "none") == 0) {
        calibrate_nominal(g, 0.0f, 1.0f);
        if (!pass_run_pipeline(g, "quantize", passes, diags))
            return NULL;
    } else if (!c->float_weights) {
        if (g->n_inputs != 1) {
            diag_error(diags, NULL, "%s: calibration needs a model with one input (it has %d)", c->model,
                       g->n_inputs);
            return NULL;
        }
        if (!interp_fits(g, 1, diags))      /* before the images: calibration runs the interpreter */
            return NULL;
        images = calibration_images(arena, c->calib, type_numel(&g->inputs[0]->type), (int)c->calib_count,
                                    &count, diags);
        if (!images || !calibrate_xbar(g, images, count, diags) || !pass_run_pipeline(g, "quantize", passes, diags))
            return NULL;
    }
    if (!pass_run_pipeline(g, mapping_passes(arena, c->packing, c->tiles, c->replicate), passes, diags))
        return NULL;
    if (strncmp(c->adc, "alloc", 5) == 0 && !adc_allocate(g, images, count, &c->adc_options, adc_report, diags))
        return NULL;
    if (c->uniform_bits && (!adc_collect_stats(g, images, count < 500 ? count : 500, diags) ||
                            !pass_run_pipeline(g, arena_printf(arena, "adc-alloc{bits=%d}", c->uniform_bits),
                                               passes, diags)))
        return NULL;
    return g;
}

int cmd_compile(Args *a)
{
    CompileOptions c = {.calib = "auto", .adc = "lossless", .adc_options = {.tolerance = 0.5}};
    const char *out = NULL, *calib_count_text = NULL, *emit_ir = NULL, *adc_tolerance = NULL,
               *report_json = NULL, *tile_map = NULL;
    bool report = false;
    while (a->i < a->argc && !a->failed) {
        if (opt_value(a, "-o", &out) || opt_value(a, "--arch", &c.arch_path) || opt_value(a, "--calib", &c.calib) ||
            opt_value(a, "--calib-count", &calib_count_text) || opt_value(a, "--emit-ir", &emit_ir) ||
            opt_value(a, "--print-ir-after", &c.pass_options.print_after) || opt_value(a, "--adc", &c.adc) ||
            opt_value(a, "--adc-tolerance", &adc_tolerance) || opt_value(a, "--packing", &c.packing) ||
            opt_value(a, "--tiles", &c.tiles) || opt_value(a, "--replicate", &c.replicate) ||
            opt_value(a, "--report-json", &report_json) || opt_value(a, "--tile-map", &tile_map))
            continue;
        if (opt_flag(a, "--report"))
            report = true;
        else if (opt_flag(a, "--float-weights"))
            c.float_weights = true;
        else if (opt_flag(a, "--print-ir-after-all"))
            c.pass_options.print_after_all = true;
        else if (opt_flag(a, "--time-passes"))
            c.pass_options.time_passes = true;
        else
            opt_positional(a, &c.model);
    }
    if (!a->failed && !c.model)
        usage_error(a, "%s", "missing MODEL");
    if (!a->failed && !out && !report && !report_json && !tile_map && !emit_ir)
        usage_error(a, "%s", "missing -o PROGRAM.xbp (or --report, --report-json, --tile-map, --emit-ir)");
    if (!a->failed && calib_count_text &&
        (!parse_count(calib_count_text, &c.calib_count) || c.calib_count < 1 || c.calib_count > INT_MAX))
        usage_error(a, "--calib-count takes a count from 1 to 2147483647, not '%s'", calib_count_text);
    if (!a->failed && c.packing && strcmp(c.packing, "none") && strcmp(c.packing, "dense") &&
        strcmp(c.packing, "balanced"))
        usage_error(a, "--packing takes none, dense or balanced, not '%s'", c.packing);
    if (!a->failed && c.tiles &&
        (!parse_count(c.tiles, &c.tile_budget) || c.tile_budget < 1 || c.tile_budget > 1000000000))
        usage_error(a, "--tiles takes a positive count, not '%s'", c.tiles);
    if (!a->failed && strcmp(c.calib, "none") == 0 && strcmp(c.adc, "lossless") != 0)
        usage_error(a, "--adc %s needs calibration images, and --calib none has none", c.adc);
    if (!a->failed)
        check_adc_options(a, c.adc, adc_tolerance, c.float_weights, &c.adc_options, &c.uniform_bits);
    if (a->failed)
        return EXIT_USAGE;

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
    Graph *g = ok ? compile_graph(arena, &c, &adc_report, &diags) : NULL;
    Program *p = g ? emit_program(arena, g, &diags) : NULL;
    PerfReport perf;
    if (p) {
        PerfParams perf_params = perf_params_default();
        perf_model(arena, p, &perf_params, NULL, 1, &perf);
    }
    PrintOptions print = {0};
    ok = p && (!emit_ir || write_ir(g, &print, outs, emit_ir)) && (!out || program_write(p, outs, out, &diags)) &&
         (!report_json || report_write_json(g, &perf, outs, report_json, &diags)) &&
         (!tile_map || report_write_tile_map(g, outs, tile_map, &diags));
    ok = outputs_commit(outs, ok);
    FILE *text = outputs_to_stdout(outs) ? stderr : stdout;
    if (ok && report)
        ok = report_print(g, &perf, text, &diags);
    else if (ok)
        print_summary(g, p, text);
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
