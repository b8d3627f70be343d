/* report.c: the mapping report of `xbarc compile --report`, its JSON twin,
 * and the SVG tile map.
 *
 * Everything here reads a placed graph through mapping_stats() (passes/mapping.h),
 * so the table, the JSON and the picture show the same numbers as the passes
 * that decided them.  Pipeline times are in read steps (one crossbar read with
 * one DAC cycle of inputs, docs/mapping.md); seconds, energy and area come from
 * the performance model of the emitted program (backend/backend.h), when given. */
#include "backend/backend.h"
#include "passes/mapping.h"
#include "backend/backend.h"

#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A layer's name for people: the ONNX node it came from, else its result. */
static const char *layer_name(const Op *op)
{
    return op->loc.node && *op->loc.node ? op->loc.node : op->result->name;
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

/* Reads per image of one layer: every block of every copy, each input vector
 * of its share, each DAC cycle. */
static int64_t layer_reads(const MapLayer *layer)
{
    return layer->vectors * layer->cycles * layer->n_blocks;
}

static int bottleneck(const MappingStats *s)
{
    int worst = 0;
    for (int l = 1; l < s->n_layers; l++)
        if (s->stage[l] > s->stage[worst])
            worst = l;
    return worst;
}

bool report_print(const Graph *g, const PerfReport *perf, FILE *out, Diags *diags)
{
    Arena *arena = diags->arena;
    MappingStats s;
    MapBlocks mb;
    if (!mapping_stats(arena, g, &s, diags) || !mapping_blocks(arena, g, "report", &mb, diags))
        return false;
    const Arch *a = g->arch;
    int64_t tile_cells = (int64_t)a->rows * a->cols;
    fprintf(out, "%-32s %11s %4s %6s %6s %5s %5s %6s %4s %11s %6s\n", "layer", "K x N", "G", "slices", "blocks",
            "tiles", "repl", "util", "adc", "reads/img", "time");
    for (int l = 0; l < s.n_layers; l++) {
        const Op *op = s.ops[l];
        const Type *w = &op->inputs[1]->type;
        double util = s.layer_tiles[l] ? (double)s.layer_cells[l] / (double)(s.layer_tiles[l] * tile_cells) : 0;
        fprintf(out, "%-32.32s %5lldx%-5lld %4lld %6lld %6lld %5lld %5lld %5.1f%% %3db %11lld %5.1f%%\n",
                layer_name(op), (long long)w->dims[1], (long long)w->dims[2], (long long)w->dims[0],
                (long long)ir_attr_int(op, "slices", 1), (long long)(mb.layers[l].n_blocks * s.replicas[l]),
                (long long)s.layer_tiles[l], (long long)s.replicas[l], 100 * util, max_adc_bits(op),
                (long long)layer_reads(&mb.layers[l]), s.period ? 100.0 * (double)s.stage[l] / (double)s.period : 0);
    }
    int worst = s.n_layers ? bottleneck(&s) : -1;
    fprintf(out, "tiles: %lld (lower bound %lld, %.3fx; one block per tile: %lld); cell utilization %.1f%%\n",
            (long long)s.tiles, (long long)s.lower_bound,
            s.lower_bound ? (double)s.tiles / (double)s.lower_bound : 0.0, (long long)s.blocks, 100 * s.utilization);
    if (worst >= 0) {
        fprintf(out, "pipeline: bottleneck %s, %lld read steps per image", layer_name(s.ops[worst]),
                (long long)s.period);
        bool replicated = false;
        for (int l = 0; l < s.n_layers; l++)
            replicated |= s.replicas[l] > 1;
        if (replicated)
            fprintf(out, "; replication speed-up %.2fx (%.2fx were no blocks to take turns)", s.speedup_placed,
                    s.speedup);
        fprintf(out, "\n");
        if (s.period_bound > 0)
            fprintf(out, "budget: %d tiles; no placement in them has a period below %lld steps (%.2fx): %s\n",
                    a->tiles, (long long)s.period_bound, s.speedup_bound,
                    s.period == s.period_bound ? "this one is optimal" : "this one may not be");
        if (perf)
            fprintf(out, "performance model (docs/perf.md): %.4g images/s, latency %.4g us, %.4g nJ per image, "
                         "%.3g TOPS/W, %.3g mm^2\n", perf->images_per_s, perf->latency_ns * 1e-3,
                    perf->total.energy_pj * 1e-3, perf->tops_per_w, perf->area_mm2);
        if (s.period != s.period_free)
            fprintf(out, "packing: blocks sharing rows or ADCs take turns: %lld steps per image instead of %lld\n",
                    (long long)s.period, (long long)s.period_free);
    }
    return true;
}

/* ---- JSON ---- */


bool report_write_json(const Graph *g, const PerfReport *perf, Outputs *outs, const char *path, Diags *diags)
{
    Arena *arena = diags->arena;
    MappingStats s;
    MapBlocks mb;
    if (!mapping_stats(arena, g, &s, diags) || !mapping_blocks(arena, g, "report", &mb, diags))
        return false;
    const Arch *a = g->arch;
    int64_t tile_cells = (int64_t)a->rows * a->cols;
    cJSON *root = cJSON_CreateObject();
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int l = 0; l < s.n_layers; l++) {
        const Op *op = s.ops[l];
        const Type *w = &op->inputs[1]->type;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", layer_name(op));
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
        cJSON_AddNumberToObject(j, "reads_per_image", (double)layer_reads(&mb.layers[l]));
        cJSON_AddNumberToObject(j, "stage_steps", (double)s.stage[l]);
        cJSON_AddNumberToObject(j, "pipeline_share", s.period ? (double)s.stage[l] / (double)s.period : 0);
        cJSON_AddItemToArray(layers, j);
    }
    cJSON *t = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(t, "tiles", (double)s.tiles);
    cJSON_AddNumberToObject(t, "lower_bound", (double)s.lower_bound);
    cJSON_AddNumberToObject(t, "blocks", (double)s.blocks);
    cJSON_AddNumberToObject(t, "cells", (double)s.cells);
    cJSON_AddNumberToObject(t, "utilization", s.utilization);
    cJSON_AddNumberToObject(t, "period_steps", (double)s.period);
    cJSON_AddNumberToObject(t, "latency_steps", (double)s.latency);
    cJSON_AddNumberToObject(t, "period_steps_without_turns", (double)s.period_free);
    cJSON_AddNumberToObject(t, "replication_speedup", s.speedup_placed);
    cJSON_AddNumberToObject(t, "replication_speedup_without_turns", s.speedup);
    cJSON_AddNumberToObject(t, "period_steps_one_copy", (double)s.period_single);
    if (s.period_bound > 0) {
        cJSON_AddNumberToObject(t, "tile_budget", (double)a->tiles);
        cJSON_AddNumberToObject(t, "period_steps_optimum_bound", (double)s.period_bound);
        cJSON_AddNumberToObject(t, "replication_speedup_optimum_bound", s.speedup_bound);
        cJSON_AddBoolToObject(t, "period_optimal", s.period == s.period_bound);
    }
    if (perf) {
        cJSON_AddNumberToObject(t, "images_per_second", perf->images_per_s);
        cJSON_AddNumberToObject(t, "latency_ns", perf->latency_ns);
        cJSON_AddNumberToObject(t, "energy_pj_per_image", perf->total.energy_pj);
        cJSON_AddNumberToObject(t, "tops_per_w", perf->tops_per_w);
        cJSON_AddNumberToObject(t, "area_mm2", perf->area_mm2);
    }
    if (s.n_layers)
        cJSON_AddStringToObject(t, "bottleneck", layer_name(s.ops[bottleneck(&s)]));
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

    size_t names = 0;
    for (int l = 0; l < mb.n_layers; l++)
        names += 6 * strlen(layer_name(mb.layers[l].op)) + 1;
    size_t cap = 4096 + (size_t)mb.n_blocks * (200 + names / (size_t)(mb.n_layers ? mb.n_layers : 1)) +
                 (size_t)s.tiles * 120 + names + (size_t)s.n_layers * 200;
    char *svg = malloc(cap), colour[32];
    size_t n = 0;
#define EMIT(...) n += (size_t)snprintf(svg + n, n < cap ? cap - n : 0, __VA_ARGS__)
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
                 "</title></rect>\n", x, y, blk->cols * sx, blk->rows * sy, colour, xml_text(arena, layer_name(op)),
                 (long long)b);
        }
    }
    int64_t lx = per_row * (cell + gap) + 2 * gap;
    for (int l = 0; l < mb.n_layers; l++) {
        layer_colour(l, colour, sizeof colour);
        EMIT("<rect x=\"%lld\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%lld\" y=\"%d\">%.36s"
             "</text>\n", (long long)lx, 10 + 16 * l, colour, (long long)lx + 14, 19 + 16 * l,
             xml_text(arena, layer_name(mb.layers[l].op)));
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
