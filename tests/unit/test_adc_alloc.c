/* test_adc_alloc.c: partial-sum statistics and the ADC bit allocation driver
 * (study/adc_search.c, docs/adc.md).
 *
 *  - statistics: a layer small enough that every column sum of every DAC
 *    cycle is counted by hand here, against psum_max and the percentiles;
 *  - the driver on the bundled digits MLP: the allocated program, run here in
 *    the simulator independently of the driver, must agree with the lossless
 *    program on the calibration images within the tolerance, and its accuracy
 *    on their labels must be within the tolerance of the lossless one's;
 *  - energy: the report must equal conversions (counted here from the shapes:
 *    rows x DAC cycles x ADC columns, and checked against the simulator's
 *    counters) times E_8 * 2^(bits - 8) with the program's own bits. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/program.h"
#include "study/study.h"

#define TEST_FIXTURE
#include "test_support.h"

/* The diagnostics of a failed step show in the test's output. */
static void teardown(void)
{
    diags_print(&diags, stderr);
    test_teardown();
}

TestSuite(adc_alloc, .init = test_setup, .fini = teardown);

/* ---- statistics by hand ---- */

/* 50 input rows of 2 codes times w = [1, 2] (one weight column, pair-analog,
 * 4 slices of 2 bits: both weights live in slice 0, the other slices hold 0).
 * Row 0 is x = [3, 1]: cycle 0 drives bits [1, 1], a sum of 1 + 2 = 3; cycle
 * 1 drives [1, 0]: 1.  Rows 1..49 are [1, 0]: one sum of 1 each.  Every other
 * conversion is 0: 50 rows x 8 cycles x 4 slice columns = 1600 conversions,
 * of which one is 3, fifty are 1 and 1549 are 0.
 *   max = 3; p99.99 needs 1599.84 of them: all, 3; p99.9 needs 1598.4 and
 *   p99 1584: 1549 zeros are not enough, with the ones 1599 are: 1. */
static const char stats_ir[] =
    "xir 1\n"
    "graph @hand {\n"
    "  arch {adc_bits = 8, cell_bits = 2, cols = 16, cols_per_adc = 8, dac_bits = 1, g_max_us = 100.0, "
    "g_min_us = 1.0, input_bits = 8, rows = 16, sign = \"pair-analog\", tiles = 0, weight_bits = 8, "
    "weight_granularity = \"channel\"}\n"
    "  input %x : f32[50,2]\n"
    "  const %w : f32[1,2,1] = [1.0, 2.0]\n"
    "  %y : f32[50,1] = xbar(%x, %w) {form = \"matmul\", in_bits = 8, in_scale = 1.0, in_signed = 0, "
    "w_bits = 8, w_scale = [1.0]}\n"
    "  output %y\n"
    "}\n";

Test(adc_alloc, statistics_by_hand)
{
    Graph *g = ir_parse(arena, "hand.xir", stats_ir, strlen(stats_ir), &diags);
    cr_assert_not_null(g);
    cr_assert(pass_run_pipeline(g, mapping_pipeline, &(PassOptions){0}, &diags));
    float x[100] = {3, 1};
    for (int r = 1; r < 50; r++)
        x[2 * r] = 1;
    cr_assert(adc_collect_stats(g, x, 1, &diags));
    const Op *op = g->ops[0];
    const char *names[] = {"psum_max", "psum_p9999", "psum_p999", "psum_p99"};
    const float want[] = {3, 3, 1, 1};
    for (int i = 0; i < 4; i++) {
        const Attr *a = ir_attr(op, names[i]);
        cr_assert(a && a->kind == ATTR_FLOATS && a->count == 1, "%s", names[i]);
        cr_expect_eq(a->floats[0], want[i], "%s = %g, expected %g", names[i], a->floats[0], want[i]);
    }
    /* The pass then: clip=max, 3 needs 2 bits + sign = 3 bits at step 1. */
    cr_assert(pass_run_pipeline(g, "adc-alloc", &(PassOptions){0}, &diags));
    const int64_t *bits;
    cr_assert_eq(ir_attr_ints(op, "adc_bits", &bits), 1);
    cr_expect_eq(bits[0], 3);
    cr_expect_eq(ir_attr(op, "adc_max")->floats[0], 3.0f);
}

Test(adc_alloc, histogram_and_energy_formula)
{
    uint64_t counts[5] = {0};
    PsumHist h = {.n_bins = 5, .counts = counts};
    double v[] = {0, -1, 1, 2, -2, 2, 3, 4, 9, -7.5};
    psum_hist_add(&h, v, 10);
    /* |v| 0 | 1, 1 | 2, 2, 2 | 3 | 4, 9, 7.5 (the last bin holds the rest) */
    cr_expect_eq(counts[0], 1);
    cr_expect_eq(counts[1], 2);
    cr_expect_eq(counts[2], 3);
    cr_expect_eq(counts[3], 1);
    cr_expect_eq(counts[4], 3);
    cr_expect_eq(h.total, 10);
    cr_expect_eq(h.max_abs, 9.0);
    /* Wide bins: 0..3 | 4..7 | the rest. */
    uint64_t wide[3] = {0};
    PsumHist w = {.n_bins = 3, .bin_width = 4, .counts = wide};
    double u[] = {0, -3, 3.5, 4, -7, 8, 100};
    psum_hist_add(&w, u, 7);
    cr_expect_eq(wide[0], 3);
    cr_expect_eq(wide[1], 2);
    cr_expect_eq(wide[2], 2);
    cr_expect_eq(w.max_abs, 100.0);
    cr_expect_float_eq(adc_conversion_pj(8), 1.6, 1e-12);
    cr_expect_float_eq(adc_conversion_pj(6), 0.4, 1e-12);
    cr_expect_float_eq(adc_conversion_pj(10), 6.4, 1e-12);
}

/* ---- the driver on the digits MLP ---- */

static Graph *mapped_mlp(const Dataset *train, int count)
{
    Graph *g = onnx_import(arena, test_source_path(arena, "models/mlp_digits.onnx"), NULL, 0, &diags);
    cr_assert_not_null(g);
    PassOptions quiet = {0};
    g->arch = arena_alloc(arena, sizeof *g->arch);
    *g->arch = arch_default();
    cr_assert(pass_run_pipeline(g, default_pipeline, &quiet, &diags));
    cr_assert(pass_run_pipeline(g, lowering_pipeline, &quiet, &diags));
    cr_assert(calibrate_xbar(g, train->images, count, &diags));
    cr_assert(pass_run_pipeline(g, "quantize", &quiet, &diags));
    cr_assert(pass_run_pipeline(g, mapping_pipeline, &quiet, &diags));
    return g;
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = v[i] > v[best] ? i : best;
    return best;
}

/* Top-1 classes of the graph's program on the images. */
static Program *predict(const Graph *g, const Dataset *data, int count, int *top)
{
    Program *p = emit_program(arena, g, &diags);
    cr_assert_not_null(p);
    Sim *sim = sim_new(p);
    int64_t size = type_numel(&data->image_type);
    int n_out = (int)type_numel(&g->outputs[0]->type);
    for (int i = 0; i < count; i++) {
        memcpy(sim_input(sim, 0), data->images + i * size, (size_t)size * sizeof(float));
        sim_run(sim);
        top[i] = argmax(sim_output(sim, 0), n_out);
    }
    sim_free(sim);
    return p;
}

Test(adc_alloc, mlp_within_tolerance_and_energy_accounted, .timeout = 120)
{
    Dataset train;
    cr_assert(dataset_load(arena, "digits", "train", NULL, &train, &diags));
    int count = train.count < 300 ? train.count : 300;
    Graph *lossless = mapped_mlp(&train, count);
    Graph *g = mapped_mlp(&train, count);

    AdcAllocOptions options = {.tolerance = 1.0, .max_images = count, .clip = "p99.9", .error_scale = 1.0};
    AdcReport report;
    cr_assert(adc_allocate(g, train.images, count, &options, &report, &diags));
    cr_assert_eq(report.images, count);

    int *ref = arena_array(arena, (size_t)count, sizeof(int));
    int *top = arena_array(arena, (size_t)count, sizeof(int));
    predict(lossless, &train, count, ref);
    Program *p = predict(g, &train, count, top);
    int differ = 0, ref_correct = 0, correct = 0;
    for (int i = 0; i < count; i++) {
        differ += top[i] != ref[i];
        ref_correct += ref[i] == train.labels[i];
        correct += top[i] == train.labels[i];
    }
    cr_expect_leq(differ, options.tolerance / 100 * count, "%d of %d predictions changed", differ, count);
    cr_expect_geq(100.0 * correct / count, 100.0 * ref_correct / count - options.tolerance);
    cr_expect_float_eq(report.agree_alloc, 100.0 * (count - differ) / count, 1e-9);

    /* Something was saved, and the bits came down below the lossless ones. */
    double alloc = 0, uniform = 0, lossless_pj = 0;
    for (int l = 0; l < report.n_layers; l++) {
        alloc += report.layers[l].pj_alloc;
        uniform += report.layers[l].pj_uniform;
        lossless_pj += report.layers[l].pj_lossless;
        cr_expect_leq(report.layers[l].bits_max, report.layers[l].lossless_bits);
    }
    cr_expect_lt(alloc, uniform);
    /* The baseline is the architecture's own uniform ADCs (10 bits), at least
     * the lossless bits of every block. */
    cr_expect_geq(uniform, lossless_pj);
    cr_expect_eq(report.uniform_bits, 10);

    /* Energy: conversions from the shapes, each at its block's bits. */
    Sim *sim = sim_new(p);
    memcpy(sim_input(sim, 0), train.images, (size_t)type_numel(&train.image_type) * sizeof(float));
    sim_run(sim);
    for (int l = 0; l < report.n_layers; l++) {
        double pj = 0;
        uint64_t conversions = 0;
        for (int k = 0; k < p->n_instrs; k++) {
            const Instr *in = &p->instrs[k];
            if (in->opcode != INSTR_MVM || strcmp(in->layer, report.layers[l].layer) != 0)
                continue;
            const MvmParams *m = &in->mvm;
            int64_t width = p->buffers[in->src[0]].type.dims[p->buffers[in->src[0]].type.rank - 1];
            int64_t rows = type_numel(&p->buffers[in->src[0]].type) / width;
            int magnitude = m->in_signed ? m->in_bits - 1 : m->in_bits;
            int cycles = (magnitude + m->dac_bits - 1) / m->dac_bits * (m->in_signed ? 2 : 1);
            uint64_t c = (uint64_t)(rows * cycles * m->out_cols);
            cr_expect_eq(sim_instr_counters(sim, k).conversions, c, "instruction %d", k);
            conversions += c;
            pj += (double)c * 1.6 * pow(2.0, m->adc_bits - 8);
        }
        cr_expect_eq(report.layers[l].conversions, conversions, "%s", report.layers[l].layer);
        cr_expect_float_eq(report.layers[l].pj_alloc, pj, 1e-9 * pj, "%s: %g pJ, expected %g",
                           report.layers[l].layer, report.layers[l].pj_alloc, pj);
    }
    sim_free(sim);
}
