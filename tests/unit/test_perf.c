/* test_perf.c: the performance model (backend/perf.c, docs/perf.md) against
 * figures worked out by hand.
 *
 * A small program is built by hand (two crossbar layers and a relu), so every
 * expected number below is the formula of docs/perf.md applied to the
 * parameter table, written out here: reads, conversions, the read step of a
 * block from its busiest shared ADC, turns on a shared tile, energy by
 * component, TOPS/W and area.  A compiled LeNet-5 checks the rest against
 * independent facts: its MAC count, the simulator's counters, and a
 * replicated layer's time. */
#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "passes/mapping.h"
#include "runtime/runtime.h"
#include "test_support.h"
#include "program_builder.h"

/* ---- a program built by hand ---- */

enum { CAP = 64 };

/* quant -> mvm -> combine -> dequant: K inputs, N weight columns of 4 slices
 * x a pair (8 physical columns each), one vector, 8-bit unsigned codes. */
static int add_layer(Program *pg, const char *name, int src, int K, int N, int tile, int row, int col, int adc_bits)
{
    int codes = builder_buffer2(pg, BUF_TEMP, false, 1, K);
    Instr *q = builder_instr(pg, INSTR_QUANT, name, codes, src);
    q->quant = (QuantParams){.scale = 1, .bits = 8};
    int out = builder_buffer2(pg, BUF_TEMP, false, 1, 4 * N);
    Instr *m = builder_instr(pg, INSTR_MVM, name, out, codes);
    m->mvm = (MvmParams){.tile = tile, .tile_row = row, .tile_col = col, .rows = K, .phys_cols = 8 * N,
                         .out_cols = 4 * N, .dac_bits = 1, .in_bits = 8, .sign = SIGN_PAIR_ANALOG,
                         .adc_bits = adc_bits, .adc_max = (float)((1 << (adc_bits - 1)) - 1), .row_end = 1};
    int acc = builder_buffer2(pg, BUF_TEMP, true, 1, N);
    Instr *c = builder_instr(pg, INSTR_COMBINE, name, acc, out);
    c->combine = (CombineParams){.n_cols = N, .n_per_group = N, .slices = 4, .cell_bits = 2,
                                 .sign = SIGN_PAIR_ANALOG, .row_end = 1};
    int y = builder_buffer2(pg, BUF_TEMP, false, 1, N);
    Instr *d = builder_instr(pg, INSTR_DEQUANT, name, y, acc);
    d->src[1] = builder_buffer2(pg, BUF_CONST, false, 1, N);
    d->dequant = (DequantParams){.batch = 1, .channels = N, .pixels = 1,
                                 .out_scale = pg->buffers[d->src[1]].data};
    return y;
}

/* Layer A: 100 x 5 weights (40 columns) at tile 0 (0, 0), 9-bit ADCs; a relu;
 * layer C: 50 x 2 weights (16 columns) on tile c_tile at (c_row, c_col). */
static Program *small_program(Arena *arena, int c_tile, int c_row, int c_col)
{
    Program *pg = builder_program(arena, CAP);
    pg->arch = arch_default();
    pg->arch.adc_bits = 8;      /* ISAAC's: tile 0's 9-bit blocks then need larger ADCs (area) */
    pg->n_tiles = 2;
    int x = builder_buffer2(pg, BUF_INPUT, false, 1, 100);
    int a = add_layer(pg, "A", x, 100, 5, 0, 0, 0, 9);

    Value *in = arena_alloc(arena, sizeof *in), *res = arena_alloc(arena, sizeof *res);
    in->type = res->type = pg->buffers[a].type;
    Op *relu = arena_alloc(arena, sizeof *relu);
    relu->kind = OP_RELU;
    relu->n_inputs = 1;
    relu->inputs = arena_array(arena, 1, sizeof(Value *));
    relu->inputs[0] = in;
    relu->result = res;
    int r = builder_buffer2(pg, BUF_TEMP, false, 1, 5);
    builder_instr(pg, INSTR_DIGITAL, "R", r, a)->op = relu;

    int y = add_layer(pg, "C", r, 50, 2, c_tile, c_row, c_col, 8);
    pg->buffers[y].kind = BUF_OUTPUT;
    pg->outputs[pg->n_outputs++] = y;
    return pg;
}


/* ---- the figures of the small program ---- */

Test(perf, formulas_by_hand)
{
    Arena *arena = arena_new();
    Program *pg = small_program(arena, 1, 0, 0);
    PerfParams p = perf_params_default();
    PerfReport r;
    perf_model(arena, pg, &p, NULL, 0, &r);
    cr_assert_eq(r.n_layers, 3);
    cr_expect_str_eq(r.layers[0].name, "A");
    cr_expect_str_eq(r.layers[1].name, "R");
    cr_expect_str_eq(r.layers[2].name, "C");
    const PerfLayer *A = &r.layers[0], *R = &r.layers[1], *C = &r.layers[2];

    /* A: one vector x 8 DAC cycles; 20 analog pairs converted a read. */
    NEAR(A->reads, 8);
    NEAR(A->conversions, 160);
    NEAR(A->macs, 100 * 5);
    /* 40 columns from column 0: ADC groups of 8 columns hold 4 pairs each. */
    double t_conv = 1 / 1.28, step = 100 + 4 * t_conv;
    NEAR(A->xbar_ns, 8 * step);
    NEAR(C->xbar_ns, 8 * step);         /* 16 columns: 2 groups of 4 pairs */
    double e_cell = 0.3e-3 * 100e-9 / 16384 * 1e12, e_sh = 10e-6 * 100e-9 / 1024 * 1e12;
    double e_dac = 4e-3 * 100e-9 / 1024 * 1e12, e_sa = 0.05e-3 / 1.2e9 * 1e12;
    NEAR(p.cell_pj, e_cell);
    NEAR(A->xbar_pj, 8 * 40 * (100 * e_cell + e_sh));
    NEAR(A->dac_pj, 8 * 100 * e_dac);
    NEAR(A->adc_pj, 160 * 1.6 * 2);     /* 9 bits: twice the 8-bit 1.6 pJ */
    NEAR(C->adc_pj, 8 * 8 * 1.6);
    NEAR(A->shift_add_pj, 160 * e_sa);
    /* digital: quant 100, combine 20 values, dequant 2 x 5 ops */
    NEAR(A->digital_ops, 100 + 20 + 10);
    NEAR(A->digital_ns, 130 / 1.2);
    NEAR(A->stage_ns, 8 * step);
    /* buffers: quant reads 100 values (2 B) and writes 100 codes (1 B), the
     * mvm reads its 100 codes, dequant writes 5 values */
    NEAR(A->buffer_bytes, 200 + 100 + 100 + 10);
    NEAR(A->buffer_pj, 410 * (20.7e-3 + 7e-3) / (48 * 1.2e9) * 1e12);
    NEAR(A->digital_pj, 130 * 0.4e-3 / 1.2e9 * 1e12);
    NEAR(A->energy_pj, A->xbar_pj + A->dac_pj + A->adc_pj + A->shift_add_pj + A->digital_pj + A->buffer_pj);
    /* the relu: 5 ops, reads and writes 5 values */
    NEAR(R->reads, 0);
    NEAR(R->digital_ops, 5);
    NEAR(R->buffer_bytes, 20);
    NEAR(R->stage_ns, 5 / 1.2);

    /* totals */
    NEAR(r.period_ns, 8 * step);
    cr_expect_eq(r.bottleneck, 0);      /* the first of the two equal stages */
    NEAR(r.latency_ns, A->xbar_ns + A->digital_ns + R->digital_ns + C->xbar_ns + C->digital_ns);
    NEAR(r.images_per_s, 1e9 / (8 * step));
    NEAR(r.ops, 2 * (500 + 100));
    NEAR(r.total.energy_pj, A->energy_pj + R->energy_pj + C->energy_pj);
    NEAR(r.tops_per_w, 1200 / r.total.energy_pj);
    /* area: tile 0 has 9-bit ADCs, tile 1 8-bit; 16 ADCs a tile */
    double fixed = 0.0002 / 8 + 128 * 0.00017 / 1024 + 128 * 0.00004 / 1024 + (0.0021 + 0.00077) / 8;
    double adc8 = 0.0012 + 0.00024 / 8, adc9 = 2 * 0.0012 + 0.00024 / 8;
    NEAR(r.area_tiles_mm2, 2 * fixed + 16 * adc8 + 16 * adc9);
    NEAR(r.area_mm2, r.area_tiles_mm2 + 0.083 + 0.090 + 0.0006 + 0.00006 + 0.00024 + 0.0032);
    arena_free(arena);
}

/* Blocks on one tile take turns when they share rows or an ADC group. */
Test(perf, turns_on_a_shared_tile)
{
    Arena *arena = arena_new();
    PerfParams p = perf_params_default();
    double step = 100 + 4 / 1.28;
    struct { int row, col; double factor; const char *what; } cases[] = {
        {0, 64, 2, "rows shared"},
        {100, 36, 2, "ADC group 4 (columns 32..39) shared"},
        {100, 40, 1, "disjoint rows and ADC groups"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        PerfReport r;
        perf_model(arena, small_program(arena, 0, cases[i].row, cases[i].col), &p, NULL, 0, &r);
        cr_expect(fabs(r.layers[0].xbar_ns - cases[i].factor * 8 * step) < 1e-6, "%s: A takes %g ns, want %g",
                  cases[i].what, r.layers[0].xbar_ns, cases[i].factor * 8 * step);
        cr_expect(fabs(r.layers[2].xbar_ns - cases[i].factor * 8 * step) < 1e-6, "%s: C takes %g ns", cases[i].what,
                  r.layers[2].xbar_ns);
    }
    arena_free(arena);
}

Test(perf, adc_formulas)
{
    PerfParams p = perf_params_default();
    for (int b = 2; b <= 12; b++) {
        NEAR(perf_adc_pj(&p, b), 1.6 * pow(2, b - 8));
        NEAR(perf_adc_pj(&p, b), adc_conversion_pj(b));  /* the one of docs/adc.md */
        NEAR(perf_adc_ns(&p, b), 1 / 1.28);
    }
    cr_assert_null(perf_param_set(&p, "adc_model", "mnsim"));
    NEAR(perf_adc_pj(&p, 8), 2e-3 * 10 / 1.28e9 * 1e12);   /* 15.625 pJ: ~10x ISAAC's */
    NEAR(perf_adc_ns(&p, 8), 10 / 1.28);
    NEAR(perf_adc_pj(&p, 4), 2e-3 * 6 / 1.28e9 * 1e12);
    /* MNSIM's slower conversions lengthen the read step of the small program */
    Arena *arena = arena_new();
    PerfReport r;
    perf_model(arena, small_program(arena, 1, 0, 0), &p, NULL, 0, &r);
    NEAR(r.layers[0].xbar_ns, 8 * (100 + 4 * 11 / 1.28));
    NEAR(r.layers[0].adc_pj, 160 * 2e-3 * 11 / 1.28e9 * 1e12);
    arena_free(arena);
}

Test(perf, params_by_name)
{
    PerfParams p = perf_params_default();
    cr_expect_null(perf_param_assign(&p, "read_ns=10"));
    NEAR(p.read_ns, 10);
    cr_expect_null(perf_param_set(&p, "cell_pj", "0.5e-3"));
    NEAR(p.cell_pj, 0.5e-3);
    cr_expect_not_null(perf_param_set(&p, "cell_pj", "abc"));
    cr_expect_not_null(perf_param_set(&p, "cell_pj", "-1"));
    cr_expect_not_null(perf_param_set(&p, "digital_gops", "0"));
    cr_expect_not_null(perf_param_set(&p, "no_such", "1"));
    cr_expect_not_null(perf_param_set(&p, "adc_model", "flash"));
    cr_expect_not_null(perf_param_assign(&p, "read_ns"));
    NEAR(p.cell_pj, 0.5e-3);                   /* refused values change nothing */

    /* Every figure is documented with its source in docs/perf.md. */
    Arena *arena = arena_new();
    const char *path = test_source_path(arena, "docs/perf.md");
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    static char doc[1 << 16];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = 0;
    fclose(f);
    arena_free(arena);
    for (int i = 0; i < perf_param_count(); i++) {
        char cell[80];
        snprintf(cell, sizeof cell, "| `%s` |", perf_param_name(i));
        cr_expect(strstr(doc, cell), "docs/perf.md has no table row for %s", perf_param_name(i));
        cr_expect(*perf_param_source(i), "%s has no source", perf_param_name(i));
    }
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    cr_assert(cJSON_IsNumber(v), "JSON field %s is missing or not a number", name);
    return v->valuedouble;
}

Test(perf, json_parses_back)
{
    Arena *arena = arena_new();
    PerfParams p = perf_params_default();
    PerfReport r;
    perf_model(arena, small_program(arena, 0, 0, 64), &p, NULL, 0, &r);
    char *text = perf_to_json(arena, &r);
    cJSON *root = cJSON_Parse(text);
    cr_assert_not_null(root, "not JSON: %s", text);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    cr_assert_eq(cJSON_GetArraySize(layers), 3);
    double energy = 0;
    int i = 0;
    for (const cJSON *L = layers->child; L; L = L->next, i++) {
        cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(L, "name")->valuestring, r.layers[i].name);
        NEAR(num(L, "stage_ns"), r.layers[i].stage_ns);
        NEAR(num(L, "reads"), r.layers[i].reads);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(L, "energy_pj");
        NEAR(num(e, "total"), num(e, "xbar") + num(e, "dac") + num(e, "adc") + num(e, "shift_add") +
                              num(e, "digital") + num(e, "buffer"));
        energy += num(e, "total");
    }
    NEAR(num(root, "energy_pj"), energy);
    NEAR(num(root, "tops_per_w"), num(root, "ops") / energy);
    NEAR(num(root, "images_per_s"), 1e9 / num(root, "period_ns"));
    NEAR(num(root, "period_ns"), 2 * 8 * (100 + 4 / 1.28));     /* A and C share rows */
    const cJSON *area = cJSON_GetObjectItemCaseSensitive(root, "area_mm2");
    NEAR(num(area, "total"), num(area, "tiles") + num(area, "digital"));
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(params, "adc_model")->valuestring, "isaac");
    NEAR(num(params, "adc_e8_pj"), 1.6);
    cJSON_Delete(root);

    /* The file is written whole, and refused where it cannot be. */
    Diags d;
    diags_init(&d, arena);
    char path[] = "/tmp/xbarc-test-perf-XXXXXX";
    cr_assert_not_null(mkdtemp(path));
    char *file = arena_printf(arena, "%s/stats.json", path);
    Outputs *outs = outputs_new(arena, &d);
    cr_assert(outputs_commit(outs, perf_write_json(&r, outs, file, &d)));
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f);
    static char back[1 << 16];
    size_t n = fread(back, 1, sizeof back - 1, f);
    back[n] = 0;
    fclose(f);
    cr_expect_str_eq(back, text);
    remove(file);
    remove(path);
    outs = outputs_new(arena, &d);
    cr_expect(!outputs_commit(outs, perf_write_json(&r, outs, "/nonexistent-dir/stats.json", &d)));
    cr_expect_eq(d.n_errors, 1);
    arena_free(arena);
}

/* ---- a compiled LeNet-5 ---- */

/* Gives the first xbar op r copies, each with the ADCs of the blocks it
 * copies, and places the blocks again (as tests/unit/test_bitexact.c does). */
static bool replicate_first(Graph *g, int64_t r, Diags *d)
{
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->kind != OP_XBAR || op->dead)
            continue;
        const Attr *bits = ir_attr(op, "adc_bits"), *full = ir_attr(op, "adc_max");
        int n = bits->count;
        int64_t *b = arena_array(g->arena, (size_t)(n * r), sizeof(int64_t));
        float *f = arena_array(g->arena, (size_t)(n * r), sizeof(float));
        for (int64_t j = 0; j < r; j++) {
            memcpy(b + j * n, bits->ints, (size_t)n * sizeof(int64_t));
            memcpy(f + j * n, full->floats, (size_t)n * sizeof(float));
        }
        ir_set_int(g, op, "replicas", r);
        ir_set_ints(g, op, "adc_bits", b, (int)(n * r));
        ir_set_floats(g, op, "adc_max", f, (int)(n * r));
        break;
    }
    PassOptions options = {0};
    return pass_run_pipeline(g, "place", &options, d);
}

static Program *compile_lenet(Arena *arena, const char *mapping, int64_t conv1_copies)
{
    Diags d;
    diags_init(&d, arena);
    Graph *g = onnx_import(arena, test_source_path(arena, "models/lenet5.onnx"), NULL, 0, &d);
    PassOptions options = {0};
    bool ok = g && pass_run_pipeline(g, default_pipeline, &options, &d) &&
              pass_run_pipeline(g, lowering_pipeline, &options, &d);
    float *images = arena_array(arena, 4 * 784, sizeof(float));
    for (int i = 0; i < 4 * 784; i++)
        images[i] = (float)((i * 37) % 101) / 100;
    ok = ok && calibrate_xbar(g, images, 4, &d) && pass_run_pipeline(g, "quantize", &options, &d) &&
         pass_run_pipeline(g, mapping, &options, &d) && (conv1_copies == 1 || replicate_first(g, conv1_copies, &d));
    Program *p = ok ? emit_program(arena, g, &d) : NULL;
    if (!p)
        diags_print(&d, stderr);
    cr_assert_not_null(p);
    return p;
}

Test(perf, lenet_counters_and_replicas, .timeout = 120)
{
    Arena *arena = arena_new();
    Program *p = compile_lenet(arena, mapping_pipeline, 3);
    PerfParams params = perf_params_default();
    PerfReport shapes, counted;
    perf_model(arena, p, &params, NULL, 0, &shapes);

    Sim *sim = sim_new(p);
    SimCounters *sum = arena_array(arena, (size_t)p->n_instrs, sizeof(SimCounters));
    for (int run = 0; run < 2; run++) {
        for (int i = 0; i < 784; i++)
            sim_input(sim, 0)[i] = (float)((i * 13 + run) % 17) / 16;
        sim_run(sim);
        for (int k = 0; k < p->n_instrs; k++) {
            sum[k].reads += sim_instr_counters(sim, k).reads;
            sum[k].conversions += sim_instr_counters(sim, k).conversions;
        }
    }
    sim_free(sim);
    perf_model(arena, p, &params, sum, 2, &counted);
    cr_expect_eq(counted.images, 2);
    cr_assert_eq(counted.n_layers, shapes.n_layers);
    for (int l = 0; l < shapes.n_layers; l++) {
        NEAR(counted.layers[l].reads, shapes.layers[l].reads);
        NEAR(counted.layers[l].conversions, shapes.layers[l].conversions);
        NEAR(counted.layers[l].energy_pj, shapes.layers[l].energy_pj);
    }
    /* LeNet-5's MACs: 784x25x6 + 100x150x16 + 400x120 + 120x84 + 84x10 */
    NEAR(counted.total.macs, 117600 + 240000 + 48000 + 10080 + 840);
    /* 8-bit unsigned codes, 1-bit DACs: reads = 8 x vectors x blocks */
    const PerfLayer *conv1 = &counted.layers[0];
    /* a layer is named by its ONNX node: the conv, the batch norm folded into it */
    cr_expect_str_eq(conv1->name, "/conv1/Conv");
    NEAR(conv1->reads, 8.0 * 784 * conv1->blocks / (conv1->replicas ? conv1->replicas : 1));
    /* conv1 has 3 copies; each reads its share of the 784 pixels: the busiest
     * ceil(784 / 3) = 262 vectors of 8 steps, 4 pairs on an ADC. */
    cr_expect_eq(conv1->replicas, 3);
    NEAR(conv1->xbar_ns, 262 * 8 * (100 + 4 / 1.28));
    /* Its digital work is spread over its copies' units, and so is that of
     * the digital-only layer after it; conv2 has one copy, one unit. */
    NEAR(conv1->digital_ns, conv1->digital_ops / (1.2 * 3));
    const PerfLayer *after = &counted.layers[1], *conv2 = NULL;
    cr_expect_eq(after->blocks, 0, "%s follows conv1 without crossbar work", after->name);
    cr_expect_gt(after->digital_ops, 0);
    NEAR(after->digital_ns, after->digital_ops / (1.2 * 3));
    for (int l = 1; l < counted.n_layers && !conv2; l++)
        if (counted.layers[l].blocks)
            conv2 = &counted.layers[l];
    cr_assert(conv2);
    NEAR(conv2->digital_ns, conv2->digital_ops / 1.2);
    cr_expect_eq(counted.bottleneck >= 0, true);
    NEAR(counted.period_ns, counted.layers[counted.bottleneck].stage_ns);
    arena_free(arena);
}

/* The replication search and the performance model charge the same stage
 * times (passes/timing.c): the bottleneck the search reports for a budget is
 * the period the performance model gives the emitted program, within 0.1%
 * (digital time is rounded up to a picosecond per op in the search), and
 * both name the same slowest layer.  LeNet-5 at budgets where the crossbar's
 * reads (conv1) and where digital ops set the period, with every packing. */
Test(perf, replication_search_agrees_with_the_model, .timeout = 120)
{
    static const char *const packings[] = {"none", "dense", "balanced"};
    static const int budgets[] = {48, 200, 1000};
    int digital = 0;
    for (int k = 0; k < 9; k++) {
        Arena *arena = arena_new();
        const char *packing = packings[k % 3];
        int budget = budgets[k / 3];
        const char *mapping = arena_printf(arena, "sign-map,bit-slice,split{mode=%s},replicate{tiles=%d,packing=%s},"
                                           "place{packing=%s},adc-lossless", strcmp(packing, "none") ? "full" :
                                           "balanced", budget, packing, packing);
        Program *p = compile_lenet(arena, mapping, 1);
        /* The graph again, for the search's own answer. */
        Diags d;
        diags_init(&d, arena);
        const char *src = getenv("XBARC_SOURCE_DIR");
        Graph *g = onnx_import(arena, arena_printf(arena, "%s/models/lenet5.onnx", src), NULL, 0, &d);
        PassOptions options = {0};
        float *images = arena_array(arena, 4 * 784, sizeof(float));
        for (int i = 0; i < 4 * 784; i++)
            images[i] = (float)((i * 37) % 101) / 100;
        cr_assert(g && pass_run_pipeline(g, default_pipeline, &options, &d) &&
                  pass_run_pipeline(g, lowering_pipeline, &options, &d) && calibrate_xbar(g, images, 4, &d) &&
                  pass_run_pipeline(g, "quantize,sign-map,bit-slice", &options, &d) &&
                  pass_run_pipeline(g, strcmp(packing, "none") ? "split{mode=full}" : "split", &options, &d));
        MapBlocks mb;
        cr_assert(mapping_blocks(arena, g, "test", &mb, &d));
        PackMode mode;
        cr_assert(pack_mode_from_name(packing, &mode));
        PackParams pp = {.rows = mb.arch->rows, .cols = mb.arch->cols, .cols_per_adc = mb.arch->cols_per_adc,
                         .mode = mode, .stage_floor = mb.head_ps};
        int64_t *copies = arena_array(arena, (size_t)mb.n_layers, sizeof(int64_t));
        int64_t bottleneck = repl_search(arena, &pp, mapping_repl_layers(arena, &mb), mb.n_layers, budget, copies);
        cr_assert(bottleneck > 0, "budget %d: no replication fits", budget);

        PerfParams params = perf_params_default();
        PerfReport perf;
        perf_model(arena, p, &params, NULL, 0, &perf);
        double searched = 1e12 / (double)bottleneck;
        if (mode != PACK_DENSE)     /* dense packing's turns come on top of the search's bottleneck */
            cr_expect(fabs(perf.images_per_s / searched - 1) < 1e-3, "%s, %d tiles: the search predicts %.6g "
                      "images/s, the performance model %.6g", packing, budget, searched, perf.images_per_s);
        /* The mapping statistics of the placed graph are the model's too. */
        cr_assert(pass_run_pipeline(g, arena_printf(arena, "replicate{tiles=%d,packing=%s},place{packing=%s}",
                                                    budget, packing, packing), &options, &d));
        MappingStats st;
        cr_assert(mapping_stats(arena, g, &st, &d));
        cr_expect(fabs(perf.images_per_s / st.images_per_s - 1) < 1e-3, "%s, %d tiles: mapping %.6g images/s, "
                  "performance model %.6g", packing, budget, st.images_per_s, perf.images_per_s);
        cr_assert(st.bottleneck && perf.bottleneck >= 0);
        cr_expect_str_eq(perf.layers[perf.bottleneck].name, ir_layer_name(g, st.bottleneck), "%s, %d tiles", packing,
                         budget);
        digital += st.bottleneck_digital;
        arena_free(arena);
    }
    printf("test_perf: search, mapping and performance model agree on 9 replicated LeNet-5 programs (%d "
           "bound by digital ops)\n", digital);
    cr_expect(digital >= 2, "no budget where digital ops set the period");
}
