/* test_finetune.c: hybrid fine-tuning (study/finetune.c, docs/finetune.md)
 * and the emitter's reprogramming of one layer (backend/emit.c).
 *
 * The digits MLP (models/mlp_digits.onnx: 64 -> 128 -> ReLU -> 10) is compiled
 * in-process as `xbarc compile` does.  References, each independent of the
 * code under test:
 *   - emit_reprogram_layer against emit_program itself: the graph's quantized
 *     weights replaced by others and emitted from scratch must give the same
 *     levels, byte for byte, as the old program reprogrammed with them;
 *   - the fine-tuned program's last layer against the integer reference,
 *     written here from docs/crossbar.md 3 and 5: its weights decoded from the
 *     tile levels of the file read back (pair slices, recombined), the hidden
 *     layer from the reference interpreter, dequantized with the program's
 *     out_scale and bias; on an ideal chip the simulator must give those
 *     bits, and every column's largest |w_q| must be qmax (the quantize rule);
 *   - accuracy: on a chip with strong variation and stuck cells, the test
 *     accuracy after fine-tuning must be higher than before, for three seeds;
 *     retraining both layers (--layers fc) must reach near the float accuracy
 *     (0.9778, models/mlp_digits.accuracy) and lower the training loss;
 *   - fault_fit against a brute force over every level of a weight's cells;
 *   - a rewritten tile's cells: the same stuck faults, a programming deviation
 *     drawn anew (uncorrelated with the first, of the same sigma);
 *   - the same seed gives the same program, another seed another one. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "study/study.h"
#include "study/finetune_net.h"
#include "runtime/noise.h"
#include "runtime/program.h"
#include "runtime/quant.h"
#include "runtime/runtime.h"

#define TEST_FIXTURE
#include "test_support.h"

/* The diagnostics of a failed step show in the test's output. */
static void teardown(void)
{
    diags_print(&diags, stderr);
    test_teardown();
}

TestSuite(finetune, .init = test_setup, .fini = teardown);

/* The digits MLP lowered, calibrated on 512 training images, quantized and
 * mapped with the defaults (what `xbarc compile` does). */
static Graph *mapped_mlp(const Dataset *train)
{
    Graph *g = onnx_import(arena, test_source_path(arena, "models/mlp_digits.onnx"), NULL, 0, &diags);
    cr_assert(g, "import failed");
    PassOptions options = {0};
    cr_assert(pass_run_pipeline(g, default_pipeline, &options, &diags));
    g->arch = arena_alloc(arena, sizeof *g->arch);
    *g->arch = arch_default();
    cr_assert(pass_run_pipeline(g, lowering_pipeline, &options, &diags));
    cr_assert(calibrate_xbar(g, train->images, 512, &diags));
    cr_assert(pass_run_pipeline(g, "quantize", &options, &diags));
    cr_assert(pass_run_pipeline(g, mapping_pipeline, &options, &diags));
    return g;
}

static void load(Dataset *train, Dataset *test)
{
    cr_assert(dataset_load(arena, "digits", "train", NULL, train, &diags));
    cr_assert(dataset_load(arena, "digits", "test", NULL, test, &diags));
}

static Op *xbar_op(const Graph *g, int which)
{
    for (int i = 0; i < g->n_ops; i++)
        if (!g->ops[i]->dead && g->ops[i]->kind == OP_XBAR && which-- == 0)
            return g->ops[i];
    cr_assert_fail("no xbar op %d", which);
    return NULL;
}

/* The strong chip of the accuracy test: 10% proportional variation and 2% of
 * the cells stuck at each end. */
static void strong_chip(Program *p)
{
    p->arch.prog_model = PROG_PROPORTIONAL;
    p->arch.prog_sigma = 0.1;
    p->arch.sa0_fraction = 0.02;
    p->arch.sa1_fraction = 0.02;
}

/* ---- the emitter's reprogramming ---- */

Test(finetune, reprogramming_matches_a_fresh_emit)
{
    Dataset train, test;
    load(&train, &test);
    Graph *g = mapped_mlp(&train);
    Program *old = emit_program(arena, g, &diags);
    cr_assert(old);
    /* new weights for the last layer: a scramble of the old ones, some negated,
     * the extremes included */
    Op *op = xbar_op(g, 1);
    Value *w = op->inputs[1];
    int64_t K = w->type.dims[1], N = w->type.dims[2];
    float *fresh = arena_array(arena, (size_t)(K * N), sizeof(float));
    for (int64_t i = 0; i < K * N; i++)
        fresh[i] = (float)((int)((i * 37 + 11) % 255) - 127);
    w->data = fresh;
    Program *want = emit_program(arena, g, &diags);
    cr_assert(want);
    cr_assert(emit_reprogram_layer(old, ir_layer_name(g, op), fresh, 1, K, N, &diags));
    cr_assert_eq(old->n_tiles, want->n_tiles);
    size_t cells = (size_t)old->arch.rows * (size_t)old->arch.cols;
    for (int t = 0; t < old->n_tiles; t++)
        cr_assert(memcmp(old->tiles[t].levels, want->tiles[t].levels, cells) == 0, "tile %d differs", t);

    /* a weight out of range is refused, naming the layer */
    fresh[5] = 128;
    cr_assert_not(emit_reprogram_layer(old, ir_layer_name(g, op), fresh, 1, K, N, &diags));
    cr_assert(strstr(diags.first->text, "/fc2/Gemm") && strstr(diags.first->text, "128"), "%s", diags.first->text);
    cr_assert_not(emit_reprogram_layer(old, "no_such_layer", fresh, 1, K, N, &diags));
    diags.n_errors = 0, diags.first = NULL;
}

/* ---- fine-tuning ---- */

/* w_q[k, n] of the last layer decoded from the tile levels (docs/crossbar.md 5,
 * pair-analog: slice s of column n at physical column 8 n + 2 s + polarity). */
static void decode_last_layer(const Program *p, int64_t K, int64_t N, float *w_q)
{
    int mvm = -1;
    for (int i = 0; i < p->n_instrs; i++)
        if (p->instrs[i].opcode == INSTR_MVM)
            mvm = i;
    const MvmParams *m = &p->instrs[mvm].mvm;
    cr_assert_eq(m->rows, K, "one block holds the whole layer");
    cr_assert_eq(m->phys_cols, 8 * N);
    const Tile *t = &p->tiles[m->tile];
    for (int64_t k = 0; k < K; k++)
        for (int64_t n = 0; n < N; n++) {
            int v = 0;
            for (int s = 0; s < 4; s++) {
                size_t at = (size_t)(m->tile_row + k) * (size_t)t->cols + (size_t)(m->tile_col + 8 * n + 2 * s);
                v += (t->levels[at] - t->levels[at + 1]) * (1 << (2 * s));
            }
            w_q[k * N + n] = (float)v;
        }
}

Test(finetune, improves_accuracy_and_reprograms_the_last_layer_only)
{
    Dataset train, test;
    load(&train, &test);
    Graph *g = mapped_mlp(&train);
    const char *path = arena_printf(arena, "/tmp/test_finetune_%d.xbp", (int)getpid());
    for (uint64_t seed = 1; seed <= 3; seed++) {
        Program *p = emit_program(arena, g, &diags), *orig = emit_program(arena, g, &diags);
        cr_assert(p && orig);
        strong_chip(p);
        double before = finetune_accuracy(p, seed, test.images, test.labels, test.count);
        /* seed 3: Yao et al.'s float retraining, whose weights are written
         * with the standard levels (the quantize rule is checked on them) */
        bool plain = seed == 3;
        FinetuneReport report;
        /* Yao et al.'s recipe: the last layer alone, 20 epochs at 1e-3 */
        FinetuneOptions yao = {.plain = plain, .layers = 1, .epochs = 20, .learning_rate = 1e-3};
        cr_assert(finetune_program(p, seed, train.images, train.labels, train.count, &yao, &report, &diags));
        double after = finetune_accuracy(p, seed, test.images, test.labels, test.count);
        cr_expect_gt(after, before + 0.02, "seed %d: before %.4f, after %.4f", (int)seed, before, after);
        cr_expect_gt(report.train_after, report.train_before);
        cr_expect_gt(report.stuck_weights, 0);

        /* read back: the first layer's tiles as emitted, the last layer's changed */
        Outputs *outs = outputs_new(arena, &diags);
        cr_assert(outputs_commit(outs, program_write(p, outs, path, &diags)));
        Program *back = program_read(arena, path, &diags);
        unlink(path);
        cr_assert(back);
        for (int t = 0; t < back->n_tiles; t++)   /* packed as read: a byte a cell for memcmp */
            tile_unpack(arena, &back->tiles[t]);
        /* it records the chip it was tuned for */
        cr_expect(back->tuned && back->tuned_seed == seed && strstr(back->tuned_chip, "sa0_fraction="),
                  "seed %d: tuned %d for seed %llu, chip '%s'", (int)seed, back->tuned,
                  (unsigned long long)back->tuned_seed, back->tuned_chip ? back->tuned_chip : "(none)");
        cr_expect(!orig->tuned);
        size_t cells = (size_t)back->arch.rows * (size_t)back->arch.cols;
        int last = back->n_tiles - 1;
        for (int t = 0; t < last; t++)
            cr_assert(memcmp(back->tiles[t].levels, orig->tiles[t].levels, cells) == 0, "tile %d changed", t);
        cr_assert(memcmp(back->tiles[last].levels, orig->tiles[last].levels, cells) != 0, "last tile unchanged");
        for (int t = 0; t <= last; t++)
            cr_expect_eq(back->tiles[t].writes, t == last, "tile %d written %u times", t, back->tiles[t].writes);

        /* the integer reference of the new last layer, on the ideal chip */
        int64_t K = 128, N = 10;
        float *w_q = arena_array(arena, (size_t)(K * N), sizeof(float));
        decode_last_layer(back, K, N, w_q);
        for (int64_t n = 0; n < N && plain; n++) {
            float max_abs = 0;
            for (int64_t k = 0; k < K; k++)
                max_abs = fmaxf(max_abs, fabsf(w_q[k * N + n]));
            cr_expect_eq(max_abs, 127, "column %d: largest |w_q| %g, not qmax", (int)n, max_abs);
        }
        const Instr *quant = NULL, *dequant = NULL;
        for (int i = 0; i < back->n_instrs; i++) {
            const Instr *in = &back->instrs[i];
            if (strcmp(in->layer, "/fc2/Gemm") == 0 && in->opcode == INSTR_QUANT)
                quant = in;
            if (strcmp(in->layer, "/fc2/Gemm") == 0 && in->opcode == INSTR_DEQUANT)
                dequant = in;
        }
        cr_assert(quant && dequant && dequant->src[1] >= 0);
        const float *bias = back->buffers[dequant->src[1]].data;
        Interp *interp = interp_new(g);
        Sim *sim = sim_new(back);
        Value *hidden = xbar_op(g, 1)->inputs[0];
        for (int i = 0; i < 20; i++) {
            const float *image = test.images + (size_t)i * 64;
            memcpy(interp_input(interp, 0), image, 64 * sizeof(float));
            interp_run(interp);
            const float *h = interp_value(interp, hidden);
            memcpy(sim_input(sim, 0), image, 64 * sizeof(float));
            sim_run(sim);
            const float *y = sim_output(sim, 0);
            int32_t qmax = quant_qmax(quant->quant.bits, quant->quant.is_signed);
            for (int64_t n = 0; n < N; n++) {
                int64_t acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (int64_t)quant_code(h[k], quant->quant.scale, 0, qmax) * (int64_t)w_q[k * N + n];
                float want = quant_dequant(acc, dequant->dequant.out_scale[n], bias[n]);
                cr_assert(y[n] == want, "seed %d image %d logit %d: %g, not %g", (int)seed, i, (int)n, y[n], want);
            }
        }
        sim_free(sim);
        interp_free(interp);
    }
}

Test(finetune, same_seed_same_program)
{
    Dataset train, test;
    load(&train, &test);
    Graph *g = mapped_mlp(&train);
    Program *p[3];
    uint64_t seeds[3] = {5, 5, 6};
    for (int i = 0; i < 3; i++) {
        p[i] = emit_program(arena, g, &diags);
        strong_chip(p[i]);
        FinetuneReport report;
        cr_assert(finetune_program(p[i], seeds[i], train.images, train.labels, 400,
                                   &(FinetuneOptions){.epochs = 5}, &report, &diags));
    }
    int last = p[0]->n_tiles - 1, dq = -1;
    for (int i = 0; i < p[0]->n_instrs; i++)
        if (p[0]->instrs[i].opcode == INSTR_DEQUANT)
            dq = i;
    size_t cells = (size_t)p[0]->arch.rows * (size_t)p[0]->arch.cols;
    cr_assert(memcmp(p[0]->tiles[last].levels, p[1]->tiles[last].levels, cells) == 0);
    cr_assert(memcmp(p[0]->instrs[dq].dequant.out_scale, p[1]->instrs[dq].dequant.out_scale, 10 * sizeof(float)) == 0);
    cr_assert(memcmp(p[0]->buffers[p[0]->instrs[dq].src[1]].data, p[1]->buffers[p[1]->instrs[dq].src[1]].data,
                     10 * sizeof(float)) == 0);
    cr_assert(memcmp(p[0]->tiles[last].levels, p[2]->tiles[last].levels, cells) != 0, "another seed, another chip");
}

Test(finetune, refuses_a_convolution_last_layer)
{
    /* the last crossbar layer of a program: a conv gets a message naming it */
    Program p = {.arena = arena, .arch = arch_default()};
    Instr instrs[3] = {
        {.opcode = INSTR_QUANT, .layer = "conv1", .dst = 1, .src = {0, -1, -1}},
        {.opcode = INSTR_IM2COL, .layer = "conv1", .dst = 2, .src = {1, -1, -1}},
        {.opcode = INSTR_MVM, .layer = "conv1", .dst = 3, .src = {2, -1, -1}},
    };
    p.instrs = instrs;
    p.n_instrs = 3;
    const char *layer;
    int64_t k, n;
    float *w;
    cr_assert_not(finetune_read_weights(&p, &layer, &k, &n, &w, arena, &diags));
    cr_assert(strstr(diags.first->text, "conv1") && strstr(diags.first->text, "convolution"), "%s",
              diags.first->text);
    diags.n_errors = 0, diags.first = NULL;
}

Test(finetune, retrains_every_fully_connected_layer)
{
    Dataset train, test;
    load(&train, &test);
    Graph *g = mapped_mlp(&train);
    Program *p = emit_program(arena, g, &diags), *orig = emit_program(arena, g, &diags);
    cr_assert(p && orig);
    strong_chip(p);
    uint64_t seed = 1;
    double before = finetune_accuracy(p, seed, test.images, test.labels, test.count);
    FinetuneReport report;
    cr_assert(finetune_program(p, seed, train.images, train.labels, 1000,
                               &(FinetuneOptions){.layers = FINETUNE_LAYERS_FC, .epochs = 10}, &report, &diags));
    double after = finetune_accuracy(p, seed, test.images, test.labels, test.count);
    cr_assert_eq(report.n_layers, 2);
    cr_expect_eq(report.features, 64);
    cr_expect_eq(report.weights, 64 * 128 + 128 * 10);
    cr_expect_lt(report.loss_after, report.loss_before, "loss %.4f -> %.4f", report.loss_before,
                 report.loss_after);
    /* float 0.9778 (models/mlp_digits.accuracy); the chip loses much of it */
    cr_expect_lt(before, 0.9, "before %.4f", before);
    cr_expect_gt(after, 0.96, "before %.4f, after %.4f", before, after);
    /* every tile was rewritten */
    size_t cells = (size_t)p->arch.rows * (size_t)p->arch.cols;
    for (int t = 0; t < p->n_tiles; t++)
        cr_expect(memcmp(p->tiles[t].levels, orig->tiles[t].levels, cells) != 0, "tile %d unchanged", t);

    /* more layers than the program has fully connected ones: named */
    Program *q = emit_program(arena, g, &diags);
    cr_assert_not(finetune_program(q, seed, train.images, train.labels, 10, &(FinetuneOptions){.layers = 3},
                                   &report, &diags));
    cr_assert(strstr(diags.first->text, "3 layers") && strstr(diags.first->text, "not fed by a crossbar layer"), "%s",
              diags.first->text);
    diags.n_errors = 0, diags.first = NULL;
}

/* The value a weight's 2 x 4 cells (pair, 2-bit slices) read as. */
static int pair_value(const int *levels, const int *stuck)
{
    int v = 0;
    for (int s = 0; s < 4; s++) {
        int a = stuck[2 * s] >= 0 ? stuck[2 * s] : levels[2 * s];
        int b = stuck[2 * s + 1] >= 0 ? stuck[2 * s + 1] : levels[2 * s + 1];
        v += (a - b) * (1 << (2 * s));
    }
    return v;
}

Test(finetune, fault_fit_finds_the_closest_value)
{
    FaultMap f = {.slices = 4, .cell_bits = 2, .polarities = 2, .width = 8};
    uint64_t state = 12345;
    for (int trial = 0; trial < 40; trial++) {
        int stuck[8];
        float stuck_f[8];
        for (int x = 0; x < 8; x++) {
            state = state * 6364136223846793005u + 1442695040888963407u;
            int r = (int)(state >> 59);     /* 0..31: a third of the cells stuck */
            stuck[x] = r < 5 ? 0 : r < 10 ? 3 : -1;
            stuck_f[x] = (float)stuck[x];
        }
        /* brute force: every level of the 8 cells */
        int best[255];
        for (int w = -127; w <= 127; w++)
            best[w + 127] = 1 << 20;
        for (int code = 0; code < 1 << 16; code++) {
            int levels[8];
            for (int x = 0; x < 8; x++)
                levels[x] = (code >> (2 * x)) & 3;
            int v = pair_value(levels, stuck);
            for (int w = -127; w <= 127; w++)
                best[w + 127] = abs(v - w) < best[w + 127] ? abs(v - w) : best[w + 127];
        }
        for (int w = -127; w <= 127; w += 3) {
            int a[16], b[16], levels[8];
            double got = fault_fit(&f, stuck_f, w, 127, a, b);
            for (int s = 0; s < 4; s++)
                levels[2 * s] = a[s], levels[2 * s + 1] = b[s];
            cr_assert_eq(pair_value(levels, stuck), (int)got, "trial %d w %d: levels give %d, fit says %g", trial, w,
                         pair_value(levels, stuck), got);
            cr_assert_eq(abs((int)got - w), best[w + 127], "trial %d w %d: %g, the closest is %d away", trial, w, got,
                         best[w + 127]);
        }
    }
    /* 8-bit cells: the standard levels, the stuck cell read stuck (one slice:
     * a positive cell stuck at 255 reads 255 - |w| for w < 0, 255 for w >= 0) */
    FaultMap wide = {.slices = 1, .cell_bits = 8, .polarities = 2, .width = 2};
    float stuck_wide[2] = {255, -1};
    int a[16], b[16];
    cr_expect_eq(fault_fit(&wide, stuck_wide, -100, 127, a, b), 155);
    cr_expect_eq(fault_fit(&wide, stuck_wide, 100, 127, a, b), 255);
}

Test(finetune, a_rewrite_draws_the_variation_anew)
{
    Arch arch = arch_default();
    arch.prog_model = PROG_PROPORTIONAL, arch.prog_sigma = 0.05;
    arch.sa0_fraction = 0.01, arch.sa1_fraction = 0.01;
    Noise *nz = noise_new(arena, &arch, 7);
    double level_us = (arch.g_max_us - arch.g_min_us) / 3, target = arch.g_min_us + 2 * level_us;
    double sum_xy = 0, sum_xx = 0, sum_yy = 0;
    int n = 0, stuck = 0;
    for (int r = 0; r < 128; r++)
        for (int c = 0; c < 128; c++) {
            double g0, now0, g1, now1, g2, now2;
            noise_cell(nz, 3, r, c, 2, 128, 128, &g0, &now0);
            noise_cell_rewritten(nz, 3, 0, r, c, 2, 128, 128, &g1, &now1);
            cr_assert_eq(g0, g1, "writes 0 is the first programming");
            noise_cell_rewritten(nz, 3, 1, r, c, 2, 128, 128, &g2, &now2);
            bool stuck0 = g0 == arch.g_min_us || g0 == arch.g_max_us;
            cr_assert_eq(stuck0, g2 == arch.g_min_us || g2 == arch.g_max_us, "a fault stays");
            if (stuck0) {
                cr_assert_eq(g0, g2);
                stuck++;
                continue;
            }
            double x = (g0 - target) / (0.05 * target), y = (g2 - target) / (0.05 * target);
            sum_xy += x * y, sum_xx += x * x, sum_yy += y * y;
            n++;
        }
    /* 16384 cells, 2% stuck; z of the two writes: variance 1 each, correlation ~ 1/sqrt(n) */
    cr_expect(stuck > 200 && stuck < 460, "%d stuck", stuck);
    cr_expect(fabs(sum_xx / n - 1) < 0.05 && fabs(sum_yy / n - 1) < 0.05, "variances %g %g", sum_xx / n,
              sum_yy / n);
    cr_expect_lt(fabs(sum_xy / sqrt(sum_xx * sum_yy)), 0.03, "correlation %g", sum_xy / sqrt(sum_xx * sum_yy));
}
