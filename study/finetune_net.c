/* finetune_net.c: training the trailing crossbar layers of a program on the
 * chip's features (study/finetune_net.h, docs/finetune.md).
 *
 * Everything is in double and in a fixed order (images in the order of a
 * shuffling drawn from the seed, sums over k then n), so the same seed and
 * features give the same weights, bit for bit. */
#include "study/finetune_net.h"

#include "runtime/quant.h"

#include <math.h>
#include <string.h>

void net_quantize(const NetLayer *l, const Arch *arch, float *w_q, float *w_scale)
{
    int32_t qmax = quant_qmax(arch->weight_bits, true);
    float layer_max = 0;
    for (int64_t n = 0; n < l->n; n++) {
        float max_abs = 0;
        for (int64_t k = 0; k < l->k; k++)
            max_abs = fmaxf(max_abs, fabsf((float)l->w[k * l->n + n]));
        w_scale[n] = max_abs;
        layer_max = fmaxf(layer_max, max_abs);
    }
    for (int64_t n = 0; n < l->n; n++) {
        float s = (arch->weight_per_layer ? layer_max : w_scale[n]) / (float)qmax;
        w_scale[n] = s > 0 ? s : 1.0f;
    }
    if (!w_q)
        return;
    for (int64_t k = 0; k < l->k; k++)
        for (int64_t n = 0; n < l->n; n++)
            w_q[k * l->n + n] = (float)quant_code((float)l->w[k * l->n + n], w_scale[n], -qmax, qmax);
}

/* A depth-first search over the slices from the most significant, each
 * slice's difference d = a - b taken from the few (a, b) the stuck cells
 * allow, cheapest first; a branch stops when the lower slices cannot bring
 * it closer than the best so far. */
typedef struct {
    int slices;
    double unit[16], reach[17];         /* 2^(s cell_bits); largest |sum| of slices below s */
    int options[16];                    /* (a, b) choices of slice s: at most 2 (2^cell_bits - 1) + 1 */
    int opt_a[16][32], opt_b[16][32];
    double opt_d[16][32];
    double target, best_err;
    int best_cost, a[16], b[16], best_a[16], best_b[16];
} Fit;

static void fit_search(Fit *s, int slice, double value, int cost)
{
    if (slice < 0) {
        double err = fabs(s->target - value);
        if (err < s->best_err || (err == s->best_err && cost < s->best_cost)) {
            s->best_err = err, s->best_cost = cost;
            memcpy(s->best_a, s->a, sizeof s->a);
            memcpy(s->best_b, s->b, sizeof s->b);
        }
        return;
    }
    for (int o = 0; o < s->options[slice]; o++) {
        double v = value + s->unit[slice] * s->opt_d[slice][o];
        if (fabs(s->target - v) - s->reach[slice] > s->best_err)
            continue;
        s->a[slice] = s->opt_a[slice][o], s->b[slice] = s->opt_b[slice][o];
        fit_search(s, slice - 1, v, cost + s->opt_a[slice][o] + s->opt_b[slice][o]);
    }
}

/* The standard levels of code w (docs/crossbar.md 5), for cells too wide for
 * the search's tables (cell_bits > 4): the stuck cells simply read stuck. */
static double standard_levels(const FaultMap *f, const float *stuck, int32_t w, int32_t qmax, int *a, int *b)
{
    int cells = f->slices * f->polarities, levels[2 * CELL_MAX_SLICES];
    SignMapping sign = f->polarities == 2 ? SIGN_PAIR_DIGITAL : SIGN_OFFSET;   /* the same cells */
    cell_encode(sign, f->slices, f->cell_bits, w, qmax, levels);
    double v = 0;
    for (int s = 0; s < f->slices; s++) {
        float sa = f->polarities == 2 ? stuck[2 * s] : stuck[s];
        float sb = f->polarities == 2 ? stuck[2 * s + 1] : stuck[cells + s];
        /* a: the positive (or offset) cell; b: the negative one, or the reference */
        a[s] = f->polarities == 2 ? levels[2 * s] : levels[s];
        b[s] = f->polarities == 2 ? levels[2 * s + 1] : cell_slice_level(qmax, s, f->cell_bits);
        v += ((sa >= 0 ? sa : a[s]) - (sb >= 0 ? sb : b[s])) * (double)((int64_t)1 << (s * f->cell_bits));
    }
    return v;
}

double fault_fit(const FaultMap *f, const float *stuck, int32_t w, int32_t qmax, int *a, int *b)
{
    if (f->cell_bits > 4)
        return standard_levels(f, stuck, w, qmax, a, b);
    Fit s;                              /* no initializer: 8 KB of tables filled below */
    s.slices = f->slices, s.target = w, s.best_err = INFINITY, s.best_cost = 0;
    int top = (1 << f->cell_bits) - 1, cells = f->slices * f->polarities;
    s.reach[0] = 0;
    for (int sl = 0; sl < f->slices; sl++) {
        s.unit[sl] = (double)((int64_t)1 << (sl * f->cell_bits));
        /* the levels each cell can take: its stuck level, or any (an offset
         * mapping's reference: its standard digit) */
        float sa = f->polarities == 2 ? stuck[2 * sl] : stuck[sl];
        float sb = f->polarities == 2 ? stuck[2 * sl + 1] : stuck[cells + sl];
        bool b_free = f->polarities == 2 && sb < 0;
        double vb = sb >= 0 ? sb : (qmax >> (sl * f->cell_bits)) & top;
        int n = 0;
        if (sa < 0 && b_free) {         /* d = a - b with one of them 0: |d| steps, cheapest */
            for (int d = 0; d <= top; d++)
                for (int sign = d ? -1 : 1; sign <= 1; sign += 2, n++) {
                    s.opt_a[sl][n] = sign > 0 ? d : 0, s.opt_b[sl][n] = sign > 0 ? 0 : d;
                    s.opt_d[sl][n] = sign * d;
                }
        } else if (b_free) {            /* a stuck */
            for (int y = 0; y <= top; y++, n++)
                s.opt_a[sl][n] = (int)(sa + 0.5f), s.opt_b[sl][n] = y, s.opt_d[sl][n] = sa - y;
        } else if (sa < 0) {            /* b stuck, or the reference */
            for (int x = 0; x <= top; x++, n++)
                s.opt_a[sl][n] = x, s.opt_b[sl][n] = (int)(vb + 0.5), s.opt_d[sl][n] = x - vb;
        } else {
            s.opt_a[sl][n] = (int)(sa + 0.5f), s.opt_b[sl][n] = (int)(vb + 0.5), s.opt_d[sl][n] = sa - vb;
            n++;
        }
        s.options[sl] = n;
        double max_d = 0;
        for (int o = 0; o < n; o++)
            max_d = fmax(max_d, fabs(s.opt_d[sl][o]));
        s.reach[sl + 1] = s.reach[sl] + s.unit[sl] * max_d;
    }
    fit_search(&s, f->slices - 1, 0, 0);
    double value = 0;
    for (int sl = 0; sl < f->slices; sl++) {
        a[sl] = s.best_a[sl], b[sl] = s.best_b[sl];
        int in = f->polarities == 2 ? 2 * sl : sl;
        float sa = stuck[in], sb = f->polarities == 2 ? stuck[in + 1] : stuck[cells + sl];
        double vb = sb >= 0 ? sb : b[sl];
        value += s.unit[sl] * ((sa >= 0 ? sa : a[sl]) - vb);
    }
    return value;
}

void fault_table(FaultMap *f, int32_t qmax, Arena *arena)
{
    int64_t codes = 2 * (int64_t)qmax + 1;
    f->value = arena_array(arena, (size_t)(f->count * codes), sizeof(float));
    int a[16], b[16];
    for (int64_t i = 0; i < f->count; i++)
        for (int32_t q = -qmax; q <= qmax; q++)
            f->value[i * codes + q + qmax] = (float)fault_fit(f, f->stuck + i * f->width, q, qmax, a, b);
}

void net_effective(Net *net, Arena *arena)
{
    int32_t qmax = quant_qmax(net->arch->weight_bits, true);
    for (int i = 0; i < net->n_layers; i++) {
        NetLayer *l = &net->layers[i];
        const FaultMap *f = l->faults;
        if (!f) {
            l->eff = l->w;
            continue;
        }
        if (!l->eff || l->eff == l->w) {
            l->eff = arena_array(arena, (size_t)(l->k * l->n), sizeof(double));
            l->w_scale = arena_array(arena, (size_t)l->n, sizeof(float));
        }
        float *w_scale = l->w_scale;
        net_quantize(l, net->arch, NULL, w_scale);
        for (int64_t k = 0; k < l->k; k++)
            for (int64_t n = 0; n < l->n; n++)
                l->eff[k * l->n + n] =
                    (double)w_scale[n] * quant_code((float)l->w[k * l->n + n], w_scale[n], -qmax, qmax);
        for (int64_t j = 0; j < f->count; j++) {
            int64_t at = f->weight[j], n = at % l->n;
            int32_t q = quant_code((float)l->w[at], w_scale[n], -qmax, qmax);
            l->eff[at] = (double)w_scale[n] * f->value[j * (2 * (int64_t)qmax + 1) + q + qmax];
        }
    }
}

/* ---- one image forward and backward ---- */

/* Per layer: its input x [K] (layer 0: the feature row), its output z [N],
 * and for layers after the first, pass [K]: 1 where the gradient flows back
 * through the previous layer's ReLU and this layer's input quantization. */
typedef struct {
    double **x, **z, **pass, **dz, *dx;
} Activations;

static Activations activations_new(const Net *net, Arena *arena)
{
    Activations a = {0};
    size_t layers = (size_t)net->n_layers;
    a.x = arena_array(arena, layers, sizeof(double *));
    a.z = arena_array(arena, layers, sizeof(double *));
    a.pass = arena_array(arena, layers, sizeof(double *));
    a.dz = arena_array(arena, layers, sizeof(double *));
    int64_t widest = 1;
    for (int i = 0; i < net->n_layers; i++) {
        const NetLayer *l = &net->layers[i];
        a.x[i] = arena_array(arena, (size_t)l->k, sizeof(double));
        a.pass[i] = arena_array(arena, (size_t)l->k, sizeof(double));
        a.z[i] = arena_array(arena, (size_t)l->n, sizeof(double));
        a.dz[i] = arena_array(arena, (size_t)l->n, sizeof(double));
        widest = l->k > widest ? l->k : widest;
    }
    a.dx = arena_array(arena, (size_t)widest, sizeof(double));
    return a;
}

/* z = x eff + b, skipping zero inputs (post-ReLU activations are sparse). */
static void linear(const NetLayer *l, const double *x, double *z)
{
    for (int64_t n = 0; n < l->n; n++)
        z[n] = l->b[n];
    for (int64_t k = 0; k < l->k; k++) {
        double xk = x[k];
        if (xk == 0)
            continue;
        const double *row = l->eff + k * l->n;
        for (int64_t n = 0; n < l->n; n++)
            z[n] += xk * row[n];
    }
}

/* The net on one feature row: every layer's x and z, the softmax of the
 * logits in the last dz; returns the index of the largest logit (the first
 * of equals, as xbarc eval). */
static int forward(const Net *net, const float *features, Activations *a)
{
    const NetLayer *first = &net->layers[0];
    for (int64_t k = 0; k < first->k; k++)
        a->x[0][k] = features[k];
    for (int i = 0; i < net->n_layers; i++) {
        const NetLayer *l = &net->layers[i];
        linear(l, a->x[i], a->z[i]);
        if (i + 1 == net->n_layers)
            break;
        const NetLayer *next = &net->layers[i + 1];
        for (int64_t j = 0; j < l->n; j++) {
            double v = l->relu && a->z[i][j] < 0 ? 0 : a->z[i][j];
            int32_t code = quant_code((float)v, next->in_scale, next->in_lo, next->in_hi);
            double q = v / next->in_scale;
            a->x[i + 1][j] = code * (double)next->in_scale;
            a->pass[i + 1][j] = (!l->relu || a->z[i][j] > 0) && q >= next->in_lo && q <= next->in_hi;
        }
    }
    const NetLayer *last = &net->layers[net->n_layers - 1];
    double *z = a->z[net->n_layers - 1], *prob = a->dz[net->n_layers - 1];
    int top = 0;
    for (int64_t n = 1; n < last->n; n++)
        if (z[n] > z[top])
            top = (int)n;
    double sum = 0;
    for (int64_t n = 0; n < last->n; n++)
        sum += prob[n] = exp(z[n] - z[top]);
    for (int64_t n = 0; n < last->n; n++)
        prob[n] /= sum;
    return top;
}

void net_evaluate(Net *net, const float *x, const int32_t *labels, int count, double *accuracy, double *loss,
                  Arena *arena)
{
    Activations a = activations_new(net, arena);
    const double *prob = a.dz[net->n_layers - 1];
    int64_t k = net->layers[0].k;
    int correct = 0;
    double total = 0;
    for (int i = 0; i < count; i++) {
        correct += forward(net, x + (size_t)i * (size_t)k, &a) == labels[i];
        total -= log(fmax(prob[labels[i]], 1e-300));
    }
    *accuracy = count ? (double)correct / count : 0;
    *loss = count ? total / count : 0;
}

/* Adds one image's gradients to grad_w and grad_b, from the softmax left in
 * the last dz by forward(). */
static void backward(const Net *net, Activations *a, int label, double **grad_w, double **grad_b)
{
    a->dz[net->n_layers - 1][label] -= 1;      /* d loss / d logits = softmax - one-hot */
    for (int i = net->n_layers - 1; i >= 0; i--) {
        const NetLayer *l = &net->layers[i];
        const double *x = a->x[i], *dz = a->dz[i];
        for (int64_t k = 0; k < l->k; k++) {
            double xk = x[k];
            if (xk == 0)
                continue;
            double *g = grad_w[i] + k * l->n;
            for (int64_t n = 0; n < l->n; n++)
                g[n] += xk * dz[n];
        }
        for (int64_t n = 0; n < l->n; n++)
            grad_b[i][n] += dz[n];
        if (i == 0)
            break;
        /* through the weights the forward used, then the input quantization and the ReLU */
        double *prev = a->dz[i - 1];
        for (int64_t k = 0; k < l->k; k++) {
            double s = 0;
            if (a->pass[i][k] != 0) {
                const double *row = l->eff + k * l->n;
                for (int64_t n = 0; n < l->n; n++)
                    s += row[n] * dz[n];
            }
            prev[k] = s;
        }
    }
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* One Adam step on params[count] with the minibatch's gradient sum. */
static void adam(double *params, const double *grad, double *mom, double *vel, size_t count, double grad_scale,
                 double step)
{
    const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    for (size_t j = 0; j < count; j++) {
        double g = grad[j] * grad_scale;
        mom[j] = beta1 * mom[j] + (1 - beta1) * g;
        vel[j] = beta2 * vel[j] + (1 - beta2) * g * g;
        params[j] -= step * mom[j] / (sqrt(vel[j]) + eps);
    }
}

void net_train(Net *net, const float *x, const int32_t *labels, int count, const NetTraining *t, uint64_t seed,
               Arena *arena)
{
    int layers = net->n_layers;
    double **grad_w = arena_array(arena, (size_t)layers, sizeof(double *));
    double **grad_b = arena_array(arena, (size_t)layers, sizeof(double *));
    double **mom = arena_array(arena, 2 * (size_t)layers, sizeof(double *));
    double **vel = arena_array(arena, 2 * (size_t)layers, sizeof(double *));
    for (int i = 0; i < layers; i++) {
        size_t n_w = (size_t)(net->layers[i].k * net->layers[i].n), n_b = (size_t)net->layers[i].n;
        grad_w[i] = arena_array(arena, n_w, sizeof(double));
        grad_b[i] = arena_array(arena, n_b, sizeof(double));
        mom[2 * i] = arena_array(arena, n_w, sizeof(double));
        vel[2 * i] = arena_array(arena, n_w, sizeof(double));
        mom[2 * i + 1] = arena_array(arena, n_b, sizeof(double));
        vel[2 * i + 1] = arena_array(arena, n_b, sizeof(double));
    }
    Activations a = activations_new(net, arena);
    int64_t k0 = net->layers[0].k;
    int *order = arena_array(arena, (size_t)count, sizeof(int));
    for (int i = 0; i < count; i++)
        order[i] = i;
    uint64_t rng = seed ^ 0x6a09e667f3bcc908u;
    double beta1_t = 1, beta2_t = 1;
    for (int epoch = 0; epoch < t->epochs; epoch++) {
        for (int i = count - 1; i > 0; i--) {
            int j = (int)(splitmix64(&rng) % (uint64_t)(i + 1));
            int swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        for (int start = 0; start < count; start += t->batch) {
            int end = start + t->batch < count ? start + t->batch : count;
            for (int i = 0; i < layers; i++) {
                memset(grad_w[i], 0, (size_t)(net->layers[i].k * net->layers[i].n) * sizeof(double));
                memset(grad_b[i], 0, (size_t)net->layers[i].n * sizeof(double));
            }
            net_effective(net, arena);
            for (int s = start; s < end; s++) {
                forward(net, x + (size_t)order[s] * (size_t)k0, &a);
                backward(net, &a, labels[order[s]], grad_w, grad_b);
            }
            beta1_t *= 0.9;
            beta2_t *= 0.999;
            double step = t->learning_rate * sqrt(1 - beta2_t) / (1 - beta1_t), scale = 1.0 / (end - start);
            for (int i = 0; i < layers; i++) {
                NetLayer *l = &net->layers[i];
                adam(l->w, grad_w[i], mom[2 * i], vel[2 * i], (size_t)(l->k * l->n), scale, step);
                adam(l->b, grad_b[i], mom[2 * i + 1], vel[2 * i + 1], (size_t)l->n, scale, step);
            }
        }
    }
    net_effective(net, arena);
}
