/* report.c: the mapping report of `xbarc compile --report`, its JSON twin,
 * and the SVG tile map.
 *
 * Everything here reads a placed graph through mapping_stats() (passes/mapping.h),
 * so the table, the JSON and the picture show the same numbers as the passes
 * that decided them.  Pipeline times come from the one stage-time model
 * (passes/timing.c) that the replication search and the performance model
 * (backend/perf.c) share; energy and area from the performance model of the
 * emitted program, when given, whose throughput is checked against the
 * mapping's here.  The short summary of `xbarc compile` is here too. */
#include "backend/backend.h"
#include "passes/mapping.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The length of the longest name of g's crossbar layers. */
static int longest_name(const Graph *g)
{
    int longest = 5;
    for (int i = 0; i < g->n_ops; i++) {
        int n = g->ops[i]->kind == OP_XBAR && !g->ops[i]->dead ? (int)strlen(ir_layer_name(g, g->ops[i])) : 0;
        longest = n > longest ? n : longest;
    }
    return longest;
}

/* The name column of a table of g's crossbar layers: as wide as the longest
 * name, within IR_NAME_COLUMN (longer ones are elided in the middle). */
static int name_width(const Graph *g)
{
    int longest = longest_name(g);
    return longest < IR_NAME_COLUMN ? longest : IR_NAME_COLUMN;
}

static void print_elided_note(const Graph *g, FILE *out)
{
    if (longest_name(g) > IR_NAME_COLUMN)
        fprintf(out, IR_NAME_ELIDED_NOTE, IR_NAME_COLUMN);
}

/* Largest ADC resolution among the op's blocks. */
static int max_adc_bits(const Op *op)
{
    const int64_t *bits;
    int n = ir_attr_ints(op, "adc_bits", &bits), best = 0;
    for (int i = 0; i < n; i++)
        best = bits[i] > best ? (int)bits[i] : best;
    return best;
}

/* Bits that convert every column sum of the op's tallest block exactly
 * (docs/crossbar.md 7); 0 for a float-weight op. */
static int lossless_adc_bits(const Op *op, const Arch *arch)
{
    const int64_t *rows;
    int n = ir_attr_ints(op, "row_splits", &rows);
    const Attr *sign = ir_attr(op, "sign");
    if (!ir_attr(op, "in_scale") || n < 2)
        return 0;
    int64_t tallest = 0;
    for (int i = 0; i + 1 < n; i++)
        tallest = rows[i + 1] - rows[i] > tallest ? rows[i + 1] - rows[i] : tallest;
    int64_t bound = tallest * (((int64_t)1 << arch->dac_bits) - 1) *
                    (((int64_t)1 << ir_attr_int(op, "cell_bits", arch->cell_bits)) - 1);
    int bits = 0;
    while (bits < 62 && ((int64_t)1 << bits) - 1 < bound)
        bits++;
    return bits + (sign && sign->kind == ATTR_STRING && strcmp(sign->s, "pair-analog") == 0);
}

/* Reads per image of one layer: every block of every copy, each input vector
 * of its share, each DAC cycle. */
static int64_t layer_reads(const MapLayer *layer)
{
    return layer->vectors * layer->cycles * layer->n_blocks;
}

/* The two models of one program agree within this share (docs/perf.md 3:
 * the performance model sees each block's own ADC turns and column offset,
 * the mapping those of its layer's widest block, placed at an ADC's start;
 * and each rounds digital time its own way). */
#define PERF_AGREEMENT 0.01

static bool models_agree(const MappingStats *s, const PerfReport *perf)
{
    return perf && s->images_per_s > 0 && fabs(perf->images_per_s / s->images_per_s - 1) <= PERF_AGREEMENT;
}

/* The performance model's bottleneck by the mapping's name for it (a layer's
 * instructions carry its result's name). */
static const char *perf_bottleneck(const PerfReport *perf)
{
    return perf && perf->bottleneck >= 0 ? perf->layers[perf->bottleneck].name : "";
}

void report_option(ReportContext *c, const char *name, const char *value, bool given)
{
    if (c->n_options < REPORT_MAX_OPTIONS)
        c->options[c->n_options++] = (ReportOption){name, value, given};
}

const ReportOption *report_option_find(const ReportContext *c, const char *name)
{
    for (int i = 0; c && i < c->n_options; i++)
        if (strcmp(c->options[i].name, name) == 0)
            return &c->options[i];
    return NULL;
}

/* "balanced (the default: ...)": the packing and why, from the context. */
static void print_packing(const ReportContext *c, FILE *out)
{
    const ReportOption *o = report_option_find(c, "packing");
    if (!o)
        return;
    const char *why = strcmp(o->value, "balanced") == 0 ? "tiles shared only where no pipeline stage gets slower"
                      : strcmp(o->value, "dense") == 0  ? "the fewest tiles; blocks sharing rows or ADCs take turns"
                                                        : "one block per tile";
    fprintf(out, "packing: %s (%s: %s)", o->value, o->given ? "--packing" : "the default", why);
}

bool report_print_choices(const Graph *g, const ReportContext *c, FILE *out, Diags *diags)
{
    MappingStats s;
    if (!mapping_stats(diags->arena, g, &s, diags))
        return false;
    print_packing(c, out);
    fprintf(out, "%s%lld tiles, lower bound %lld (%.3fx), cell utilization %.1f%%\n",
            report_option_find(c, "packing") ? ": " : "tiles: ", (long long)s.tiles, (long long)s.lower_bound,
            s.lower_bound ? (double)s.tiles / (double)s.lower_bound : 0.0, 100 * s.utilization);
    if (s.bottleneck)
        fprintf(out, "pipeline: %.4g images/s, bottleneck %s (%s)%s\n", s.images_per_s, ir_layer_name(g, s.bottleneck),
                s.bottleneck_digital ? "digital ops" : "crossbar reads",
                s.period != s.period_free ? ", slowed by blocks taking turns" : "");
    bool replicated = false;
    for (int l = 0; l < s.n_layers; l++)
        replicated |= s.replicas[l] > 1;
    if (replicated)
        fprintf(out, "replication: %.2fx the throughput of one copy per layer\n", s.speedup_placed);
    return true;
}

/* A count with an SI prefix: 256, 1.02 k, 4.1 M. */
static const char *si_count(Arena *arena, double v)
{
    static const char *const prefix[] = {"", " k", " M", " G", " T"};
    int i = 0;
    while (v >= 999.5 && i < 4)
        v /= 1000, i++;
    return i ? arena_printf(arena, "%.3g%s", v, prefix[i]) : arena_printf(arena, "%.0f", v);
}

/* Where the MACs run (issue 11 section 3): crossbars against the digital
 * units, the digital products named by why they are digital, a few each. */
static void print_macs(const Graph *g, Arena *arena, FILE *out)
{
    enum { NAMED = 3 };
    static const char *const reasons[] = {"products of two activations", "left digital"};
    MacStats m;
    mapping_macs(arena, g, &m);
    fprintf(out, "MACs: %s on crossbars (%.1f%%), %s digital", si_count(arena, m.crossbar), 100 * m.share,
            si_count(arena, m.digital));
    const char *sep = " (";
    for (size_t r = 0; r < sizeof reasons / sizeof reasons[0]; r++) {
        int shown = 0, more = 0;
        for (int i = 0; i < m.n_digital; i++) {
            if (strcmp(time_digital_reason(m.digital_ops[i]), reasons[r]) != 0)
                continue;
            if (shown == NAMED) {
                more++;
                continue;
            }
            fprintf(out, "%s%s%s", shown ? ", " : sep, shown ? "" : arena_printf(arena, "%s: ", reasons[r]),
                    ir_layer_name(g, m.digital_ops[i]));
            shown++;
            sep = "; ";
        }
        if (more)
            fprintf(out, " and %d more", more);
    }
    fprintf(out, "%s\n", m.n_digital ? ")" : "");
}

/* Each layer's calibrated input range and how many calibration values it
 * clips (--calib-range, docs/datasets.md); nothing for uncalibrated graphs. */
static void print_ranges(const Graph *g, const MappingStats *s, int width, Arena *arena, FILE *out)
{
    bool any = false;
    for (int l = 0; l < s->n_layers; l++)
        any |= ir_attr(s->ops[l], "act_min") && ir_attr(s->ops[l], "act_max");
    if (!any)
        return;
    fprintf(out, "%-*s %12s %12s %10s\n", width, "input range", "min", "max", "clipped");
    for (int l = 0; l < s->n_layers; l++) {
        const Op *op = s->ops[l];
        if (ir_attr(op, "act_min") && ir_attr(op, "act_max"))
            fprintf(out, "%-*s %12.6g %12.6g %10lld\n", width, ir_name_fit(arena, ir_layer_name(g, op), width),
                    ir_attr_float(op, "act_min", 0), ir_attr_float(op, "act_max", 0),
                    (long long)ir_attr_int(op, "act_clipped", 0));
    }
}

bool report_print(const Graph *g, const PerfReport *perf, const ReportContext *context, FILE *out, Diags *diags)
{
    Arena *arena = diags->arena;
    MappingStats s;
    MapBlocks mb;
    if (!mapping_stats(arena, g, &s, diags) || !mapping_blocks(arena, g, "report", &mb, diags))
        return false;
    const Arch *a = g->arch;
    int64_t tile_cells = (int64_t)a->rows * a->cols;
    int width = name_width(g);
    fprintf(out, "%-*s %11s %4s %6s %6s %5s %5s %6s %4s %11s %6s\n", width, "layer", "K x N", "G", "slices",
            "blocks", "tiles", "repl", "util", "adc", "reads/img", "time");
    for (int l = 0; l < s.n_layers; l++) {
        const Op *op = s.ops[l];
        const Type *w = &op->inputs[1]->type;
        double util = s.layer_tiles[l] ? (double)s.layer_cells[l] / (double)(s.layer_tiles[l] * tile_cells) : 0;
        fprintf(out, "%-*s %5lldx%-5lld %4lld %6lld %6lld %5lld %5lld %5.1f%% %3db %11lld %5.1f%%\n", width,
                ir_name_fit(arena, ir_layer_name(g, op), width), (long long)w->dims[1], (long long)w->dims[2],
                (long long)w->dims[0],
                (long long)ir_attr_int(op, "slices", 1), (long long)(mb.layers[l].n_blocks * s.replicas[l]),
                (long long)s.layer_tiles[l], (long long)s.replicas[l], 100 * util, max_adc_bits(op),
                (long long)layer_reads(&mb.layers[l]), s.period ? 100.0 * (double)s.stage[l] / (double)s.period : 0);
    }
    print_elided_note(g, out);
    fprintf(out, "tiles: %lld (lower bound %lld, %.3fx; one block per tile: %lld); cell utilization %.1f%%\n",
            (long long)s.tiles, (long long)s.lower_bound,
            s.lower_bound ? (double)s.tiles / (double)s.lower_bound : 0.0, (long long)s.blocks, 100 * s.utilization);
    print_macs(g, arena, out);
    if (report_option_find(context, "packing")) {
        print_packing(context, out);
        fprintf(out, "\n");
    }
    if (s.bottleneck) {
        fprintf(out, "pipeline: bottleneck %s (%s), period %.4g us: %.4g images/s; latency %.4g us\n",
                ir_layer_name(g, s.bottleneck), s.bottleneck_digital ? "digital ops" : "crossbar reads",
                (double)s.period * 1e-6, s.images_per_s, (double)s.latency * 1e-6);
        bool replicated = false;
        for (int l = 0; l < s.n_layers; l++)
            replicated |= s.replicas[l] > 1;
        if (replicated)
            fprintf(out, "replication: %.2fx the throughput of one copy per layer (%.2fx were no blocks to take "
                    "turns)\n", s.speedup_placed, s.speedup);
        if (s.period_bound > 0)
            fprintf(out, "budget: %d tiles; no placement in them has a period below %.4g us (%.2fx): %s\n",
                    a->tiles, (double)s.period_bound * 1e-6, s.speedup_bound,
                    s.period == s.period_bound ? "this one is optimal" : "this one may not be");
        if (s.period != s.period_free)
            fprintf(out, "packing: blocks sharing rows or ADCs take turns: period %.4g us instead of %.4g us\n",
                    (double)s.period * 1e-6, (double)s.period_free * 1e-6);
    }
    if (perf) {
        fprintf(out, "performance model (docs/perf.md): %.4g images/s, latency %.4g us, %.4g nJ per image, "
                     "%.3g TOPS/W, %.3g mm^2", perf->images_per_s, perf->latency_ns * 1e-3,
                perf->total.energy_pj * 1e-3, perf->tops_per_w, perf->area_mm2);
        const char *mapping_bottleneck = s.bottleneck ? ir_layer_name(g, s.bottleneck) : "-";
        if (models_agree(&s, perf) && strcmp(perf_bottleneck(perf), mapping_bottleneck) == 0)
            fprintf(out, "; the same period and bottleneck\n");
        else
            fprintf(out, "; differs from the mapping's %.4g images/s (bottleneck %s): its blocks' own ADC turns "
                    "and column offsets (docs/perf.md 3)\n", s.images_per_s, mapping_bottleneck);
    }
    print_ranges(g, &s, width, arena, out);
    if (context && context->training)
        train_map_print(context->training, out);
    return true;
}

/* The training section (docs/train-mapping.md): what train_map found. */
static void training_json(cJSON *root, const TrainMap *m)
{
    cJSON *t = cJSON_AddObjectToObject(root, "training");
    cJSON_AddStringToObject(t, "algorithm", train_algorithm_name(m->algorithm));
    cJSON_AddNumberToObject(t, "bl", m->bl);
    cJSON_AddNumberToObject(t, "pulse_ns", m->pulse_ns);
    cJSON *layers = cJSON_AddArrayToObject(t, "layers");
    for (int l = 0; l < m->n_layers; l++) {
        const TrainMapLayer *L = &m->layers[l];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", L->name);
        cJSON_AddStringToObject(j, "mapping", train_mapping_name(L->mapping));
        cJSON_AddNumberToObject(j, "rows", (double)L->k);
        cJSON_AddNumberToObject(j, "columns", (double)L->n);
        cJSON_AddNumberToObject(j, "blocks", L->blocks);
        cJSON_AddNumberToObject(j, "tiles", L->tiles);
        cJSON_AddNumberToObject(j, "fast_tiles", L->fast_tiles);
        cJSON_AddNumberToObject(j, "cells", (double)L->cells);
        cJSON_AddNumberToObject(j, "fast_cells", (double)L->fast_cells);
        cJSON_AddNumberToObject(j, "buffer_bytes", L->buffer_bytes);
        cJSON_AddNumberToObject(j, "forward_ns", L->forward_ns);
        cJSON_AddNumberToObject(j, "backward_ns", L->backward_ns);
        cJSON_AddNumberToObject(j, "update_ns", L->update_ns);
        cJSON_AddItemToArray(layers, j);
    }
    cJSON_AddNumberToObject(t, "tiles", m->tiles);
    cJSON_AddNumberToObject(t, "trained_tiles", m->trained_tiles);
    cJSON_AddNumberToObject(t, "extra_tiles", m->extra_tiles);
    cJSON_AddNumberToObject(t, "fast_cells", (double)m->fast_cells);
    cJSON_AddNumberToObject(t, "buffer_bytes", m->buffer_bytes);
    cJSON *area = cJSON_AddObjectToObject(t, "area_mm2");
    cJSON_AddNumberToObject(area, "program", m->area_mm2);
    cJSON_AddNumberToObject(area, "transposed_periphery", m->periphery_mm2);
    cJSON_AddNumberToObject(area, "update_drivers", m->drivers_mm2);
    cJSON_AddNumberToObject(area, "extra_tiles", m->extra_tiles_mm2);
    cJSON_AddNumberToObject(area, "buffers", m->buffer_mm2);
    cJSON_AddNumberToObject(area, "added", m->added_mm2);
    cJSON_AddNumberToObject(t, "forward_ns", m->forward_ns);
    cJSON_AddNumberToObject(t, "step_ns", m->step_ns);
    cJSON_AddNumberToObject(t, "period_ns", m->period_ns);
}

/* ---- JSON ---- */


bool report_write_json(const Graph *g, const PerfReport *perf, const ReportContext *context, Outputs *outs,
                       const char *path, Diags *diags)
{
    Arena *arena = diags->arena;
    MappingStats s;
    MapBlocks mb;
    if (!mapping_stats(arena, g, &s, diags) || !mapping_blocks(arena, g, "report", &mb, diags))
        return false;
    const Arch *a = g->arch;
    int64_t tile_cells = (int64_t)a->rows * a->cols;
    cJSON *root = cJSON_CreateObject();
    /* What made it: version, options, architecture (docs/mapping.md 6). */
    if (context && context->version)
        cJSON_AddStringToObject(root, "xbarc_version", context->version);
    if (context) {
        cJSON *o = cJSON_AddObjectToObject(root, "options");
        for (int i = 0; i < context->n_options; i++)
            cJSON_AddStringToObject(o, context->options[i].name, context->options[i].value);
        cJSON *given = cJSON_AddArrayToObject(root, "options_given");
        for (int i = 0; i < context->n_options; i++)
            if (context->options[i].given)
                cJSON_AddItemToArray(given, cJSON_CreateString(context->options[i].name));
    }
    cJSON_AddItemToObject(root, "arch", cJSON_Parse(arch_to_json(arena, a)));
    MacStats macs;
    mapping_macs(arena, g, &macs);
    cJSON *mj = cJSON_AddObjectToObject(root, "macs");    /* per image, as print_macs */
    cJSON_AddNumberToObject(mj, "crossbar", macs.crossbar);
    cJSON_AddNumberToObject(mj, "digital", macs.digital);
    cJSON_AddNumberToObject(mj, "crossbar_share", macs.share);
    cJSON *dl = cJSON_AddArrayToObject(mj, "digital_layers");
    for (int i = 0; i < macs.n_digital; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", ir_layer_name(g, macs.digital_ops[i]));
        cJSON_AddNumberToObject(d, "macs", ir_op_macs(macs.digital_ops[i]) / (double)s.images_per_run);
        cJSON_AddStringToObject(d, "why", time_digital_reason(macs.digital_ops[i]));
        cJSON_AddItemToArray(dl, d);
    }
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int l = 0; l < s.n_layers; l++) {
        const Op *op = s.ops[l];
        const Type *w = &op->inputs[1]->type;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", ir_layer_name(g, op));
        cJSON_AddStringToObject(j, "value", op->result->name);
        cJSON_AddNumberToObject(j, "groups", (double)w->dims[0]);
        cJSON_AddNumberToObject(j, "rows", (double)w->dims[1]);
        cJSON_AddNumberToObject(j, "columns", (double)w->dims[2]);
        cJSON_AddNumberToObject(j, "slices", (double)ir_attr_int(op, "slices", 1));
        cJSON_AddNumberToObject(j, "blocks", (double)(mb.layers[l].n_blocks * s.replicas[l]));
        cJSON_AddNumberToObject(j, "tiles", (double)s.layer_tiles[l]);
        cJSON_AddNumberToObject(j, "replicas", (double)s.replicas[l]);
        cJSON_AddNumberToObject(j, "cells", (double)s.layer_cells[l]);
        cJSON_AddNumberToObject(j, "utilization",
                                s.layer_tiles[l] ? (double)s.layer_cells[l] / (double)(s.layer_tiles[l] * tile_cells)
                                                 : 0);
        cJSON_AddNumberToObject(j, "adc_bits", max_adc_bits(op));
        cJSON_AddNumberToObject(j, "adc_lossless_bits", lossless_adc_bits(op, a));
        cJSON_AddNumberToObject(j, "reads_per_image", (double)layer_reads(&mb.layers[l]));
        cJSON_AddNumberToObject(j, "stage_ns", (double)s.stage[l] * 1e-3);
        cJSON_AddNumberToObject(j, "crossbar_ns", (double)s.xbar[l] * 1e-3);
        cJSON_AddNumberToObject(j, "pipeline_share", s.period ? (double)s.stage[l] / (double)s.period : 0);
        /* the calibrated input range, and what of the calibration data it clips (--calib-range) */
        if (ir_attr(op, "act_min") && ir_attr(op, "act_max")) {
            cJSON_AddNumberToObject(j, "act_min", ir_attr_float(op, "act_min", 0));
            cJSON_AddNumberToObject(j, "act_max", ir_attr_float(op, "act_max", 0));
            cJSON_AddNumberToObject(j, "act_clipped", (double)ir_attr_int(op, "act_clipped", 0));
        }
        cJSON_AddItemToArray(layers, j);
    }
    cJSON *t = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(t, "tiles", (double)s.tiles);
    cJSON_AddNumberToObject(t, "lower_bound", (double)s.lower_bound);
    cJSON_AddNumberToObject(t, "blocks", (double)s.blocks);
    cJSON_AddNumberToObject(t, "cells", (double)s.cells);
    cJSON_AddNumberToObject(t, "utilization", s.utilization);
    cJSON_AddNumberToObject(t, "period_ns", (double)s.period * 1e-3);
    cJSON_AddNumberToObject(t, "images_per_second", s.images_per_s);
    cJSON_AddNumberToObject(t, "latency_ns", (double)s.latency * 1e-3);
    cJSON_AddNumberToObject(t, "period_ns_without_turns", (double)s.period_free * 1e-3);
    cJSON_AddNumberToObject(t, "replication_speedup", s.speedup_placed);
    cJSON_AddNumberToObject(t, "replication_speedup_without_turns", s.speedup);
    cJSON_AddNumberToObject(t, "period_ns_one_copy", (double)s.period_single * 1e-3);
    if (s.period_bound > 0) {
        cJSON_AddNumberToObject(t, "tile_budget", (double)a->tiles);
        cJSON_AddNumberToObject(t, "period_ns_optimum_bound", (double)s.period_bound * 1e-3);
        cJSON_AddNumberToObject(t, "replication_speedup_optimum_bound", s.speedup_bound);
        cJSON_AddBoolToObject(t, "period_optimal", s.period == s.period_bound);
    }
    if (s.bottleneck) {
        cJSON_AddStringToObject(t, "bottleneck", ir_layer_name(g, s.bottleneck));
        cJSON_AddStringToObject(t, "bottleneck_kind", s.bottleneck_digital ? "digital" : "crossbar");
    }
    if (context && context->adc_clipped_layers) {
        cJSON *adc = cJSON_AddObjectToObject(t, "adc_clipped");
        cJSON_AddNumberToObject(adc, "layers", context->adc_clipped_layers);
        cJSON_AddNumberToObject(adc, "calibration_images", context->adc_images);
        if (context->adc_agreement >= 0)
            cJSON_AddNumberToObject(adc, "top1_agreement_with_lossless", context->adc_agreement / 100);
    }
    if (perf) {
        cJSON *m = cJSON_AddObjectToObject(t, "performance_model");
        cJSON_AddNumberToObject(m, "images_per_second", perf->images_per_s);
        cJSON_AddNumberToObject(m, "latency_ns", perf->latency_ns);
        cJSON_AddNumberToObject(m, "energy_pj_per_image", perf->total.energy_pj);
        cJSON_AddNumberToObject(m, "tops_per_w", perf->tops_per_w);
        cJSON_AddNumberToObject(m, "area_mm2", perf->area_mm2);
        cJSON_AddStringToObject(m, "bottleneck", perf_bottleneck(perf));
        cJSON_AddBoolToObject(m, "agrees", models_agree(&s, perf));
    }
    if (context && context->training)
        training_json(root, context->training);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    bool ok = text && outputs_write(outs, path, arena_printf(arena, "%s\n", text), strlen(text) + 1);
    free(text);
    return ok;
}

/* ---- SVG tile map ---- */

/* Text safe inside SVG elements. */
static const char *xml_text(Arena *arena, const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '<' || *p == '>' ? 4 : *p == '&' ? 5 : *p == '"' ? 6 : 1;
    char *out = arena_alloc(arena, n + 1), *q = out;
    for (const char *p = text; *p; p++) {
        const char *rep = *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '&' ? "&amp;" : *p == '"' ? "&quot;" : NULL;
        if (rep) {
            strcpy(q, rep);
            q += strlen(rep);
        } else {
            *q++ = *p;
        }
    }
    *q = 0;
    return out;
}

/* A colour per layer, spread around the hue circle. */
static void layer_colour(int layer, char *buf, size_t size)
{
    int hue = (layer * 137) % 360;
    snprintf(buf, size, "hsl(%d,65%%,55%%)", hue);
}

bool report_write_tile_map(const Graph *g, Outputs *outs, const char *path, Diags *diags)
{
    Arena *arena = diags->arena;
    MapBlocks mb;
    MappingStats s;
    if (!mapping_blocks(arena, g, "tile map", &mb, diags) || !mapping_stats(arena, g, &s, diags))
        return false;
    const Arch *a = g->arch;
    /* Each tile a square of `cell` pixels, laid out in a grid. */
    const int cell = 48, gap = 6, legend_w = 260;
    int64_t per_row = 1;
    while (per_row * per_row < s.tiles)
        per_row++;
    int64_t grid_rows = s.tiles ? (s.tiles + per_row - 1) / per_row : 1;
    double sx = (double)cell / a->cols, sy = (double)cell / a->rows;
    int64_t width = per_row * (cell + gap) + gap + legend_w, height = grid_rows * (cell + gap) + gap + 40;
    int64_t legend_h = 30 + 16 * (int64_t)s.n_layers;
    if (height < legend_h)
        height = legend_h;

    /* Every block's title holds its layer's name (escaped: up to 6 bytes a
     * byte), so the names are counted block by block, not on average. */
    size_t names = 0, block_names = 0;
    for (int l = 0; l < mb.n_layers; l++) {
        size_t len = 6 * strlen(ir_layer_name(g, mb.layers[l].op)) + 1;
        names += len;
        block_names += (size_t)(mb.layers[l].n_blocks * mb.layers[l].replicas) * len;
    }
    size_t cap = 4096 + (size_t)mb.n_blocks * 200 + block_names + (size_t)s.tiles * 120 + names +
                 (size_t)s.n_layers * 200;
    if (!memory_check(cap, 1, "the tile map", NULL, diags))
        return false;
    char *svg = malloc(cap), colour[32];
    if (!svg) {
        diag_error(diags, NULL, "out of memory for the tile map");
        return false;
    }
    size_t n = 0;
#define EMIT(...) n += (size_t)snprintf(n < cap ? svg + n : NULL, n < cap ? cap - n : 0, __VA_ARGS__)
    EMIT("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%lld\" height=\"%lld\" font-family=\"sans-serif\" "
         "font-size=\"11\">\n", (long long)width, (long long)height);
    EMIT("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    EMIT("<text x=\"%d\" y=\"%lld\">%lld tiles of %dx%d cells, lower bound %lld, utilization %.1f%%</text>\n", gap,
         (long long)(height - 12), (long long)s.tiles, a->rows, a->cols, (long long)s.lower_bound,
         100 * s.utilization);
    for (int64_t t = 0; t < s.tiles; t++) {
        int64_t x = gap + (t % per_row) * (cell + gap), y = gap + (t / per_row) * (cell + gap);
        EMIT("<rect x=\"%lld\" y=\"%lld\" width=\"%d\" height=\"%d\" fill=\"#f4f4f4\" stroke=\"#888\"/>\n",
             (long long)x, (long long)y, cell, cell);
    }
    for (int l = 0; l < mb.n_layers; l++) {
        const Op *op = mb.layers[l].op;
        const int64_t *place;
        int n_place = ir_attr_ints(op, "place", &place);
        layer_colour(l, colour, sizeof colour);
        int64_t copies = mb.layers[l].n_blocks * mb.layers[l].replicas;
        for (int64_t b = 0; b < copies && 3 * b + 2 < n_place; b++) {
            const PackBlock *blk = &mb.blocks[mb.layers[l].first_block + b];
            int64_t t = place[3 * b];
            double x = gap + (double)((t % per_row) * (cell + gap)) + place[3 * b + 2] * sx;
            double y = gap + (double)((t / per_row) * (cell + gap)) + place[3 * b + 1] * sy;
            EMIT("<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" stroke=\"white\" stroke-width=\"0.4\"><title>%s block %lld"
                 "</title></rect>\n", x, y, blk->cols * sx, blk->rows * sy, colour, xml_text(arena, ir_layer_name(g, op)),
                 (long long)b);
        }
    }
    int64_t lx = per_row * (cell + gap) + 2 * gap;
    for (int l = 0; l < mb.n_layers; l++) {
        layer_colour(l, colour, sizeof colour);
        EMIT("<rect x=\"%lld\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%lld\" y=\"%d\">%.36s"
             "</text>\n", (long long)lx, 10 + 16 * l, colour, (long long)lx + 14, 19 + 16 * l,
             xml_text(arena, ir_layer_name(g, mb.layers[l].op)));
    }
    EMIT("</svg>\n");
#undef EMIT
    bool ok = n < cap && outputs_write(outs, path, svg, n);
    if (n >= cap)
        diag_error(diags, NULL, "tile map too large to draw");
    free(svg);
    return ok;
}

/* ---- the short summary of `xbarc compile` ---- */


static int64_t attr_count(const Op *op, const char *name)
{
    const Attr *attr = ir_attr(op, name);
    return attr ? attr->count : 0;
}

void report_summary(const Graph *g, const Program *p, FILE *out)
{
    int width = name_width(g);
    fprintf(out, "%-*s %-6s %6s %6s %4s %6s %6s %5s %5s\n", width, "layer", "form", "K", "N", "G", "slices",
            "blocks", "tiles", "adc");
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
        fprintf(out, "%-*s %-6s %6lld %6lld %4lld %6lld %6lld %5d %4db\n", width,
                ir_name_fit(p->arena, ir_layer_name(g, op), width),
                form ? form->s : "?", (long long)w->dims[1], (long long)w->dims[2], (long long)w->dims[0],
                (long long)ir_attr_int(op, "slices", 1), (long long)attr_count(op, "adc_bits"), tiles, max_adc);
    }
    print_elided_note(g, out);
    /* Cells the blocks cover, from the mvms (blocks never overlap: the
     * emitter refuses that), not from a scan of every cell. */
    int64_t used = 0, cells = (int64_t)p->n_tiles * p->arch.rows * p->arch.cols;
    for (int k = 0; k < p->n_instrs; k++)
        if (p->instrs[k].opcode == INSTR_MVM)
            used += (int64_t)p->instrs[k].mvm.rows * p->instrs[k].mvm.phys_cols;
    fprintf(out, "tiles: %d of %dx%d cells, %d instructions, cells in blocks %.1f%%\n", p->n_tiles, p->arch.rows,
            p->arch.cols, p->n_instrs, cells ? 100.0 * (double)used / (double)cells : 0.0);
    print_macs(g, p->arena, out);
}
