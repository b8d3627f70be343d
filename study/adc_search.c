/* adc_search.c: partial-sum statistics and the ADC bit allocation driver.
 *
 * docs/adc.md.  Two steps around the pure pass adc-alloc (passes/adc_alloc.c):
 *
 *   adc_collect_stats  emits the graph's program with lossless ADCs, runs it in
 *                      the simulator over the calibration images with the
 *                      psum recorder on (every read's column sums, as the ADC
 *                      sees them, into a histogram per block), and stores
 *                      percentiles of |v| per block on each xbar op.
 *   adc_allocate       the search.  The reference is the lossless program's
 *                      top-1 class on each calibration image.  Starting from
 *                      the architecture's bits (at most lossless, and per
 *                      block no more than its calibrated range needs), it
 *                      lowers one layer by one bit at a time, trying first the
 *                      layer whose step saves the most ADC energy, and keeps a
 *                      step when the program still agrees with the reference
 *                      on all but tolerance% of the images, with its output
 *                      error doubled as a margin for unseen data; a layer
 *                      whose step fails is not tried again.  Agreement bounds
 *                      accuracy: top-1 accuracy cannot drop by more than the
 *                      share of changed predictions, so no labels are needed
 *                      and the criterion is the stricter one.
 *
 * Energy is conversions times adc_conversion_pj(bits).  Conversions depend on
 * shapes only (reads times ADC columns), so one run's counters give them.
 * Every evaluation emits a fresh program into an arena of its own and stops
 * as soon as the disagreements pass the budget, so the failing steps of the
 * search are cheap. */
#include "study/study.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bins per block: one per integer up to a bound of 4094 (9 bits of a 128-row
 * block need 385), wider ones beyond, so that thousands of blocks stay cheap. */
enum { MAX_BINS = 4096 };

void psum_hist_add(PsumHist *h, const double *v, int64_t n)
{
    int last = h->n_bins - 1;
    double max_abs = h->max_abs, width = h->bin_width > 0 ? h->bin_width : 1;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs(v[i]);
        max_abs = a > max_abs ? a : max_abs;
        double q = a / width;
        int bin = q < (double)last ? (int)q : last;
        h->counts[bin]++;
    }
    h->max_abs = max_abs;
    h->total += (uint64_t)n;
}

/* The smallest x, a bin's top integer, with at least `share` of the sums at
 * |v| <= x (never above the largest |v|). */
static double hist_percentile(const PsumHist *h, double share)
{
    double need = share * (double)h->total, width = h->bin_width > 0 ? h->bin_width : 1;
    uint64_t seen = 0;
    for (int b = 0; b < h->n_bins - 1; b++) {
        seen += h->counts[b];
        if ((double)seen >= need)
            return fmin(ceil(width * (b + 1)) - 1, h->max_abs);
    }
    return h->max_abs;
}


/* ---- the program of a graph, and its blocks ---- */

/* The xbar ops with an ADC and, per op, its mvm instructions in block order
 * (the emitter writes one mvm per block, in block order). */
typedef struct {
    int n_layers;
    Op **ops;
    int *first;             /* index of the layer's first block in the flat arrays */
    int *n_blocks;
    int total_blocks;
    int *instr;             /* by flat block: its mvm instruction */
} Blocks;

static bool find_blocks(Arena *arena, const Graph *g, const Program *p, Blocks *bl, Diags *diags)
{
    memset(bl, 0, sizeof *bl);
    bl->ops = arena_array(arena, (size_t)g->n_ops + 1, sizeof(Op *));
    bl->first = arena_array(arena, (size_t)g->n_ops + 1, sizeof(int));
    bl->n_blocks = arena_array(arena, (size_t)g->n_ops + 1, sizeof(int));
    bl->instr = arena_array(arena, (size_t)p->n_instrs + 1, sizeof(int));
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        const Attr *bits = ir_attr(op, "adc_bits");
        if (op->dead || op->kind != OP_XBAR || !ir_attr(op, "in_scale") || !bits)
            continue;
        int l = bl->n_layers++;
        bl->ops[l] = op;
        bl->first[l] = bl->total_blocks;
        for (int k = 0; k < p->n_instrs; k++) {
            const Instr *in = &p->instrs[k];
            if (in->opcode == INSTR_MVM && in->layer && strcmp(in->layer, ir_layer_name(g, op)) == 0)
                bl->instr[bl->total_blocks + bl->n_blocks[l]++] = k;
        }
        if (bl->n_blocks[l] != bits->count) {
            diag_error(diags, &op->loc, "adc: xbar %%%s has %d blocks but %d mvm instructions",
                       ir_name_text(diags->arena, op->result->name), bits->count, bl->n_blocks[l]);
            return false;
        }
        bl->total_blocks += bl->n_blocks[l];
    }
    return true;
}

static bool check_graph(const Graph *g, int count, Diags *diags)
{
    if (g->n_inputs != 1 || g->n_outputs < 1) {
        diag_error(diags, NULL, "adc: the statistics need a graph with one input and an output; @%s has %d "
                   "inputs", ir_name_text(diags->arena, g->name), g->n_inputs);
        return false;
    }
    if (count < 1) {
        diag_error(diags, NULL, "adc: the statistics need at least one calibration image");
        return false;
    }
    return true;
}

static void run_image(Sim *sim, const Graph *g, const float *images, int i)
{
    int64_t size = type_numel(&g->inputs[0]->type);
    memcpy(sim_input(sim, 0), images + (int64_t)i * size, (size_t)size * sizeof(float));
    sim_run(sim);
}

/* ---- statistics ---- */

bool adc_collect_stats(Graph *g, const float *images, int count, Diags *diags)
{
    if (!check_graph(g, count, diags))
        return false;
    Arena *arena = arena_new();
    Program *p = emit_program(arena, g, diags);
    Blocks bl;
    if (!p || !find_blocks(arena, g, p, &bl, diags)) {
        arena_free(arena);
        return false;
    }
    PsumHist *hist = arena_array(arena, (size_t)p->n_instrs + 1, sizeof *hist);
    for (int b = 0; b < bl.total_blocks; b++) {
        const MvmParams *mp = &p->instrs[bl.instr[b]].mvm;
        double bound = (double)mp->rows * (ldexp(1.0, mp->dac_bits) - 1) * (ldexp(1.0, p->arch.cell_bits) - 1);
        PsumHist *h = &hist[bl.instr[b]];
        h->n_bins = bound + 2 < MAX_BINS ? (int)bound + 2 : MAX_BINS;
        h->bin_width = bound + 2 < MAX_BINS ? 1 : ceil((bound + 1) / (MAX_BINS - 1));
        h->counts = arena_array(arena, (size_t)h->n_bins, sizeof *h->counts);
    }
    Sim *sim = sim_new(p);
    sim_set_psum_recorder(sim, hist);
    for (int i = 0; i < count; i++)
        run_image(sim, g, images, i);
    sim_free(sim);

    static const char *const names[] = {"psum_max", "psum_p9999", "psum_p999", "psum_p99"};
    static const double shares[] = {1.0, 0.9999, 0.999, 0.99};
    for (int l = 0; l < bl.n_layers; l++) {
        for (int s = 0; s < 4; s++) {
            float *v = arena_array(g->arena, (size_t)bl.n_blocks[l], sizeof(float));
            for (int b = 0; b < bl.n_blocks[l]; b++) {
                const PsumHist *h = &hist[bl.instr[bl.first[l] + b]];
                v[b] = (float)(s == 0 ? h->max_abs : hist_percentile(h, shares[s]));
            }
            ir_set_floats(g, bl.ops[l], names[s], v, bl.n_blocks[l]);
        }
    }
    arena_free(arena);
    return true;
}

/* ---- evaluation ---- */

/* The lossless program's outputs on the calibration images: the reference. */
typedef struct {
    int64_t n_out;          /* elements of the first graph output */
    float *logits;          /* [images x n_out] */
    int *top;               /* top-1 class of each image */
    double error_scale;     /* a candidate's output error is magnified this much before comparing */
} Reference;

/* Runs the graph's program over the images.  With `fill` it records the
 * reference; else it counts the images whose top-1 class differs from the
 * reference's once the output error is scaled by error_scale (z + k (y - z)),
 * the search's criterion, and stops once more than `budget` differ (budget < 0:
 * never); *plain gets the count without scaling.  conversions, when not NULL,
 * gets the conversions per image of every flat block.  -1 on an error. */
static int evaluate(const Graph *g, const float *images, int count, Reference *ref, bool fill, int budget,
                    int *plain, uint64_t *conversions, Diags *diags)
{
    Arena *arena = arena_new();
    Program *p = emit_program(arena, g, diags);
    Blocks bl;
    if (!p || !find_blocks(arena, g, p, &bl, diags)) {
        arena_free(arena);
        return -1;
    }
    Sim *sim = sim_new(p);
    int64_t n_out = ref->n_out;
    float *scaled = arena_array(arena, (size_t)n_out, sizeof *scaled);
    int differ = 0, changed = 0;
    for (int i = 0; i < count && (budget < 0 || differ <= budget); i++) {
        run_image(sim, g, images, i);
        const float *y = sim_output(sim, 0);
        float *z = ref->logits + (int64_t)i * n_out;
        if (fill) {
            memcpy(z, y, (size_t)n_out * sizeof *z);
            ref->top[i] = top_class(z, n_out);
        } else {
            for (int64_t j = 0; j < n_out; j++)
                scaled[j] = (float)(z[j] + ref->error_scale * ((double)y[j] - z[j]));
            differ += top_class(scaled, n_out) != ref->top[i];
            changed += top_class(y, n_out) != ref->top[i];
        }
        if (i == 0 && conversions)
            for (int b = 0; b < bl.total_blocks; b++)
                conversions[b] = sim_instr_counters(sim, bl.instr[b]).conversions;
    }
    sim_free(sim);
    arena_free(arena);
    if (plain)
        *plain = changed;
    return differ;
}

/* ---- the search ---- */

typedef struct {
    Graph *g;
    const float *images;
    int n;                      /* calibration images used */
    Reference *ref;
    Blocks bl;
    uint64_t *conversions;      /* per image, by flat block */
    const char *clip;
    Diags *diags;
} Search;

static bool run_alloc(Search *s, const char *bits)
{
    PassOptions quiet = {0};
    char *pipeline = arena_printf(s->diags->arena, "adc-alloc{bits=%s,clip=%s}", bits, s->clip);
    return pass_run_pipeline(s->g, pipeline, &quiet, s->diags);
}

/* Reads the adc_bits of every block into bits[] (flat) and returns the energy. */
static double energy_pj(const Search *s, int *bits)
{
    double pj = 0;
    for (int l = 0; l < s->bl.n_layers; l++) {
        const int64_t *v;
        ir_attr_ints(s->bl.ops[l], "adc_bits", &v);
        for (int b = 0; b < s->bl.n_blocks[l]; b++) {
            int f = s->bl.first[l] + b;
            bits[f] = (int)v[b];
            pj += (double)s->conversions[f] * adc_conversion_pj(bits[f]);
        }
    }
    return pj;
}

static int layer_max_bits(const Search *s, const int *bits, int l)
{
    int m = 0;
    for (int b = 0; b < s->bl.n_blocks[l]; b++)
        m = bits[s->bl.first[l] + b] > m ? bits[s->bl.first[l] + b] : m;
    return m;
}

/* Energy saved per image by lowering layer l from m to m - 1 bits. */
static double step_saving(const Search *s, const int *bits, int l, int m)
{
    double saved = 0;
    for (int b = 0; b < s->bl.n_blocks[l]; b++) {
        int f = s->bl.first[l] + b;
        if (bits[f] == m)
            saved += (double)s->conversions[f] * (adc_conversion_pj(m) - adc_conversion_pj(m - 1));
    }
    return saved;
}

static void report_layers(const Search *s, AdcReport *r, const int *lossless, const int *uniform,
                          const int *alloc, Arena *arena)
{
    r->n_layers = s->bl.n_layers;
    r->layers = arena_array(arena, (size_t)r->n_layers + 1, sizeof *r->layers);
    for (int l = 0; l < s->bl.n_layers; l++) {
        AdcLayerReport *L = &r->layers[l];
        L->layer = arena_strdup(arena, ir_layer_name(s->g, s->bl.ops[l]));
        L->blocks = s->bl.n_blocks[l];
        L->bits_min = 1 << 30;
        for (int b = 0; b < L->blocks; b++) {
            int f = s->bl.first[l] + b;
            double c = (double)s->conversions[f];
            L->conversions += s->conversions[f];
            L->bits_min = alloc[f] < L->bits_min ? alloc[f] : L->bits_min;
            L->bits_max = alloc[f] > L->bits_max ? alloc[f] : L->bits_max;
            L->lossless_bits = lossless[f] > L->lossless_bits ? lossless[f] : L->lossless_bits;
            L->pj_lossless += c * adc_conversion_pj(lossless[f]);
            L->pj_uniform += c * adc_conversion_pj(uniform[f]);
            L->pj_alloc += c * adc_conversion_pj(alloc[f]);
        }
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool is_signed_adc(const Op *op)
{
    const Attr *sign = ir_attr(op, "sign");
    return sign && sign->kind == ATTR_STRING && strcmp(sign->s, "pair-analog") == 0;
}

/* The greedy search with one clip statistic.  Leaves the graph at the last
 * accepted allocation; false when even the start breaks the budget (or on an
 * error, with diags). */
static bool greedy(Search *s, int budget, int *bits, int *plain, AdcReport *report)
{
    Graph *g = s->g;
    int n_layers = s->bl.n_layers;
    int *frozen = arena_array(s->diags->arena, (size_t)n_layers + 1, sizeof *frozen);

    /* The start: the architecture's bits per layer, lowered per block to what
     * its calibrated range needs at step 1. */
    for (int l = 0; l < n_layers; l++)
        ir_set_int(g, s->bl.ops[l], "adc_layer_bits", g->arch->adc_bits);
    if (!run_alloc(s, "auto"))
        return false;
    int differ = evaluate(g, s->images, s->n, s->ref, false, budget, plain, NULL, s->diags);
    report->evaluations++;
    if (differ < 0 || differ > budget)
        return false;
    energy_pj(s, bits);
    for (int l = 0; l < n_layers; l++)
        ir_set_int(g, s->bl.ops[l], "adc_layer_bits", layer_max_bits(s, bits, l));

    for (;;) {
        int best = -1;
        double best_saving = 0;
        for (int l = 0; l < n_layers; l++) {
            int m = layer_max_bits(s, bits, l);
            if (frozen[l] || m - 1 < (is_signed_adc(s->bl.ops[l]) ? 2 : 1))
                continue;
            double saving = step_saving(s, bits, l, m);
            if (saving > best_saving) {
                best = l;
                best_saving = saving;
            }
        }
        if (best < 0)
            break;
        int m = layer_max_bits(s, bits, best), step_plain = 0;
        ir_set_int(g, s->bl.ops[best], "adc_layer_bits", m - 1);
        if (!run_alloc(s, "auto"))
            return false;
        int d = evaluate(g, s->images, s->n, s->ref, false, budget, &step_plain, NULL, s->diags);
        report->evaluations++;
        if (d < 0)
            return false;
        if (d <= budget) {
            *plain = step_plain;
            energy_pj(s, bits);
        } else {
            frozen[best] = 1;
            ir_set_int(g, s->bl.ops[best], "adc_layer_bits", m);
        }
    }
    return run_alloc(s, "auto");
}

bool adc_allocate(Graph *g, const float *images, int count, const AdcAllocOptions *options,
                  AdcReport *report, Diags *diags)
{
    double start = now_seconds();
    AdcAllocOptions opt = options ? *options : (AdcAllocOptions){0};
    if (!(opt.tolerance >= 0))
        opt.tolerance = 0;
    if (opt.max_images < 1)
        opt.max_images = ADC_DEFAULT_IMAGES;
    if (!opt.clip)
        opt.clip = ADC_DEFAULT_CLIP;
    if (opt.uniform_bits < 1)
        opt.uniform_bits = g->arch->adc_bits;       /* the chip's own ADCs are the baseline */
    if (!(opt.error_scale >= 1))
        opt.error_scale = ADC_DEFAULT_ERROR_SCALE;
    int n = count < opt.max_images ? count : opt.max_images;
    memset(report, 0, sizeof *report);
    if (!check_graph(g, n, diags) || !adc_collect_stats(g, images, n, diags))
        return false;

    Arena *arena = arena_new();
    Reference ref = {.n_out = type_numel(&g->outputs[0]->type), .error_scale = opt.error_scale};
    Search s = {.g = g, .images = images, .n = n, .ref = &ref, .clip = opt.clip, .diags = diags};
    bool ok = false;
    Program *p = emit_program(arena, g, diags);
    if (!p || !find_blocks(arena, g, p, &s.bl, diags))
        goto done;
    int nb = s.bl.total_blocks + 1;
    s.conversions = arena_array(arena, (size_t)nb, sizeof *s.conversions);
    ref.logits = arena_array(arena, (size_t)n * (size_t)ref.n_out, sizeof(float));
    ref.top = arena_array(arena, (size_t)n, sizeof(int));
    int *lossless = arena_array(arena, (size_t)nb, sizeof *lossless);
    int *uniform = arena_array(arena, (size_t)nb, sizeof *uniform);
    int *bits = arena_array(arena, (size_t)nb, sizeof *bits);
    if (evaluate(g, images, n, &ref, true, -1, NULL, s.conversions, diags) < 0)
        goto done;
    energy_pj(&s, lossless);
    int budget = (int)floor(opt.tolerance / 100.0 * n + 1e-9);
    *report = (AdcReport){.images = n, .tolerance = opt.tolerance, .clip = opt.clip,
                          .uniform_bits = opt.uniform_bits, .error_scale = opt.error_scale};

    /* The uniform chip the report compares against (range: the largest sum). */
    int plain = 0;
    s.clip = "max";
    if (!run_alloc(&s, arena_printf(diags->arena, "%d", opt.uniform_bits)) ||
        evaluate(g, images, n, &ref, false, -1, &plain, NULL, diags) < 0)
        goto done;
    energy_pj(&s, uniform);
    report->agree_uniform = 100.0 * (n - plain) / n;
    report->evaluations = 1;

    /* The search; when even its start breaks the budget with this clip, again
     * with the largest sum as the range, and failing that lossless ADCs. */
    s.clip = opt.clip;
    int errors = diags->n_errors;
    bool found = greedy(&s, budget, bits, &plain, report);
    if (!found && diags->n_errors == errors && strcmp(opt.clip, "max") != 0) {
        s.clip = report->clip = "max";
        found = greedy(&s, budget, bits, &plain, report);
    }
    if (diags->n_errors != errors)
        goto done;
    if (!found) {
        /* Never more bits than the chip has: its own ADCs, clipped where
         * they must be, and the report says what that costs. */
        PassOptions quiet = {0};
        report->clip = "max, at the architecture's bits (no allocation met the tolerance)";
        report->fallback = true;
        if (!pass_run_pipeline(g, "adc-alloc{bits=arch,clip=max}", &quiet, diags) ||
            evaluate(g, images, n, &ref, false, -1, &plain, NULL, diags) < 0)
            goto done;
    }
    energy_pj(&s, bits);
    report->agree_alloc = 100.0 * (n - plain) / n;
    report_layers(&s, report, lossless, uniform, bits, diags->arena);
    report->seconds = now_seconds() - start;
    ok = true;
done:
    arena_free(arena);
    return ok;
}
static const char *relative(double then, double now, int slot);

void adc_report_print(const AdcReport *r, FILE *out)
{
    fprintf(out, "ADC allocation (docs/adc.md): clip %s, %d calibration images, tolerance %.2f point%s at "
            "%gx the output error, %d simulator runs, %.2f s\n", r->clip ? r->clip : "?", r->images, r->tolerance,
            r->tolerance == 1.0 ? "" : "s", r->error_scale, r->evaluations, r->seconds);
    int longest = 5;
    for (int l = 0; l < r->n_layers; l++)
        longest = (int)strlen(r->layers[l].layer) > longest ? (int)strlen(r->layers[l].layer) : longest;
    int width = longest < IR_NAME_COLUMN ? longest : IR_NAME_COLUMN;
    Arena *arena = arena_new();     /* the elided names */
    fprintf(out, "%-*s %6s %10s %5s %8s %12s %12s %12s\n", width, "layer", "blocks", "conv/img", "bits",
            "lossless", "E lossless", "E uniform", "E alloc");
    double lossless = 0, uniform = 0, alloc = 0;
    uint64_t conversions = 0;
    for (int l = 0; l < r->n_layers; l++) {
        const AdcLayerReport *L = &r->layers[l];
        char bits[32];
        if (L->bits_min == L->bits_max)
            snprintf(bits, sizeof bits, "%d", L->bits_max);
        else
            snprintf(bits, sizeof bits, "%d-%d", L->bits_min, L->bits_max);
        fprintf(out, "%-*s %6d %10llu %5s %8d %9.1f nJ %9.1f nJ %9.1f nJ\n", width,
                ir_name_fit(arena, L->layer, width), L->blocks,
                (unsigned long long)L->conversions, bits, L->lossless_bits, L->pj_lossless / 1000,
                L->pj_uniform / 1000, L->pj_alloc / 1000);
        lossless += L->pj_lossless;
        uniform += L->pj_uniform;
        alloc += L->pj_alloc;
        conversions += L->conversions;
    }
    arena_free(arena);
    fprintf(out, "%-*s %6s %10llu %5s %8s %9.1f nJ %9.1f nJ %9.1f nJ\n", width, "total", "",
            (unsigned long long)conversions, "", "", lossless / 1000, uniform / 1000, alloc / 1000);
    if (longest > width)
        fprintf(out, IR_NAME_ELIDED_NOTE, IR_NAME_COLUMN);
    fprintf(out, "ADC energy per image: %s than the architecture's uniform %d-bit ADCs, %s than lossless ones; "
            "top-1 agreement with lossless: uniform %.2f%%, allocated %.2f%%\n", relative(uniform, alloc, 0),
            r->uniform_bits, relative(lossless, alloc, 1), r->agree_uniform, r->agree_alloc);
    if (r->fallback)
        fprintf(out, "no allocation met the tolerance on the calibration images, not even the architecture's "
                "%d bits with the range of the largest sums: the ADCs are those, and cost %.2f points of top-1 "
                "agreement\n", r->uniform_bits, 100 - r->agree_alloc);
}

/* "x% less" or "x% more" for energy `now` against `then`. */
static const char *relative(double then, double now, int slot)
{
    static char text[2][64];
    if (!(then > 0))
        snprintf(text[slot], sizeof text[slot], "no comparison");
    else if (now <= then)
        snprintf(text[slot], sizeof text[slot], "%.1f%% less", 100.0 * (1 - now / then));
    else
        snprintf(text[slot], sizeof text[slot], "%.1f%% more", 100.0 * (now / then - 1));
    return text[slot];
}

/* ---- the architecture's ADCs ---- */

bool adc_fit_arch(Graph *g, const float *images, int count, AdcFitReport *r, Diags *diags)
{
    memset(r, 0, sizeof *r);
    r->arch_bits = g->arch->adc_bits;
    r->agreement = -1;
    r->clipped = arena_array(diags->arena, (size_t)g->n_ops + 1, sizeof *r->clipped);
    r->clipped_lossless = arena_array(diags->arena, (size_t)g->n_ops + 1, sizeof *r->clipped_lossless);
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        const int64_t *bits;
        int n = ir_attr_ints(op, "adc_bits", &bits);
        if (op->dead || op->kind != OP_XBAR || !ir_attr(op, "in_scale") || n < 1)
            continue;
        int most = 0, over = 0;
        for (int b = 0; b < n; b++) {
            most = bits[b] > most ? (int)bits[b] : most;
            over += bits[b] > r->arch_bits;
        }
        r->layers++;
        r->blocks += n;
        r->clipped_blocks += over;
        r->lossless_bits = most > r->lossless_bits ? most : r->lossless_bits;
        if (over) {
            r->clipped[r->clipped_layers] = ir_layer_name(g, op);
            r->clipped_lossless[r->clipped_layers++] = most;
        }
    }
    if (!r->clipped_layers)
        return true;                    /* lossless fits the chip: nothing to clip */
    PassOptions quiet = {0};
    if (!images || count < 1)
        return pass_run_pipeline(g, "adc-alloc{bits=arch,clip=full}", &quiet, diags);
    int n = count < ADC_DEFAULT_IMAGES ? count : ADC_DEFAULT_IMAGES;
    if (!check_graph(g, n, diags) || !adc_collect_stats(g, images, n, diags))
        return false;
    Arena *arena = arena_new();
    Reference ref = {.n_out = type_numel(&g->outputs[0]->type), .error_scale = 1};
    ref.logits = arena_array(arena, (size_t)n * (size_t)ref.n_out, sizeof(float));
    ref.top = arena_array(arena, (size_t)n, sizeof(int));
    int changed = 0;
    bool ok = evaluate(g, images, n, &ref, true, -1, NULL, NULL, diags) >= 0 &&
              pass_run_pipeline(g, "adc-alloc{bits=arch,clip=max}", &quiet, diags) &&
              evaluate(g, images, n, &ref, false, -1, &changed, NULL, diags) >= 0;
    arena_free(arena);
    r->images = n;
    r->agreement = 100.0 * (n - changed) / n;
    return ok;
}

void adc_fit_print(const AdcFitReport *r, FILE *out)
{
    if (!r->layers)
        return;
    if (!r->clipped_layers) {
        fprintf(out, "ADCs: the architecture's %d bits convert every column sum exactly (lossless, at most %d bits "
                "a block)\n", r->arch_bits, r->lossless_bits);
        return;
    }
    fprintf(out, "ADCs: the architecture's %d bits; exact sums need up to %d in %d of %d layers (", r->arch_bits,
            r->lossless_bits, r->clipped_layers, r->layers);
    for (int l = 0; l < r->clipped_layers && l < 3; l++)
        fprintf(out, "%s%s %d", l ? ", " : "", r->clipped[l], r->clipped_lossless[l]);
    fprintf(out, "%s, %lld of %lld blocks): ", r->clipped_layers > 3 ? ", ..." : "", (long long)r->clipped_blocks,
            (long long)r->blocks);
    if (r->images)
        fprintf(out, "their full scale is clipped to the largest column sum of %d calibration images (docs/adc.md); "
                "top-1 agreement with lossless ADCs on those images %.2f%%\n", r->images, r->agreement);
    else
        fprintf(out, "without calibration images their full scale is the whole range, at a coarser step "
                "(docs/adc.md); the cost is not measured\n");
}
