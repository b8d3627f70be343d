/* compile.c: the whole compilation, from a model file to a mapped graph
 * (`xbarc compile`; docs/crossbar.md, docs/mapping.md, docs/adc.md).
 *
 * Import and clean up (the default pipeline), lower-xbar, calibrate the
 * activation ranges on real images (or take a nominal one, --calib none),
 * quantize, the mapping pipeline for the packing and replication asked for,
 * then the ADCs, never more bits than the architecture's adc_bits: its own
 * (lossless where they suffice, else clipped from calibration), lossless,
 * allocated by the search, or uniform. */
#include "frontend/frontend.h"
#include "study/study.h"

#include <stdlib.h>
#include <string.h>

static bool is_xir(const char *path)
{
    size_t n = strlen(path);
    return n >= 4 && strcmp(path + n - 4, ".xir") == 0;
}

Graph *load_model(Arena *arena, const char *path, const OnnxBinding *shapes, int n_shapes, const char *pipeline,
                  const PassOptions *pass_options, Diags *diags)
{
    if (n_shapes && is_xir(path)) {
        Loc loc = {.file = path};
        diag_error(diags, &loc, "--input-shape applies to ONNX models: the shapes of textual IR are fixed");
        return NULL;
    }
    Graph *g = is_xir(path) ? ir_parse_file(arena, path, diags) : onnx_import(arena, path, shapes, n_shapes, diags);
    if (!g)
        return NULL;
    if (pipeline && *pipeline && !pass_run_pipeline(g, pipeline, pass_options, diags))
        return NULL;
    return g;
}

/* No block may get more ADC bits than the architecture's adc_bits: --adc
 * lossless (the blocks' lossless bits) and --adc uniform:B are refused
 * beyond them, naming the layer. */
static bool adc_within_arch(const Graph *g, const char *adc, int uniform_bits, Diags *diags)
{
    if (uniform_bits) {
        if (uniform_bits <= g->arch->adc_bits)
            return true;
        diag_error(diags, NULL, "--adc %s: the architecture's ADCs have %d bits (adc_bits), and no layer gets more "
                   "(docs/adc.md)", adc, g->arch->adc_bits);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        const int64_t *v;
        int n = ir_attr_ints(op, "adc_bits", &v), most = 0;
        for (int b = 0; b < n; b++)
            most = v[b] > most ? (int)v[b] : most;
        if (op->dead || op->kind != OP_XBAR || most <= g->arch->adc_bits)
            continue;
        diag_error(diags, &op->loc, "--adc lossless: layer %s needs %d-bit ADCs to convert every column sum "
                   "exactly, the architecture has %d (adc_bits): raise adc_bits, or use --adc arch (the range "
                   "clipped from calibration) or --adc alloc (docs/adc.md)", ir_layer_name(g, op), most, g->arch->adc_bits);
        ok = false;
    }
    return ok;
}

const char *adc_range_clip(const char *range)
{
    static const char *const same[] = {"p99.99", "p99.9", "p99"};
    if (strcmp(range, "calib") == 0)
        return "max";
    if (strcmp(range, "max") == 0)
        return "reach";
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (strcmp(range, same[i]) == 0)
            return same[i];
    char *end;
    double fraction = strtod(range, &end);
    bool number = (range[0] >= '0' && range[0] <= '9') || range[0] == '.';
    return number && !*end && fraction > 0 && fraction <= 1 ? range : NULL;
}

/* The LAYER=VALUE entries of a comma-separated option (--adc-range,
 * --calib-range): each named layer's xbar ops get the string attribute
 * `attr`, the value as `translate` gives it (NULL: a bad value); entries
 * without '=' are the option's own business (bare_ok) or an error.  Every
 * bad entry and every name that matches no crossbar layer is reported. */
static bool set_layer_attrs(Graph *g, const char *option, const char *entries, bool bare_ok, const char *attr,
                            const char *(*translate)(const char *value), const char *values, Diags *diags)
{
    bool ok = true;
    for (const char *entry = entries; *entry;) {
        size_t n = strcspn(entry, ",");
        char *text = arena_printf(diags->arena, "%.*s", (int)n, entry);
        char *eq = strrchr(text, '=');
        entry += n + (entry[n] == ',');
        if (!eq && bare_ok)
            continue;
        const char *value = eq ? translate(eq + 1) : NULL;
        if (!value) {
            diag_error(diags, NULL, "%s: '%s' is not LAYER=VALUE with VALUE %s", option, text, values);
            ok = false;
            continue;
        }
        *eq = 0;
        int found = 0;
        for (int i = 0; i < g->n_ops; i++) {
            Op *op = g->ops[i];
            if (!op->dead && op->kind == OP_XBAR && strcmp(ir_layer_name(g, op), text) == 0) {
                ir_set_string(g, op, attr, value);
                found++;
            }
        }
        if (!found) {
            diag_error(diags, NULL, "%s: no crossbar layer is named '%s' (the names of the mapping report, "
                       "xbarc compile --report)", option, text);
            ok = false;
        }
    }
    return ok;
}

/* A --calib-range rule as the attribute act_range holds it, or NULL. */
static const char *calib_rule_text(const char *rule)
{
    CalibRange parsed;
    return calib_range_parse(rule, &parsed) ? rule : NULL;
}

bool adc_clip_needs_no_data(const char *clip)
{
    return strcmp(clip, "full") == 0 || strcmp(clip, "reach") == 0 || (clip[0] >= '0' && clip[0] <= '9') ||
           clip[0] == '.';
}

Graph *compile_model(Arena *arena, const CompileOptions *c, AdcReport *adc_report, AdcFitReport *fit,
                     Diags *diags)
{
    Arch *arch = arena_alloc(arena, sizeof *arch);
    *arch = arch_default();
    if (c->arch_path && !arch_read_json(c->arch_path, arch, diags))
        return NULL;
    for (int i = 0; i < c->n_arch_sets; i++) {
        const char *set = c->arch_sets[i], *eq = strchr(set, '=');
        int field = eq ? arch_field_find(arena_printf(arena, "%.*s", (int)(eq - set), set)) : -1;
        const char *why = field < 0 ? "is not FIELD=VALUE with an architecture field (docs/arch.md)"
                                    : arch_field_parse(arch, field, eq + 1, arch_field_is_name(field));
        if (why) {
            diag_error(diags, NULL, "architecture %s: %s", set, why);
            return NULL;
        }
    }
    TrainMapping train_mapping = TRAIN_MAP_NONE;
    if (c->train_mapping && !train_mapping_from_name(c->train_mapping, &train_mapping)) {
        diag_error(diags, NULL, "--train-mapping takes device, pair or split, not '%s'", c->train_mapping);
        return NULL;
    }
    const char *why = train_mapping_arch(train_mapping, arch, arena);     /* no bit slicing (docs/train-mapping.md) */
    if (why) {
        diag_error(diags, NULL, "--train-mapping %s: %s", c->train_mapping, why);
        return NULL;
    }
    if (c->n_arch_sets && !arch_validate(arch, c->arch_path ? c->arch_path : "(built in)", diags))
        return NULL;
    if (c->tiles)
        arch->tiles = (int)c->tile_budget;
    const PassOptions *passes = &c->pass_options;
    Graph *g = load_model(arena, c->model, c->input_shapes, c->n_input_shapes, is_xir(c->model) ? "" : default_pipeline,
                          passes, diags);
    if (!g)
        return NULL;
    g->arch = arch;
    if (!pass_run_pipeline(g, lowering_pipeline, passes, diags))
        return NULL;
    float *images = NULL;
    int count = 0;
    if (c->calib_ranges && !set_layer_attrs(g, "--calib-range", c->calib_ranges, true, "act_range", calib_rule_text,
                                            "max, mse, pN or a positive magnitude", diags))
        return NULL;
    if (!c->float_weights && strcmp(c->calib, "none") == 0) {
        calibrate_nominal(g, 0.0f, c->calib_range.rule == RANGE_VALUE ? c->calib_range.value : 1.0f);
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
        images = calibration_images(arena, c->calib, &c->calib_data, &g->inputs[0]->type, (int)c->calib_count,
                                    &count, diags);
        if (!images || !calibrate_xbar_range(g, images, count, &c->calib_range, c->threads < 1 ? 1 : (int)c->threads, diags) || !pass_run_pipeline(g, "quantize", passes, diags))
            return NULL;
    }
    const char *replicate = c->replicate ? c->replicate : c->tiles ? "auto" : NULL;
    if (!pass_run_pipeline(g, mapping_pipeline_for(arena, c->packing, replicate), passes, diags))
        return NULL;
    /* The ADCs (docs/adc.md), never more bits than the architecture's. */
    if (c->float_weights)
        return g;
    if (strcmp(c->adc, "lossless") == 0)
        return adc_within_arch(g, c->adc, 0, diags) ? g : NULL;
    if (strcmp(c->adc, "arch") == 0)
        return adc_fit_arch(g, images, count, fit, diags) ? g : NULL;
    if (strncmp(c->adc, "alloc", 5) == 0)
        return adc_allocate(g, images, count, &c->adc_options, adc_report, diags) ? g : NULL;
    const char *clip = c->uniform_clip ? c->uniform_clip : "max";
    bool needs_data = !adc_clip_needs_no_data(clip);
    if (c->adc_ranges && !set_layer_attrs(g, "--adc-range", c->adc_ranges, false, "adc_range", adc_range_clip,
                                          "calib, max, p99.99, p99.9, p99 or a fraction of max (0 < F <= 1)", diags))
        return NULL;
    for (int i = 0; i < g->n_ops; i++) {
        const Attr *own = ir_attr(g->ops[i], "adc_range");
        needs_data |= own && own->kind == ATTR_STRING && !adc_clip_needs_no_data(own->s);
    }
    if (needs_data && (!images || count < 1)) {
        diag_error(diags, NULL, "--adc-range: a calibrated range needs calibration images, and --calib none has none");
        return NULL;
    }
    if (!adc_within_arch(g, c->adc, c->uniform_bits, diags) ||
        (needs_data &&
         !adc_collect_stats(g, images, count < ADC_DEFAULT_IMAGES ? count : ADC_DEFAULT_IMAGES, diags)) ||
        !pass_run_pipeline(g, arena_printf(arena, "adc-alloc{bits=%d,clip=%s}", c->uniform_bits, clip), passes,
                           diags))
        return NULL;
    return g;
}
