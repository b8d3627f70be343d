/* test_evaluate.c: the threaded evaluator (runtime/evaluate.c).
 *
 * The digits MLP (models/mlp_digits.onnx) is compiled here as `xbarc compile`
 * does it and evaluated on the 540 test images.  The reference is a plain loop
 * written in this file: one Sim, image i run after sim_set_stream(i), its
 * argmax taken by hand; the loop runs the images backwards, so that agreeing
 * with it also shows that an image's result does not depend on what ran
 * before it.  The evaluator must give the same predictions, the same logits
 * bit for bit, the same counters and the same accuracy with 1, 2, 3 and 7
 * threads, on an ideal chip and on a noisy one (whose outputs must differ
 * from the ideal ones, else the test would prove nothing about noise).  The
 * graph version is checked the same way against the interpreter. */
#include <criterion/criterion.h>

#include <string.h>

#include "backend/backend.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/metrics.h"
#include "runtime/noise.h"
#include "runtime/program.h"
#include "runtime/runtime.h"
#include "test_support.h"

typedef struct {
    Arena *arena;
    Graph *g;           /* the mapped graph (its xbar ops run the integer reference) */
    Program *program;
    Dataset data;
    EvalSet set;
} Model;

static void run_pipeline(Graph *g, const char *pipeline, Diags *d)
{
    PassOptions options = {0};
    cr_assert(pass_run_pipeline(g, pipeline, &options, d), "pipeline %s failed", pipeline);
}

static Model compile_mlp(void)
{
    Model m = {.arena = arena_new()};
    Diags d;
    diags_init(&d, m.arena);
    m.g = onnx_import(m.arena, test_source_path(m.arena, "models/mlp_digits.onnx"), NULL, 0, &d);
    cr_assert(m.g, "import failed");
    run_pipeline(m.g, default_pipeline, &d);
    m.g->arch = arena_alloc(m.arena, sizeof *m.g->arch);
    *m.g->arch = arch_default();
    run_pipeline(m.g, lowering_pipeline, &d);
    Dataset train;
    cr_assert(dataset_load(m.arena, "digits", "train", NULL, &train, &d), "no digits training set");
    cr_assert(calibrate_xbar(m.g, train.images, train.count < 256 ? train.count : 256, &d));
    run_pipeline(m.g, "quantize", &d);
    run_pipeline(m.g, mapping_pipeline, &d);
    m.program = emit_program(m.arena, m.g, &d);
    cr_assert(m.program, "emit failed");
    cr_assert(dataset_load(m.arena, "digits", "test", NULL, &m.data, &d), "no digits test set");
    m.set = (EvalSet){.images = m.data.images, .image_numel = type_numel(&m.data.image_type),
                      .labels = m.data.labels, .count = m.data.count};
    return m;
}

static int top1(const float *v, int64_t n)
{
    int best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = (int)i;
    return best;
}

/* The reference: one Sim, images from last to first. */
typedef struct {
    int *predictions;
    float *logits;
    int64_t n_logits;
    int correct;
    SimCounters total;
} Reference;

static Reference reference_sim(const Model *m, const Program *p, uint64_t seed)
{
    const EvalSet *s = &m->set;
    Reference ref = {.n_logits = type_numel(&p->buffers[p->outputs[0]].type)};
    ref.predictions = arena_array(m->arena, (size_t)s->count, sizeof(int));
    ref.logits = arena_array(m->arena, (size_t)s->count * (size_t)ref.n_logits, sizeof(float));
    Sim *sim = sim_new_seeded(p, seed);
    for (int i = s->count - 1; i >= 0; i--) {
        memcpy(sim_input(sim, 0), s->images + (size_t)i * (size_t)s->image_numel,
               (size_t)s->image_numel * sizeof(float));
        sim_set_stream(sim, (uint64_t)i);
        sim_run(sim);
        const float *out = sim_output(sim, 0);
        memcpy(ref.logits + (size_t)i * (size_t)ref.n_logits, out, (size_t)ref.n_logits * sizeof(float));
        ref.predictions[i] = top1(out, ref.n_logits);
        ref.correct += ref.predictions[i] == s->labels[i];
        SimCounters c = sim_counters(sim);
        ref.total.reads += c.reads;
        ref.total.conversions += c.conversions;
        ref.total.saturated += c.saturated;
    }
    sim_free(sim);
    return ref;
}

static void expect_same(const Model *m, const Reference *ref, const EvalResult *r, const char *what)
{
    cr_assert_eq(r->count, m->set.count, "%s", what);
    cr_assert_eq(r->n_logits, ref->n_logits, "%s", what);
    cr_expect_eq(r->correct, ref->correct, "%s: %d correct, the reference %d", what, r->correct, ref->correct);
    cr_expect_eq(r->accuracy, (double)ref->correct / m->set.count, "%s", what);
    for (int i = 0; i < m->set.count; i++)
        cr_assert_eq(r->predictions[i], ref->predictions[i], "%s: image %d", what, i);
    cr_assert_not_null(r->logits, "%s", what);
    cr_assert_not_null(r->ranks, "%s", what);
    for (int i = 0; i < m->set.count; i++)     /* the label's rank, from the reference's logits */
        cr_assert_eq(r->ranks[i], label_rank(ref->logits + (size_t)i * (size_t)ref->n_logits, ref->n_logits,
                                             m->set.labels[i]), "%s: image %d", what, i);
    cr_expect(memcmp(r->logits, ref->logits, (size_t)m->set.count * (size_t)ref->n_logits * sizeof(float)) == 0,
              "%s: logits differ from the reference", what);
}

typedef struct {
    int calls, last_done, last_correct, count;
    bool increasing;
} Progress;

static void on_progress(void *context, int done, int count, int correct)
{
    Progress *p = context;
    p->increasing &= done == p->last_done + 1;
    p->calls++;
    p->last_done = done;
    p->last_correct = correct;
    p->count = count;
}

static void check_threads(const Model *m, const Program *p, uint64_t seed, const Reference *ref, const char *chip)
{
    static const int thread_counts[] = {1, 2, 3, 7};
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        Diags d;
        diags_init(&d, m->arena);
        Progress progress = {.increasing = true};
        EvalOptions o = {.seed = seed, .threads = thread_counts[t], .keep_logits = true, .counters = true,
                         .progress = on_progress, .progress_context = &progress};
        EvalResult r;
        cr_assert(evaluate_program(m->arena, p, &m->set, &o, &r, &d));
        char what[64];
        snprintf(what, sizeof what, "%s chip, %d threads", chip, thread_counts[t]);
        expect_same(m, ref, &r, what);
        cr_expect_eq(r.total.reads, ref->total.reads, "%s", what);
        cr_expect_eq(r.total.conversions, ref->total.conversions, "%s", what);
        cr_expect_eq(r.total.saturated, ref->total.saturated, "%s", what);
        cr_expect_eq(r.n_instrs, p->n_instrs, "%s", what);
        uint64_t reads = 0;
        for (int k = 0; k < r.n_instrs; k++)
            reads += r.instr_counters[k].reads;
        cr_expect_eq(reads, ref->total.reads, "%s: per-instruction reads add up", what);
        cr_expect_eq(progress.calls, m->set.count, "%s", what);
        cr_expect(progress.increasing, "%s: progress counts one image at a time", what);
        cr_expect_eq(progress.last_done, m->set.count, "%s", what);
        cr_expect_eq(progress.last_correct, ref->correct, "%s", what);
        cr_expect_eq(progress.count, m->set.count, "%s", what);
    }
}

Test(evaluate, ideal_chip_same_bits_for_any_thread_count, .timeout = 120)
{
    Model m = compile_mlp();
    Reference ref = reference_sim(&m, m.program, 0);
    cr_expect_gt(ref.correct, m.set.count * 9 / 10, "the compiled MLP is a working classifier");
    check_threads(&m, m.program, 0, &ref, "ideal");
    arena_free(m.arena);
}

Test(evaluate, noisy_chip_same_bits_for_any_thread_count, .timeout = 120)
{
    Model m = compile_mlp();
    Reference ideal = reference_sim(&m, m.program, 0);
    Program noisy = *m.program;
    cr_assert(noise_preset(&noisy.arch, "rram"));
    cr_assert_null(noise_set(&noisy.arch, "read_sigma=0.05"));   /* read noise well above rounding */
    Reference ref = reference_sim(&m, &noisy, 11);
    cr_expect(memcmp(ref.logits, ideal.logits, (size_t)m.set.count * (size_t)ref.n_logits * sizeof(float)) != 0,
              "the noisy chip must change the logits");
    check_threads(&m, &noisy, 11, &ref, "noisy");

    /* another seed, another chip; the same seed and images, the same reads */
    Diags d;
    diags_init(&d, m.arena);
    EvalOptions o = {.seed = 12, .threads = 2, .keep_logits = true};
    EvalResult other;
    cr_assert(evaluate_program(m.arena, &noisy, &m.set, &o, &other, &d));
    cr_expect(memcmp(other.logits, ref.logits, (size_t)m.set.count * (size_t)ref.n_logits * sizeof(float)) != 0,
              "seed 12 must draw another chip than seed 11");
    cr_expect_null(other.instr_counters, "counters only when asked for");
    arena_free(m.arena);
}

Test(evaluate, graph_on_threads_matches_the_interpreter, .timeout = 120)
{
    Model m = compile_mlp();
    Reference ref = {.n_logits = type_numel(&m.g->outputs[0]->type)};
    ref.predictions = arena_array(m.arena, (size_t)m.set.count, sizeof(int));
    ref.logits = arena_array(m.arena, (size_t)m.set.count * (size_t)ref.n_logits, sizeof(float));
    Interp *interp = interp_new(m.g);
    for (int i = 0; i < m.set.count; i++) {
        memcpy(interp_input(interp, 0), m.set.images + (size_t)i * (size_t)m.set.image_numel,
               (size_t)m.set.image_numel * sizeof(float));
        interp_run(interp);
        memcpy(ref.logits + (size_t)i * (size_t)ref.n_logits, interp_output(interp, 0),
               (size_t)ref.n_logits * sizeof(float));
        ref.predictions[i] = top1(interp_output(interp, 0), ref.n_logits);
        ref.correct += ref.predictions[i] == m.set.labels[i];
    }
    interp_free(interp);
    for (int threads = 1; threads <= 3; threads++) {
        Diags d;
        diags_init(&d, m.arena);
        EvalOptions o = {.threads = threads, .keep_logits = true};
        EvalResult r;
        cr_assert(evaluate_graph(m.arena, m.g, &m.set, &o, &r, &d));
        char what[64];
        snprintf(what, sizeof what, "graph, %d threads", threads);
        expect_same(&m, &ref, &r, what);
    }
    arena_free(m.arena);
}

Test(evaluate, more_threads_than_images_and_bad_shapes)
{
    Model m = compile_mlp();
    Diags d;
    diags_init(&d, m.arena);
    EvalSet three = m.set;
    three.count = 3;
    EvalOptions o = {.threads = 16, .keep_logits = true};
    EvalResult r;
    cr_assert(evaluate_program(m.arena, m.program, &three, &o, &r, &d));
    Reference ref = reference_sim(&m, m.program, 0);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(r.predictions[i], ref.predictions[i]);
    cr_expect_eq(r.count, 3);

    EvalSet none = m.set;
    none.count = 0;
    cr_assert(evaluate_program(m.arena, m.program, &none, &o, &r, &d));
    cr_expect_eq(r.count, 0);
    cr_expect_eq(r.accuracy, 0.0);

    EvalSet wrong = m.set;
    wrong.image_numel = 784;
    cr_expect_not(evaluate_program(m.arena, m.program, &wrong, &o, &r, &d));
    cr_expect_not(evaluate_graph(m.arena, m.g, &wrong, &o, &r, &d));
    cr_expect_eq(d.n_errors, 2);
    cr_expect(strstr(d.first->text, "784"), "the message says what the image holds: %s", d.first->text);
    arena_free(m.arena);
}
