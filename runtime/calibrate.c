/* calibrate.c: activation ranges of the crossbar layers, for the quantize pass.
 *
 * The float reference interpreter runs the lowered, not yet quantized graph on
 * each calibration image, and every xbar op records the smallest and largest
 * value its input x took over all images (docs/crossbar.md section 3) as the
 * float attributes `act_min` and `act_max`.  The interpreter keeps every
 * intermediate buffer after a run, so one pass over the ops after each run
 * reads them all.  NaNs are ignored (comparisons with NaN are false).
 * The images can go over several threads, an Interp each: what a pass
 * gathers (min, max, integer counts) merges to the same bits for any number
 * of threads (tests/unit/test_calibrate_threads.c).
 * calibrate_nominal() skips the data altogether (`xbarc compile --calib
 * none`): every layer gets one range, which maps and quantizes a network
 * exactly as real ranges would, but computes nothing meaningful. */
#include "runtime.h"
#include "runtime/quant.h"

#include <float.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *op_name(Diags *diags, const Op *op)
{
    return ir_name_text(diags->arena, op->result->name);
}

/* Magnitudes in RANGE_BINS equal bins over [0, the layer's largest]: the
 * bound chosen is a bin's upper edge, so a range is within 1/RANGE_BINS of
 * the layer's largest magnitude of the exact quantile or optimum. */
enum { RANGE_BINS = 4096 };

/* What a pass over the images gathers, per op: the smallest and largest
 * input (NaNs ignored: comparisons with NaN are false), the count beyond a
 * given magnitude, the histogram of magnitudes.  Each worker gathers its own;
 * merged, min, max and integer sums are the same whatever the split. */
typedef struct {
    float *lo, *hi;
    uint64_t *over;
    uint64_t (*bins)[RANGE_BINS];
} Stats;

/* What a pass reads: each op's rule, and the histograms' ends and rows. */
typedef struct {
    const CalibRange *rule;
    const float *top;           /* per op: the largest magnitude (the histogram's end) */
    const int *slot;            /* op index -> row of bins, -1 for ops that are not xbar */
    int n_ops, n_xbar;
} Shared;

typedef void (*VisitInput)(const Shared *sh, Stats *st, int op_index, const float *x, int64_t n);

typedef struct {
    const Graph *g;
    const float *images;
    int count, index, n_workers;
    VisitInput visit;
    const Shared *shared;
    Stats stats;
} CalibWorker;

static void *run_worker(void *arg)
{
    CalibWorker *w = arg;
    const Graph *g = w->g;
    Interp *interp = interp_new(g);
    int64_t image_size = type_numel(&g->inputs[0]->type);
    for (int image = w->index; image < w->count; image += w->n_workers) {
        memcpy(interp_input(interp, 0), w->images + image * image_size, (size_t)image_size * sizeof(float));
        interp_run(interp);
        for (int i = 0; i < g->n_ops; i++)
            if (g->ops[i]->kind == OP_XBAR)
                w->visit(w->shared, &w->stats, i, interp_value(interp, g->ops[i]->inputs[0]),
                         type_numel(&g->ops[i]->inputs[0]->type));
    }
    interp_free(interp);
    return NULL;
}

static bool stats_alloc(Stats *st, const Shared *sh)
{
    size_t n = (size_t)sh->n_ops;
    st->lo = malloc(n * sizeof *st->lo);
    st->hi = malloc(n * sizeof *st->hi);
    st->over = calloc(n, sizeof *st->over);
    st->bins = calloc((size_t)sh->n_xbar + 1, sizeof *st->bins);
    for (size_t i = 0; st->lo && st->hi && i < n; i++) {
        st->lo[i] = INFINITY;
        st->hi[i] = -INFINITY;
    }
    return st->lo && st->hi && st->over && st->bins;
}

static void stats_free(Stats *st)
{
    free(st->lo);
    free(st->hi);
    free(st->over);
    free(st->bins);
}

/* Runs the interpreter on every image, `threads` workers with an Interp each
 * (worker w takes images w, w + T, ...; worker 0 is the calling thread), and
 * hands each live xbar op's input to visit; then merges the workers' stats
 * into `total`, which are the same bits for any thread count. */
static bool run_images(const Graph *g, const float *images, int count, int threads, VisitInput visit,
                       const Shared *sh, Stats *total)
{
    int n = threads < 1 ? 1 : threads > count ? count : threads;
    CalibWorker *workers = calloc((size_t)n, sizeof *workers);
    pthread_t *ids = calloc((size_t)n, sizeof *ids);
    bool ok = workers && ids;
    int started = 0;
    for (int w = 0; ok && w < n; w++) {
        workers[w] = (CalibWorker){.g = g, .images = images, .count = count, .index = w, .n_workers = n,
                                   .visit = visit, .shared = sh};
        ok = stats_alloc(&workers[w].stats, sh);
    }
    for (int w = 1; ok && w < n; w++)
        if ((ok = pthread_create(&ids[w], NULL, run_worker, &workers[w]) == 0))
            started = w;
    if (ok)
        run_worker(&workers[0]);
    for (int w = 1; w <= started; w++)
        pthread_join(ids[w], NULL);
    for (int w = 0; ok && w < n; w++) {
        const Stats *st = &workers[w].stats;
        for (int i = 0; i < sh->n_ops; i++) {
            total->lo[i] = st->lo[i] < total->lo[i] ? st->lo[i] : total->lo[i];
            total->hi[i] = st->hi[i] > total->hi[i] ? st->hi[i] : total->hi[i];
            total->over[i] += st->over[i];
        }
        for (int r = 0; r < sh->n_xbar; r++)
            for (int b = 0; b < RANGE_BINS; b++)
                total->bins[r][b] += st->bins[r][b];
    }
    for (int w = 0; workers && w < n; w++)
        stats_free(&workers[w].stats);
    free(workers);
    free(ids);
    return ok;
}

static void visit_min_max(const Shared *sh, Stats *st, int i, const float *x, int64_t n)
{
    (void)sh;
    float lo = st->lo[i], hi = st->hi[i];
    for (int64_t j = 0; j < n; j++) {
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
    st->lo[i] = lo;
    st->hi[i] = hi;
}

/* Given ranges: per op, how many values lie beyond its magnitude. */
static void visit_over(const Shared *sh, Stats *st, int i, const float *x, int64_t n)
{
    if (sh->rule[i].rule != RANGE_VALUE)
        return;
    uint64_t over = 0;
    for (int64_t j = 0; j < n; j++)
        over += fabsf(x[j]) > sh->rule[i].value;
    st->over[i] += over;
}

static void visit_histogram(const Shared *sh, Stats *st, int i, const float *x, int64_t n)
{
    uint64_t *bins = st->bins[sh->slot[i]];
    float per_bin = sh->top[i] > 0 ? (float)RANGE_BINS / sh->top[i] : 0;
    for (int64_t j = 0; j < n; j++) {
        float m = fabsf(x[j]) * per_bin;
        if (m == m)             /* NaNs are ignored, as in the min-max run */
            bins[m >= RANGE_BINS - 1 ? RANGE_BINS - 1 : (int)m]++;
    }
}

/* Each op's rule: its own (the string attribute act_range, written by
 * `xbarc compile --calib-range LAYER=RULE`) or the graph's. */
static CalibRange *op_rules(Graph *g, const CalibRange *range, Diags *diags)
{
    CalibRange *rule = arena_array(g->arena, (size_t)g->n_ops + 1, sizeof *rule);
    for (int i = 0; i < g->n_ops; i++) {
        const Attr *a = ir_attr(g->ops[i], "act_range");
        rule[i] = *range;
        if (a && (a->kind != ATTR_STRING || !calib_range_parse(a->s, &rule[i])))
            diag_error(diags, &g->ops[i]->loc, "xbar %%%s: act_range must be a string, max, mse, pN or a "
                       "positive magnitude, not %s", op_name(diags, g->ops[i]),
                       a->kind == ATTR_STRING ? arena_printf(diags->arena, "'%s'", a->s) : "another kind");
    }
    return rule;
}

/* The number of bins (from the bottom) the rule keeps: the bound is bin
 * keep's upper edge, keep * top / RANGE_BINS. */
static int bins_kept(const uint64_t *bins, const CalibRange *range, int qmax)
{
    uint64_t total = 0;
    for (int b = 0; b < RANGE_BINS; b++)
        total += bins[b];
    if (range->rule == RANGE_PERCENTILE) {
        uint64_t allowed = (uint64_t)floor((1.0 - range->percentile) * (double)total), above = 0;
        int keep = RANGE_BINS;
        while (keep > 1 && above + bins[keep - 1] <= allowed)
            above += bins[--keep];
        return keep;
    }
    /* mse: clipping error of the bins above plus rounding error (step^2 / 12
     * a value) of those kept, in units of one bin. */
    int best = RANGE_BINS;
    double best_error = INFINITY;
    for (int keep = 1; keep <= RANGE_BINS; keep++) {
        double clip = 0, kept = 0, step = (double)keep / qmax;
        for (int b = 0; b < RANGE_BINS; b++) {
            double over = b + 0.5 - keep;
            if (over > 0)
                clip += (double)bins[b] * over * over;
            else
                kept += (double)bins[b];
        }
        double error = clip + kept * step * step / 12;
        if (error < best_error)
            best_error = error, best = keep;
    }
    return best;
}

bool calib_range_parse(const char *text, CalibRange *out)
{
    char *end;
    *out = (CalibRange){.rule = RANGE_MAX};
    if (strcmp(text, "max") == 0)
        return true;
    if (strcmp(text, "mse") == 0)
        return out->rule = RANGE_MSE, true;
    if ((text[0] >= '0' && text[0] <= '9') || text[0] == '.') {
        double v = strtod(text, &end);
        if (*end || !(v > 0 && v <= FLT_MAX))
            return false;
        *out = (CalibRange){.rule = RANGE_VALUE, .value = (float)v};
        return true;
    }
    if (text[0] != 'p')
        return false;
    double p = strtod(text + 1, &end);
    if (end == text + 1 || *end || !(p >= 50 && p < 100))
        return false;
    *out = (CalibRange){.rule = RANGE_PERCENTILE, .percentile = p / 100};
    return true;
}

bool calibrate_xbar(Graph *g, const float *images, int count, Diags *diags)
{
    CalibRange max = {.rule = RANGE_MAX};
    return calibrate_xbar_range(g, images, count, &max, 1, diags);
}

bool calibrate_xbar_range(Graph *g, const float *images, int count, const CalibRange *range, int threads,
                          Diags *diags)
{
    Loc none = {0};
    if (g->n_inputs != 1) {
        diag_error(diags, &none, "calibration needs a graph with one input; @%s has %d", g->name, g->n_inputs);
        return false;
    }
    if (count < 1) {
        diag_error(diags, &none, "calibration needs at least one image");
        return false;
    }
    int errors_before = diags->n_errors;
    int n_xbar = 0;
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        if (op->kind != OP_XBAR)
            continue;
        n_xbar++;
        if (ir_attr(op, "in_scale"))
            diag_error(diags, &op->loc, "xbar %%%s is already quantized: calibrate before the quantize pass",
                       op_name(diags, op));
    }
    if (diags->n_errors != errors_before)
        return false;
    if (n_xbar == 0)
        return true;

    if (!interp_fits(g, 1, diags))
        return false;
    float *top = arena_array(g->arena, (size_t)g->n_ops, sizeof(float));
    int *slot = arena_array(g->arena, (size_t)g->n_ops, sizeof(int));
    Shared sh = {.top = top, .slot = slot, .n_ops = g->n_ops, .n_xbar = n_xbar};
    Stats m;
    if (!stats_alloc(&m, &sh) || !run_images(g, images, count, threads, visit_min_max, &sh, &m)) {
        stats_free(&m);
        diag_error(diags, &none, "calibration: out of memory or threads for %d workers", threads);
        return false;
    }
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->kind != OP_XBAR)
            continue;
        if (!(m.lo[i] <= m.hi[i]))
            diag_error(diags, &op->loc, "the input of xbar %%%s was NaN on every calibration image",
                       op_name(diags, op));
    }
    CalibRange *rule = diags->n_errors == errors_before ? op_rules(g, range, diags) : NULL;
    if (diags->n_errors != errors_before) {
        stats_free(&m);
        return false;
    }
    sh.rule = rule;
    bool values = false, histograms = false;
    for (int i = 0; i < g->n_ops; i++) {
        values |= g->ops[i]->kind == OP_XBAR && rule[i].rule == RANGE_VALUE;
        histograms |= g->ops[i]->kind == OP_XBAR && rule[i].rule != RANGE_VALUE && rule[i].rule != RANGE_MAX;
        top[i] = g->ops[i]->kind == OP_XBAR ? fmaxf(fabsf(m.lo[i]), fabsf(m.hi[i])) : 0;
    }
    for (int i = 0, next = 0; i < g->n_ops; i++)
        slot[i] = g->ops[i]->kind == OP_XBAR ? next++ : -1;
    bool ok = (!values || run_images(g, images, count, threads, visit_over, &sh, &m)) &&
              (!histograms || run_images(g, images, count, threads, visit_histogram, &sh, &m));
    for (int i = 0; ok && i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->kind != OP_XBAR)
            continue;
        /* +0 for a zero end: which zero came first depends on the image order */
        float lo = m.lo[i] == 0 ? 0.0f : m.lo[i], hi = m.hi[i] == 0 ? 0.0f : m.hi[i];
        if (rule[i].rule == RANGE_VALUE) {
            /* the data give the sign alone: signed codes when it went below 0 */
            lo = lo < 0 ? -rule[i].value : fminf(lo, rule[i].value);
            hi = rule[i].value;
            ir_set_int(g, op, "act_clipped", (int64_t)m.over[i]);
        } else if (rule[i].rule != RANGE_MAX && top[i] > 0) {
            const uint64_t *bins = m.bins[slot[i]];
            int bits = g->arch ? g->arch->input_bits : arch_default().input_bits;
            int keep = bins_kept(bins, &rule[i], quant_qmax(bits, lo < 0));
            float bound = top[i] * (float)keep / RANGE_BINS;
            uint64_t clipped = 0;
            for (int b = keep; b < RANGE_BINS; b++)
                clipped += bins[b];
            lo = lo < -bound ? -bound : lo;
            hi = hi > bound ? bound : hi;
            ir_set_int(g, op, "act_clipped", (int64_t)clipped);
        }
        ir_set_float(g, op, "act_min", lo);
        ir_set_float(g, op, "act_max", hi);
    }
    stats_free(&m);
    if (!ok)
        diag_error(diags, &none, "calibration: out of memory or threads for %d workers", threads);
    return ok;
}

void calibrate_nominal(Graph *g, float act_min, float act_max)
{
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        const Attr *own = ir_attr(op, "act_range");
        CalibRange value;
        bool given = own && own->kind == ATTR_STRING && calib_range_parse(own->s, &value) && value.rule == RANGE_VALUE;
        if (op->kind == OP_XBAR && !op->dead && !ir_attr(op, "in_scale")) {
            ir_set_float(g, op, "act_min", act_min);
            ir_set_float(g, op, "act_max", given ? value.value : act_max);
        }
    }
}
