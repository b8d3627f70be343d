/* finetune.c: hybrid fine-tuning of the last crossbar layer (docs/finetune.md).
 *
 * Yao et al. (Nature 2020) programmed a trained network into memristor arrays
 * and then retrained only its last fully connected layer on the outputs that
 * the chip's own earlier layers gave for a few training images, so that the
 * last layer learns to read the features the imperfect chip actually makes.
 * Here the chip is the simulator with the program's non-idealities drawn from
 * a seed.  Steps:
 *
 *   1. features: a truncated copy of the program (its instructions up to the
 *      last layer's quant, whose source buffer becomes the output) runs on
 *      each training image; the instructions keep their indices and the tiles
 *      their numbers, so the copy draws the same chip and the same read noise
 *      keys as the whole program would.  The features are the layer's
 *      dequantized input codes, code * in_scale: exactly what its crossbar sees.
 *   2. training: softmax regression (mean cross-entropy, Adam, fixed shuffling
 *      from the seed) of the layer's weights and bias in double, initialized
 *      from the programmed layer: its levels decoded to w_q, times w_scale.
 *   3. reprogramming: the quantize pass's rule (docs/crossbar.md 3) gives new
 *      w_q and w_scale; backend/emit.c's emit_reprogram_layer writes the new
 *      levels into the layer's blocks, and the dequant gets the new out_scale
 *      and bias.  The layer's input scale stays, so its quant is unchanged.
 *
 * Everything the training touches is in double and in a fixed order, so the
 * same seed and images give the same program. */
#include "runtime/finetune.h"

#include "backend/backend.h"
#include "runtime/noise.h"
#include "runtime/quant.h"

#include <math.h>
#include <string.h>

/* The last crossbar layer: the one of the program's last mvm. */
typedef struct {
    const char *name;
    int quant, dequant;         /* instruction indices */
    int64_t k, n;               /* features, classes */
} LastLayer;

static bool layer_error(Diags *diags, const char *layer, const char *what)
{
    Loc loc = {0};
    diag_error(diags, &loc, "fine-tuning layer %%%s: %s", layer, what);
    return false;
}

static bool find_last_layer(const Program *p, LastLayer *L, Diags *diags)
{
    memset(L, 0, sizeof *L);
    L->quant = L->dequant = -1;
    int last_mvm = -1;
    for (int i = 0; i < p->n_instrs; i++)
        if (p->instrs[i].opcode == INSTR_MVM)
            last_mvm = i;
    if (last_mvm < 0 || !p->instrs[last_mvm].layer) {
        Loc loc = {0};
        diag_error(diags, &loc, "fine-tuning: the program has no crossbar layer");
        return false;
    }
    L->name = p->instrs[last_mvm].layer;
    for (int i = 0; i < p->n_instrs; i++) {
        const Instr *in = &p->instrs[i];
        if (!in->layer || strcmp(in->layer, L->name) != 0)
            continue;
        if (in->opcode == INSTR_QUANT && L->quant < 0)
            L->quant = i;
        else if (in->opcode == INSTR_IM2COL)
            return layer_error(diags, L->name, "a convolution; only a fully connected (matmul) layer is retrained");
        else if (in->opcode == INSTR_DEQUANT)
            L->dequant = i;
    }
    if (L->quant < 0 || L->dequant < 0 || L->dequant < last_mvm)
        return layer_error(diags, L->name, "no quant and dequant around its blocks");
    if (p->float_weights || p->instrs[L->quant].quant.float_mode)
        return layer_error(diags, L->name, "a float-weight program has no levels to retrain");
    const Type *codes = &p->buffers[p->instrs[L->quant].dst].type;
    const DequantParams *d = &p->instrs[L->dequant].dequant;
    L->k = codes->rank > 0 ? codes->dims[codes->rank - 1] : 1;
    L->n = d->channels;
    if (type_numel(codes) != L->k || d->conv || d->pixels != 1)
        return layer_error(diags, L->name, "more than one input row per image (only a batch of one is retrained)");
    if (p->n_inputs != 1 || p->n_outputs != 1 || type_numel(&p->buffers[p->outputs[0]].type) != L->n)
        return layer_error(diags, L->name, "the program must have one input and one output of the layer's width");
    for (int i = 0; i < p->n_instrs; i++) {
        const Instr *in = &p->instrs[i];
        if (in->opcode == INSTR_COMBINE && in->layer && strcmp(in->layer, L->name) == 0 &&
            in->combine.n_per_group != L->n)
            return layer_error(diags, L->name, "grouped; only a dense layer is retrained");
    }
    return true;
}

/* Weight w_q[k, n] of every block of the layer from its levels: the inverse of
 * the slicing and sign mapping of docs/crossbar.md 5 (replicas hold the same). */
static void decode_weights(const Program *p, const LastLayer *L, float *w_q)
{
    int32_t qmax = quant_qmax(p->arch.weight_bits, true);
    for (int i = 0; i + 1 < p->n_instrs; i++) {
        const Instr *mvm = &p->instrs[i];
        if (mvm->opcode != INSTR_MVM || !mvm->layer || strcmp(mvm->layer, L->name) != 0)
            continue;
        const MvmParams *m = &mvm->mvm;
        const CombineParams *c = &p->instrs[i + 1].combine;
        const Tile *t = &p->tiles[m->tile];
        int polarities = c->sign == SIGN_OFFSET ? 1 : 2, width = c->slices * polarities;
        for (int r = 0; r < m->rows; r++) {
            int64_t k = m->src_col + r;
            for (int j = 0; j < c->n_cols; j++) {
                size_t at = (size_t)(m->tile_row + r) * (size_t)t->cols + (size_t)(m->tile_col + j * width);
                int64_t u = 0;
                for (int s = 0; s < c->slices; s++) {
                    int64_t level = polarities == 2
                        ? (int64_t)tile_cell(t, at + 2 * (size_t)s) - (int64_t)tile_cell(t, at + 2 * (size_t)s + 1)
                        : (int64_t)tile_cell(t, at + (size_t)s);
                    u += level * ((int64_t)1 << (s * c->cell_bits));
                }
                w_q[k * L->n + c->n0 + j] = (float)(polarities == 2 ? u : u - qmax);
            }
        }
    }
}

bool finetune_read_weights(const Program *p, const char **layer, int64_t *k, int64_t *n, float **w_q,
                           Arena *arena, Diags *diags)
{
    LastLayer L;
    if (!find_last_layer(p, &L, diags))
        return false;
    *layer = L.name;
    *k = L.k;
    *n = L.n;
    *w_q = arena_array(arena, (size_t)(L.k * L.n), sizeof(float));
    decode_weights(p, &L, *w_q);
    return true;
}

/* ---- features ---- */

/* The dequantized input codes of the layer, K per image, computed by the
 * program's instructions before the layer's quant on the chip of `seed`. */
static void collect_features(const Program *p, const LastLayer *L, uint64_t seed, const float *images,
                             int count, float *features, Arena *arena)
{
    const QuantParams *q = &p->instrs[L->quant].quant;
    int src = p->instrs[L->quant].src[0];
    Program head = *p;
    head.n_instrs = L->quant;
    head.buffers = arena_array(arena, (size_t)p->n_buffers, sizeof(Buffer));
    memcpy(head.buffers, p->buffers, (size_t)p->n_buffers * sizeof(Buffer));
    if (head.buffers[src].kind == BUF_TEMP)
        head.buffers[src].kind = BUF_OUTPUT;    /* memory of its own, readable after the run */
    head.n_outputs = 1;
    head.outputs = &src;
    int64_t image_size = type_numel(&p->buffers[p->inputs[0]].type);
    int32_t qmax = quant_qmax(q->bits, q->is_signed), lo = q->is_signed ? -qmax : 0;

    Sim *sim = sim_new_seeded(&head, seed);
    for (int i = 0; i < count; i++) {
        memcpy(sim_input(sim, 0), images + (size_t)i * (size_t)image_size, (size_t)image_size * sizeof(float));
        sim_set_stream(sim, FINETUNE_TRAIN_STREAM + (uint64_t)i);
        sim_run(sim);
        const float *x = sim_output(sim, 0);
        float *f = features + (size_t)i * (size_t)L->k;
        for (int64_t j = 0; j < L->k; j++) {
            float code = (float)quant_code(x[j], q->scale, lo, qmax);
            f[j] = code * q->scale;
        }
    }
    sim_free(sim);
}

/* ---- stuck cells ---- */

/* The stuck cells of the layer's blocks that compute an image's one row (of
 * a replicated layer, the copy whose row range holds row 0), as the memory
 * test after programming a chip finds them: a stuck cell reads G_min or G_max
 * whatever is written.  Per weight with a stuck cell, the level every one of
 * its cells is stuck at (its effective level, (G - G_min) / dG, as the
 * simulator counts it), or -1 for a cell that takes what is written.  The
 * programming variation is not read: a new write draws it anew. */
typedef struct {
    int slices, cell_bits, polarities;
    int width;                  /* cells per weight: slices * polarities, then the slices' reference cells */
    int64_t count;              /* weights with a stuck cell */
    int64_t *weight;            /* their index k * N + n */
    float *stuck;               /* count * width */
} FaultMap;

static void find_stuck_cells(const Program *p, const LastLayer *L, uint64_t seed, FaultMap *f, Arena *arena)
{
    memset(f, 0, sizeof *f);
    const Noise *noise = noise_new(arena, &p->arch, seed);
    if (!noise || (p->arch.sa0_fraction <= 0 && p->arch.sa1_fraction <= 0))
        return;
    int top = (1 << p->arch.cell_bits) - 1;
    int64_t cap = 0;
    for (int i = 0; i + 1 < p->n_instrs; i++) {
        const Instr *mvm = &p->instrs[i];
        if (mvm->opcode != INSTR_MVM || !mvm->layer || strcmp(mvm->layer, L->name) != 0 ||
            mvm->mvm.row_begin > 0 || mvm->mvm.row_end <= 0)
            continue;
        const MvmParams *m = &mvm->mvm;
        const CombineParams *c = &p->instrs[i + 1].combine;
        const Tile *t = &p->tiles[m->tile];
        f->slices = c->slices, f->cell_bits = c->cell_bits;
        f->polarities = c->sign == SIGN_OFFSET ? 1 : 2;
        int cells = c->slices * f->polarities, refs = c->sign == SIGN_OFFSET ? c->slices : 0;
        f->width = cells + refs;
        float levels[96];       /* weight_bits <= 16: at most 32 cells and 16 references */
        if (f->width > 96)
            return;
        for (int r = 0; r < m->rows; r++) {
            for (int j = 0; j < c->n_cols; j++) {
                bool any = false;
                for (int x = 0; x < f->width; x++) {
                    int col = x < cells ? m->tile_col + j * cells + x : m->tile_col + m->phys_cols - refs + (x - cells);
                    double g0, g0_now, g1, g1_now;
                    noise_cell(noise, m->tile, m->tile_row + r, col, 0, t->rows, t->cols, &g0, &g0_now);
                    noise_cell(noise, m->tile, m->tile_row + r, col, top, t->rows, t->cols, &g1, &g1_now);
                    levels[x] = g0_now == g1_now ? (float)((g0_now - p->arch.g_min_us) / noise->level_us) : -1;
                    any |= levels[x] >= 0;
                }
                if (!any)
                    continue;
                if (f->count == cap) {
                    int64_t new_cap = cap ? 2 * cap : 64;
                    int64_t *weight = arena_array(arena, (size_t)new_cap, sizeof(int64_t));
                    float *stuck = arena_array(arena, (size_t)new_cap * (size_t)f->width, sizeof(float));
                    if (f->count) {
                        memcpy(weight, f->weight, (size_t)f->count * sizeof(int64_t));
                        memcpy(stuck, f->stuck, (size_t)(f->count * f->width) * sizeof(float));
                    }
                    f->weight = weight, f->stuck = stuck, cap = new_cap;
                }
                f->weight[f->count] = (m->src_col + r) * L->n + c->n0 + j;
                memcpy(f->stuck + f->count * f->width, levels, (size_t)f->width * sizeof(float));
                f->count++;
            }
        }
    }
}

/* What quantized weight w reads as on cells some of which are stuck: the
 * levels of docs/crossbar.md 5, the stuck ones replaced, recombined. */
static double realize(const FaultMap *f, const float *stuck, int32_t w, int32_t qmax)
{
    int32_t mask = (1 << f->cell_bits) - 1;
    int cells = f->slices * f->polarities;
    double v = 0;
    for (int s = 0; s < f->slices; s++) {
        int shift = s * f->cell_bits;
        double a, b;
        if (f->polarities == 2) {
            a = ((w > 0 ? w : 0) >> shift) & mask;
            b = ((w < 0 ? -w : 0) >> shift) & mask;
            a = stuck[2 * s] >= 0 ? stuck[2 * s] : a;
            b = stuck[2 * s + 1] >= 0 ? stuck[2 * s + 1] : b;
        } else {
            a = ((w + qmax) >> shift) & mask;
            b = (qmax >> shift) & mask;
            a = stuck[s] >= 0 ? stuck[s] : a;
            b = stuck[cells + s] >= 0 ? stuck[cells + s] : b;
        }
        v += (a - b) * (double)((int64_t)1 << shift);
    }
    return v;
}

/* ---- softmax regression ---- */

typedef struct {
    int64_t k, n;
    double *w;                  /* [K, N] */
    double *b;                  /* [N] */
} Linear;

/* The quantize pass's scales (docs/crossbar.md 3) of the float32 weights:
 * max |w| / qmax per output channel (or of the layer), 1 for an all-zero one. */
static void weight_scales(const Linear *m, const Arch *arch, float *w_scale)
{
    int32_t qmax = quant_qmax(arch->weight_bits, true);
    float layer_max = 0;
    for (int64_t n = 0; n < m->n; n++) {
        float max_abs = 0;
        for (int64_t k = 0; k < m->k; k++)
            max_abs = fmaxf(max_abs, fabsf((float)m->w[k * m->n + n]));
        w_scale[n] = max_abs;
        layer_max = fmaxf(layer_max, max_abs);
    }
    for (int64_t n = 0; n < m->n; n++) {
        float s = (arch->weight_per_layer ? layer_max : w_scale[n]) / (float)qmax;
        w_scale[n] = s > 0 ? s : 1.0f;
    }
}

/* The quantize pass's codes w_q with the scales of weight_scales. */
static void quantize_weights(const Linear *m, const Arch *arch, float *w_q, float *w_scale)
{
    int32_t qmax = quant_qmax(arch->weight_bits, true);
    weight_scales(m, arch, w_scale);
    for (int64_t k = 0; k < m->k; k++)
        for (int64_t n = 0; n < m->n; n++)
            w_q[k * m->n + n] = (float)quant_code((float)m->w[k * m->n + n], w_scale[n], -qmax, qmax);
}

/* The weights the chip would compute with if m were programmed now, apart
 * from the programming variation: quantized, stuck cells as they are stuck. */
static void effective_weights(const Linear *m, const FaultMap *f, const Arch *arch, float *w_scale, Linear *eff)
{
    int32_t qmax = quant_qmax(arch->weight_bits, true);
    weight_scales(m, arch, w_scale);
    for (int64_t k = 0; k < m->k; k++)
        for (int64_t n = 0; n < m->n; n++)
            eff->w[k * m->n + n] =
                (double)w_scale[n] * quant_code((float)m->w[k * m->n + n], w_scale[n], -qmax, qmax);
    for (int64_t i = 0; i < f->count; i++) {
        int64_t at = f->weight[i], n = at % m->n;
        int32_t q = quant_code((float)m->w[at], w_scale[n], -qmax, qmax);
        eff->w[at] = (double)w_scale[n] * realize(f, f->stuck + i * f->width, q, qmax);
    }
    memcpy(eff->b, m->b, (size_t)m->n * sizeof(double));
}

/* Softmax of the layer's logits for one feature row into prob[N]; returns
 * the index of the largest logit (the first of equals, as xbarc eval). */
static int forward(const Linear *m, const float *x, double *prob)
{
    for (int64_t n = 0; n < m->n; n++)
        prob[n] = m->b[n];
    for (int64_t k = 0; k < m->k; k++) {
        double xk = x[k];
        if (xk == 0)
            continue;
        const double *row = m->w + k * m->n;
        for (int64_t n = 0; n < m->n; n++)
            prob[n] += xk * row[n];
    }
    int top = 0;
    for (int64_t n = 1; n < m->n; n++)
        if (prob[n] > prob[top])
            top = (int)n;
    double max = prob[top], sum = 0;
    for (int64_t n = 0; n < m->n; n++)
        sum += prob[n] = exp(prob[n] - max);
    for (int64_t n = 0; n < m->n; n++)
        prob[n] /= sum;
    return top;
}

/* Top-1 accuracy and mean cross-entropy over the training features. */
static void evaluate(const Linear *m, const float *x, const uint8_t *labels, int count, double *prob,
                     double *accuracy, double *loss)
{
    int correct = 0;
    double total = 0;
    for (int i = 0; i < count; i++) {
        correct += forward(m, x + (size_t)i * (size_t)m->k, prob) == labels[i];
        total -= log(fmax(prob[labels[i]], 1e-300));
    }
    *accuracy = count ? (double)correct / count : 0;
    *loss = count ? total / count : 0;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Adam on the mean cross-entropy of each minibatch, the images shuffled
 * afresh every epoch from `seed`.  Chip-aware (faults not NULL): the loss is
 * that of the effective weights, and its gradient passes to the float
 * weights as if quantization and stuck cells were the identity (the
 * straight-through estimator of quantization-aware training). */
static void train(Linear *m, const float *x, const uint8_t *labels, int count, const FinetuneOptions *o,
                  uint64_t seed, const FaultMap *faults, const Arch *arch, Arena *arena)
{
    Linear eff = *m;
    float *w_scale = arena_array(arena, (size_t)m->n, sizeof(float));
    if (faults) {
        eff.w = arena_array(arena, (size_t)(m->k * m->n), sizeof(double));
        eff.b = arena_array(arena, (size_t)m->n, sizeof(double));
    }
    const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    size_t n_w = (size_t)(m->k * m->n), n_params = n_w + (size_t)m->n;
    double *grad = arena_array(arena, n_params, sizeof(double));
    double *mom = arena_array(arena, n_params, sizeof(double));
    double *vel = arena_array(arena, n_params, sizeof(double));
    double *prob = arena_array(arena, (size_t)m->n, sizeof(double));
    int *order = arena_array(arena, (size_t)count, sizeof(int));
    for (int i = 0; i < count; i++)
        order[i] = i;
    uint64_t rng = seed ^ 0x6a09e667f3bcc908u;
    double beta1_t = 1, beta2_t = 1;
    for (int epoch = 0; epoch < o->epochs; epoch++) {
        for (int i = count - 1; i > 0; i--) {
            int j = (int)(splitmix64(&rng) % (uint64_t)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int start = 0; start < count; start += o->batch) {
            int end = start + o->batch < count ? start + o->batch : count;
            memset(grad, 0, n_params * sizeof(double));
            if (faults)
                effective_weights(m, faults, arch, w_scale, &eff);
            for (int s = start; s < end; s++) {
                const float *xi = x + (size_t)order[s] * (size_t)m->k;
                forward(&eff, xi, prob);
                prob[labels[order[s]]] -= 1;    /* d loss / d logits = softmax - one-hot */
                for (int64_t k = 0; k < m->k; k++) {
                    double xk = xi[k];
                    if (xk == 0)
                        continue;
                    double *g = grad + k * m->n;
                    for (int64_t n = 0; n < m->n; n++)
                        g[n] += xk * prob[n];
                }
                for (int64_t n = 0; n < m->n; n++)
                    grad[n_w + (size_t)n] += prob[n];
            }
            double scale = 1.0 / (end - start);
            beta1_t *= beta1;
            beta2_t *= beta2;
            double step = o->learning_rate * sqrt(1 - beta2_t) / (1 - beta1_t);
            for (size_t j = 0; j < n_params; j++) {
                double g = grad[j] * scale;
                mom[j] = beta1 * mom[j] + (1 - beta1) * g;
                vel[j] = beta2 * vel[j] + (1 - beta2) * g * g;
                double *param = j < n_w ? &m->w[j] : &m->b[j - n_w];
                *param -= step * mom[j] / (sqrt(vel[j]) + eps);
            }
        }
    }
}

/* ---- reprogramming ---- */

/* The dequant's new out_scale and bias.  The bias buffer is replaced in
 * place when only this dequant reads it, else (or when there is none) the
 * layer gets a constant buffer of its own. */
static void set_dequant(Program *p, const LastLayer *L, const float *w_scale, const Linear *m)
{
    Instr *dq = &p->instrs[L->dequant];
    float in_scale = p->instrs[L->quant].quant.scale;
    float *out_scale = arena_array(p->arena, (size_t)L->n, sizeof(float));
    float *bias = arena_array(p->arena, (size_t)L->n, sizeof(float));
    for (int64_t n = 0; n < L->n; n++) {
        out_scale[n] = quant_out_scale(in_scale, w_scale[n]);
        bias[n] = (float)m->b[n];
    }
    dq->dequant.out_scale = out_scale;
    int old = dq->src[1], readers = 0;
    for (int i = 0; old >= 0 && i < p->n_instrs; i++) {
        const Instr *in = &p->instrs[i];
        if (in->opcode == INSTR_DIGITAL) {
            for (int j = 0; j < in->op->n_inputs; j++)
                readers += in->op->inputs[j]->id == old;
        } else {
            readers += (in->src[0] == old) + (in->src[1] == old) + (in->src[2] == old);
        }
    }
    if (old >= 0 && readers == 1 && p->buffers[old].kind == BUF_CONST) {
        p->buffers[old].data = bias;
        return;
    }
    Buffer *buffers = arena_array(p->arena, (size_t)p->n_buffers + 1, sizeof(Buffer));
    memcpy(buffers, p->buffers, (size_t)p->n_buffers * sizeof(Buffer));
    int64_t dims[1] = {L->n};
    buffers[p->n_buffers] = (Buffer){.name = arena_printf(p->arena, "%s.bias", L->name), .kind = BUF_CONST,
                                     .type = type_make(1, dims), .data = bias};
    p->buffers = buffers;
    dq->src[1] = p->n_buffers++;
}

bool finetune_program(Program *p, uint64_t seed, const float *images, const uint8_t *labels, int count,
                      const FinetuneOptions *options, FinetuneReport *report, Diags *diags)
{
    memset(report, 0, sizeof *report);
    LastLayer L;
    if (!find_last_layer(p, &L, diags))
        return false;
    FinetuneOptions o = *options;
    o.epochs = o.epochs > 0 ? o.epochs : FINETUNE_EPOCHS;
    o.batch = o.batch > 0 ? o.batch : FINETUNE_BATCH;
    o.learning_rate = o.learning_rate > 0 ? o.learning_rate : FINETUNE_LEARNING_RATE;
    for (int i = 0; i < count; i++) {
        if (labels[i] >= L.n) {
            Loc loc = {0};
            diag_error(diags, &loc, "fine-tuning layer %%%s: training image %d has label %d, but the layer has %lld "
                       "outputs", L.name, i, labels[i], (long long)L.n);
            return false;
        }
    }
    report->layer = L.name;
    report->features = L.k;
    report->classes = L.n;
    report->images = count;

    Arena *arena = arena_new();
    size_t n_w = (size_t)(L.k * L.n);
    float *old_q = arena_array(arena, n_w, sizeof(float));
    decode_weights(p, &L, old_q);
    float in_scale = p->instrs[L.quant].quant.scale;
    const float *out_scale = p->instrs[L.dequant].dequant.out_scale;
    int bias_buffer = p->instrs[L.dequant].src[1];
    const float *bias = bias_buffer >= 0 ? p->buffers[bias_buffer].data : NULL;
    Linear m = {.k = L.k, .n = L.n, .w = arena_array(arena, n_w, sizeof(double)),
                .b = arena_array(arena, (size_t)L.n, sizeof(double))};
    for (int64_t n = 0; n < L.n; n++) {
        double w_scale = (double)out_scale[n] / in_scale;
        for (int64_t k = 0; k < L.k; k++)
            m.w[k * L.n + n] = old_q[k * L.n + n] * w_scale;
        m.b[n] = bias ? bias[n] : 0;
    }

    float *features = arena_array(arena, (size_t)count * (size_t)L.k, sizeof(float));
    collect_features(p, &L, seed, images, count, features, arena);
    double *prob = arena_array(arena, (size_t)L.n, sizeof(double));
    FaultMap faults;
    find_stuck_cells(p, &L, seed, &faults, arena);
    report->stuck_weights = faults.count;
    const FaultMap *aware = o.plain ? NULL : &faults;
    Linear eff = {.k = L.k, .n = L.n, .w = arena_array(arena, n_w, sizeof(double)),
                  .b = arena_array(arena, (size_t)L.n, sizeof(double))};
    float *scratch = arena_array(arena, (size_t)L.n, sizeof(float));
    if (aware)
        effective_weights(&m, aware, &p->arch, scratch, &eff);
    evaluate(aware ? &eff : &m, features, labels, count, prob, &report->train_before, &report->loss_before);
    train(&m, features, labels, count, &o, seed, aware, &p->arch, arena);
    if (aware)
        effective_weights(&m, aware, &p->arch, scratch, &eff);
    evaluate(aware ? &eff : &m, features, labels, count, prob, &report->train_after, &report->loss_after);

    float *new_q = arena_array(arena, n_w, sizeof(float));
    float *w_scale = arena_array(arena, (size_t)L.n, sizeof(float));
    quantize_weights(&m, &p->arch, new_q, w_scale);
    for (size_t j = 0; j < n_w; j++)
        report->weights_changed += new_q[j] != old_q[j];
    bool ok = emit_reprogram_layer(p, L.name, new_q, 1, L.k, L.n, diags);
    if (ok)
        set_dequant(p, &L, w_scale, &m);
    arena_free(arena);
    return ok;
}

double finetune_accuracy(const Program *p, uint64_t seed, const float *images, const uint8_t *labels, int count)
{
    int64_t image_size = type_numel(&p->buffers[p->inputs[0]].type);
    int64_t classes = type_numel(&p->buffers[p->outputs[0]].type);
    Sim *sim = sim_new_seeded(p, seed);
    int correct = 0;
    for (int i = 0; i < count; i++) {
        memcpy(sim_input(sim, 0), images + (size_t)i * (size_t)image_size, (size_t)image_size * sizeof(float));
        sim_set_stream(sim, (uint64_t)i);
        sim_run(sim);
        const float *out = sim_output(sim, 0);
        int top = 0;
        for (int64_t n = 1; n < classes; n++)
            if (out[n] > out[top])
                top = (int)n;
        correct += top == labels[i];
    }
    sim_free(sim);
    return count ? (double)correct / count : 0;
}
