/* train.c: in-memory training of a program's trailing fully connected
 * layers on analog arrays of devices (study/study.h, docs/train.md).
 *
 *   1. The layers are those `xbarc finetune` retrains (finetune_find_layers);
 *      their input features come from the programmed chip, once per image
 *      (training image i with stream 2^62 + i, test image i with stream i).
 *   2. Each layer becomes a TrainLayer (study/train_array.h): devices holding
 *      w = W / scale, scale chosen so that the initial weights' largest |W|
 *      is weight_fraction of the device's bound; the bias stays digital.
 *   3. Per image: the forward pass reads each array through the program's
 *      blocks and ADCs (input: the program's codes over their qmax); the
 *      program's ReLU and next quant between layers; softmax cross-entropy.
 *      The backward pass DAC-quantizes each layer's error (scaled by its
 *      largest |value|) and reads the array transposed through the same
 *      blocks; the ReLU and the activation quantizer pass the error where
 *      they are open (straight-through).
 *   4. After each minibatch, every image's update in order (train_algo.c),
 *      the bias in digital SGD.
 *   5. The trained weights (w_read x scale) are quantized by the quantize
 *      pass's rule and reprogrammed into the layers' tiles (finetune's
 *      helpers, backend/emit.c).
 *
 * Keys (runtime/noise.h): under noise_key(seed, NOISE_TRAIN), tag 1: the
 * devices of layer l (array C; A under tag 2), tag 3: the pulse streams of
 * image g (its index over the whole run) in layer l, tags 4 and 5: the
 * forward and transposed reads of image g in layer l, tag 6: the test
 * reads, tag 7: Tiki-Taka's transfer reads, tag 8: a random init.  Work
 * is split over threads by outputs or rows, never changing a sum's order. */
#include "study/study.h"
#include "study/finetune_layers.h"
#include "study/train_array.h"

#include "runtime/noise.h"
#include "runtime/pool.h"
#include "runtime/quant.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* The in-memory rules are the training mapping's algorithms (backend/train_map.c
 * names them); float is the baseline only `xbarc train` has. */
static const TrainAlgorithm rule_algorithms[] = {
    [TRAIN_RULE_SGD] = TRAIN_SGD, [TRAIN_RULE_MIXED] = TRAIN_MIXED, [TRAIN_RULE_TTV2] = TRAIN_TTV2};

const char *train_rule_name(TrainRule a)
{
    if (a == TRAIN_RULE_FLOAT)
        return "float";
    return a > TRAIN_RULE_FLOAT && a <= TRAIN_RULE_TTV2 ? train_algorithm_name(rule_algorithms[a]) : "?";
}

bool train_rule_parse(const char *text, TrainRule *a)
{
    TrainAlgorithm algorithm;
    if (strcmp(text, "float") == 0)
        return *a = TRAIN_RULE_FLOAT, true;
    if (!train_algorithm_from_name(text, &algorithm))
        return false;
    for (int i = TRAIN_RULE_SGD; i <= TRAIN_RULE_TTV2; i++)
        if (rule_algorithms[i] == algorithm)
            return *a = (TrainRule)i, true;
    return false;
}

enum { MAX_WORKERS = 64 };

typedef struct {
    TrainedLayer L;
    TrainLayer t;
    TrainBlock *blocks;
    int n_blocks;
    bool pair;                  /* a pair of devices per weight */
    float in_scale;
    int32_t in_lo, in_hi;
    double *b;                  /* bias [N] */
    double *x, *pass, *d;       /* per image of the minibatch: [B K], [B K], [B N] */
    double *z;                  /* [N] */
} Layer;

typedef struct {
    TrainOptions o;
    const DeviceModel *device;
    int n_layers;
    Layer *layers;
    TrainRead fwd, bwd;
    float *normal;
    Pool *pool;
    int workers;
    uint64_t key;
    TrainCounters counters;
    UpdateCount counts[MAX_WORKERS];
    double *prob, *scratch;     /* [N of the last], [widest K + N] */
} Engine;

static uint64_t tag_key(const Engine *e, uint64_t tag, uint64_t layer, uint64_t index)
{
    return noise_hash(noise_hash(noise_hash(e->key, tag), layer), index);
}

/* ---- work over threads ---- */

typedef void (*RangeFn)(void *context, int64_t lo, int64_t hi, int worker);
typedef struct {
    RangeFn fn;
    void *context;
    int64_t total;
} RangeTask;

static void range_task(void *context, int worker, int workers)
{
    const RangeTask *t = context;
    t->fn(t->context, t->total * worker / workers, t->total * (worker + 1) / workers, worker);
}

static void parallel(Engine *e, RangeFn fn, void *context, int64_t total)
{
    RangeTask t = {fn, context, total};
    if (e->pool && total >= 32)
        pool_run(e->pool, range_task, &t);
    else
        fn(context, 0, total, 0);
}

typedef struct {
    const TrainArray *a;
    const TrainRead *r;
    bool transposed;
    const double *x;
    double *y;
    uint64_t key;
} ReadTask;

static void read_range(void *context, int64_t lo, int64_t hi, int worker)
{
    (void)worker;
    const ReadTask *t = context;
    train_array_read(t->a, t->r, t->transposed, t->x, t->y, t->key, lo, hi);
}

/* y = the layer's product with x (forward: N outputs; transposed: K), in
 * device units: through the array, or exact for the float algorithm. */
static void product(Engine *e, Layer *l, bool transposed, const double *x, double *y, uint64_t key, bool count)
{
    TrainLayer *t = &l->t;
    if (e->o.algorithm == TRAIN_RULE_FLOAT) {
        int64_t outputs = transposed ? t->k : t->n;
        for (int64_t j = 0; j < outputs; j++)
            y[j] = 0;
        for (int64_t k = 0; k < t->k; k++)
            for (int64_t n = 0; n < t->n; n++) {
                if (transposed)
                    y[k] += t->wf[k * t->n + n] * x[n];
                else
                    y[n] += x[k] * t->wf[k * t->n + n];
            }
        return;
    }
    const TrainRead *r = transposed ? &e->bwd : &e->fwd;
    ReadTask task = {&t->c, r, transposed, x, y, key};
    parallel(e, read_range, &task, transposed ? t->k : t->n);
    if (count)
        train_read_count(&t->c, r, transposed, &e->counters);
}

/* ---- one image forward and backward ---- */

/* The layers on one feature row (slot: the minibatch's image), read with
 * keys of image g (test: tag 6); the softmax of the logits in e->prob.
 * Returns the index of the largest logit (the first of equals). */
static int forward(Engine *e, const float *features, int slot, uint64_t g, bool test)
{
    Layer *first = &e->layers[0];
    double *x = first->x + (int64_t)slot * first->t.k;
    for (int64_t k = 0; k < first->t.k; k++) {
        int32_t code = quant_code(features[k], first->in_scale, first->in_lo, first->in_hi);
        x[k] = (double)code / first->in_hi;
    }
    for (int i = 0; i < e->n_layers; i++) {
        Layer *l = &e->layers[i];
        x = l->x + (int64_t)slot * l->t.k;
        product(e, l, false, x, l->z, tag_key(e, test ? 6 : 4, (uint64_t)i, g), !test);
        for (int64_t n = 0; n < l->t.n; n++)
            l->z[n] = l->t.unit * l->z[n] + l->b[n];
        if (!test)
            e->counters.digital_ops += (uint64_t)l->t.n;
        if (i + 1 == e->n_layers)
            break;
        Layer *next = &e->layers[i + 1];
        double *nx = next->x + (int64_t)slot * next->t.k, *pass = next->pass + (int64_t)slot * next->t.k;
        for (int64_t j = 0; j < l->t.n; j++) {
            double v = l->L.relu && l->z[j] < 0 ? 0 : l->z[j], q = v / next->in_scale;
            int32_t code = quant_code((float)v, next->in_scale, next->in_lo, next->in_hi);
            nx[j] = (double)code / next->in_hi;
            pass[j] = (!l->L.relu || l->z[j] > 0) && q >= next->in_lo && q <= next->in_hi;
        }
    }
    const Layer *last = &e->layers[e->n_layers - 1];
    int top = 0;
    for (int64_t n = 1; n < last->t.n; n++)
        if (last->z[n] > last->z[top])
            top = (int)n;
    double sum = 0;
    for (int64_t n = 0; n < last->t.n; n++)
        sum += e->prob[n] = exp(last->z[n] - last->z[top]);
    for (int64_t n = 0; n < last->t.n; n++)
        e->prob[n] /= sum;
    return top;
}

/* The error DAC: v / max|v| rounded to `bits` signed levels; returns max|v|
 * (0: all zero, q zero). */
static double dac_quantize(const double *v, int64_t count, int bits, double *q)
{
    double top = (double)((1 << (bits - 1)) - 1), v_max = 0;
    for (int64_t i = 0; i < count; i++)
        v_max = fmax(v_max, fabs(v[i]));
    for (int64_t i = 0; i < count; i++)
        q[i] = v_max > 0 ? nearbyint(v[i] / v_max * top) / top : 0;
    return v_max;
}

/* Every layer's error of image `slot` (d of the mean loss over `batch`
 * images), from the softmax forward() left. */
static void backward(Engine *e, int slot, int label, int batch, uint64_t g)
{
    Layer *last = &e->layers[e->n_layers - 1];
    double *d = last->d + (int64_t)slot * last->t.n;
    for (int64_t n = 0; n < last->t.n; n++)
        d[n] = (e->prob[n] - (n == label)) / batch;
    for (int i = e->n_layers - 1; i > 0; i--) {
        Layer *l = &e->layers[i], *prev = &e->layers[i - 1];
        d = l->d + (int64_t)slot * l->t.n;
        double *dq = e->scratch, *s = e->scratch + l->t.n, d_max = 1;
        if (e->o.algorithm == TRAIN_RULE_FLOAT)
            memcpy(dq, d, (size_t)l->t.n * sizeof(double));
        else
            d_max = dac_quantize(d, l->t.n, e->o.bwd_dac_bits, dq);
        product(e, l, true, dq, s, tag_key(e, 5, (uint64_t)i, g), true);
        const double *pass = l->pass + (int64_t)slot * l->t.k;
        double *pd = prev->d + (int64_t)slot * prev->t.n;
        for (int64_t k = 0; k < l->t.k; k++)
            pd[k] = pass[k] * l->t.scale * d_max * s[k];
        e->counters.digital_ops += 2 * (uint64_t)(l->t.k + l->t.n);
    }
}

/* ---- the update ---- */

typedef struct {
    Engine *e;
    Layer *l;
    const PulseStreams *s;
    const double *x, *d;
    double lr;
} UpdateTask;

static void update_range(void *context, int64_t lo, int64_t hi, int worker)
{
    UpdateTask *t = context;
    train_update_rows(&t->l->t, t->e->o.algorithm, t->s, t->x, t->d, t->lr, lo, hi, &t->e->counts[worker]);
}

/* Image `slot`'s update of every layer (g: its index over the run). */
static void update(Engine *e, int slot, uint64_t g, PulseStreams *streams)
{
    const TrainOptions *o = &e->o;
    for (int i = 0; i < e->n_layers; i++) {
        Layer *l = &e->layers[i];
        TrainLayer *t = &l->t;
        const double *x = l->x + (int64_t)slot * t->k;
        double *d = l->d + (int64_t)slot * t->n;
        /* device units per unit of x d: dW = -lr x_real d, x_real = x qmax in_scale, w = W / scale */
        double lr = o->learning_rate * l->in_hi * l->in_scale / t->scale;
        for (int64_t n = 0; n < t->n; n++)
            l->b[n] -= o->learning_rate * d[n];
        const double *dv = d;
        if (o->algorithm == TRAIN_RULE_MIXED) {
            double *dq = e->scratch;
            double d_max = dac_quantize(d, t->n, o->bwd_dac_bits, dq);
            for (int64_t n = 0; n < t->n; n++)
                dq[n] *= d_max;
            dv = dq;
        }
        if (o->algorithm == TRAIN_RULE_SGD || o->algorithm == TRAIN_RULE_TTV2) {
            pulse_streams(streams, x, t->k, d, t->n, lr, e->device->dw_min, tag_key(e, 3, (uint64_t)i, g));
            e->counters.update_slots += (uint64_t)o->bl;
            e->counters.digital_ops += (uint64_t)o->bl * (uint64_t)(t->k + t->n);
        }
        UpdateTask task = {e, l, streams, x, dv, lr};
        parallel(e, update_range, &task, t->k);
        e->counters.buffer_bytes += 4 * (uint64_t)(t->k + t->n);
        if (o->algorithm == TRAIN_RULE_MIXED)
            e->counters.buffer_bytes += 8 * (uint64_t)(t->k * t->n);   /* chi read and written, 4 bytes each */
        if (o->algorithm == TRAIN_RULE_TTV2 && (g + 1) % (uint64_t)o->transfer_every == 0) {
            int64_t row = t->transfers++ % t->k;
            ttv2_transfer(t, &e->fwd, row, o->transfer_lr, tag_key(e, 7, (uint64_t)i, (uint64_t)t->transfers),
                          e->scratch, &e->counts[0]);
            train_read_count(&t->a, &e->fwd, false, &e->counters);
            e->counters.buffer_bytes += 8 * (uint64_t)t->n;
        }
    }
    for (int w = 0; w < MAX_WORKERS; w++) {
        e->counters.pulses += e->counts[w].pulses;
        e->counters.update_slots += e->counts[w].slots;
        e->counters.digital_ops += e->counts[w].digital_ops;
        e->counts[w] = (UpdateCount){0};
    }
}

/* ---- setting up ---- */

/* The layer's blocks: its mvm instructions of the copy that processes row 0
 * (rows from src_col, weight columns n0 .. n0 + n_cols of its combine). */
static void find_blocks(const Program *p, Layer *l, Arena *arena)
{
    int count = 0;
    for (int pass = 0; pass < 2; pass++) {
        int at = 0;
        for (int i = 0; i + 1 < p->n_instrs; i++) {
            const Instr *in = &p->instrs[i];
            if (in->opcode != INSTR_MVM || !in->layer || strcmp(in->layer, l->L.name) != 0 ||
                in->mvm.row_begin > 0 || in->mvm.row_end <= 0)
                continue;
            if (pass == 1) {
                const CombineParams *c = &p->instrs[i + 1].combine;
                l->blocks[at] = (TrainBlock){.row0 = in->mvm.src_col, .rows = in->mvm.rows, .col0 = c->n0,
                                             .cols = c->n_cols, .adc_bits = in->mvm.adc_bits};
            }
            at++;
        }
        if (pass == 0) {
            count = at;
            l->blocks = arena_array(arena, (size_t)count, sizeof(TrainBlock));
        }
    }
    l->n_blocks = count;
}

/* Layer i's initial weights W [K N] and bias: the programmed ones, or
 * uniform in +-1/sqrt(K) and 0 (PyTorch's nn.Linear bound). */
static void initial_weights(const Program *p, Engine *e, int i, double *w, float *old_q)
{
    Layer *l = &e->layers[i];
    NetLayer m = {.k = l->L.k, .n = l->L.n, .w = w, .b = l->b};
    finetune_layer_weights(p, &l->L, &m, old_q);
    l->in_scale = m.in_scale, l->in_lo = m.in_lo, l->in_hi = m.in_hi;
    if (!e->o.init_random)
        return;
    double bound = 1 / sqrt((double)l->L.k);
    for (int64_t j = 0; j < l->L.k * l->L.n; j++)
        w[j] = bound * (2 * noise_uniform(tag_key(e, 8, (uint64_t)i, (uint64_t)j)) - 1);
    for (int64_t n = 0; n < l->L.n; n++)
        l->b[n] = 0;
}

/* Whether the layer called `name` trains on a pair of devices per weight. */
static bool layer_pair(const Program *p, const Engine *e, const char *name)
{
    TrainMapping mapping = train_mapping_of(p, name);
    bool pair = e->o.mapping_given ? e->o.pair : mapping == TRAIN_MAP_PAIR || mapping == TRAIN_MAP_SPLIT;
    return pair || e->device->w_min >= 0;       /* a unipolar device holds no sign alone */
}

static void setup_layer(const Program *p, Engine *e, int i, float *old_q, Arena *arena)
{
    Layer *l = &e->layers[i];
    int64_t k = l->L.k, n = l->L.n, batch = e->o.batch;
    l->b = arena_array(arena, (size_t)n, sizeof(double));
    double *w = arena_array(arena, (size_t)(k * n), sizeof(double));
    initial_weights(p, e, i, w, old_q);
    find_blocks(p, l, arena);
    double w_max = 0;
    for (int64_t j = 0; j < k * n; j++)
        w_max = fmax(w_max, fabs(w[j]));
    const DeviceModel *m = e->device;
    l->pair = layer_pair(p, e, l->L.name);
    /* a bipolar device holds +-min(-w_min, w_max); a pair +-(w_max - base) */
    double bound = l->pair ? m->w_max - fmax(m->w_min, 0) : fmin(-m->w_min, m->w_max);
    TrainLayer *t = &l->t;
    t->k = k, t->n = n;
    t->scale = w_max > 0 ? w_max / (e->o.weight_fraction * bound) : 1 / bound;
    t->unit = l->in_hi * (double)l->in_scale * t->scale;
    for (int64_t j = 0; j < k * n; j++)
        w[j] /= t->scale;
    if (e->o.algorithm == TRAIN_RULE_FLOAT) {
        t->wf = w;
    } else {
        train_array_init(&t->c, m, k, n, l->pair, tag_key(e, 1, (uint64_t)i, 0), w, l->blocks, l->n_blocks,
                         arena);
    }
    if (e->o.algorithm == TRAIN_RULE_TTV2) {
        double *zero = arena_array(arena, (size_t)(k * n), sizeof(double));
        train_array_init(&t->a, m, k, n, l->pair, tag_key(e, 2, (uint64_t)i, 0), zero, l->blocks,
                         l->n_blocks, arena);
        if (e->o.zero_shift && !l->pair)
            train_array_zero_shift(&t->a, arena);
    }
    if (e->o.algorithm == TRAIN_RULE_MIXED || e->o.algorithm == TRAIN_RULE_TTV2)
        t->acc = arena_array(arena, (size_t)(k * n), sizeof(double));
    l->x = arena_array(arena, (size_t)(batch * k), sizeof(double));
    l->pass = arena_array(arena, (size_t)(batch * k), sizeof(double));
    l->d = arena_array(arena, (size_t)(batch * n), sizeof(double));
    l->z = arena_array(arena, (size_t)n, sizeof(double));
}

static void options_defaults(TrainOptions *o)
{
    o->epochs = o->epochs > 0 ? o->epochs : TRAIN_EPOCHS;
    o->batch = o->batch > 0 ? o->batch : TRAIN_BATCH;
    o->learning_rate = o->learning_rate > 0 ? o->learning_rate : TRAIN_LEARNING_RATE;
    o->threads = o->threads > 0 ? (o->threads < MAX_WORKERS ? o->threads : MAX_WORKERS) : 1;
    o->bl = o->bl > 0 ? o->bl : TRAIN_BL;
    o->bwd_dac_bits = o->bwd_dac_bits > 0 ? o->bwd_dac_bits : TRAIN_BWD_DAC_BITS;
    o->out_bound = o->out_bound > 0 ? o->out_bound : TRAIN_OUT_BOUND;
    o->weight_fraction = o->weight_fraction > 0 ? o->weight_fraction : TRAIN_WEIGHT_FRACTION;
    o->transfer_every = o->transfer_every > 0 ? o->transfer_every : TRAIN_TRANSFER_EVERY;
    o->transfer_lr = o->transfer_lr > 0 ? o->transfer_lr : TRAIN_TRANSFER_LR;
}

static double seconds_now(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double test_accuracy(Engine *e, const float *features, const int32_t *labels, int count, int epoch)
{
    int64_t k0 = e->layers[0].t.k;
    int correct = 0;
    for (int i = 0; i < count; i++)
        correct += forward(e, features + (size_t)i * (size_t)k0, 0, ((uint64_t)epoch << 32) + (uint64_t)i, true) ==
                   labels[i];
    return count ? (double)correct / count : 0;
}

/* Every device's pulses into the report (per weight, both devices and
 * arrays), and the largest and mean per device. */
static void count_writes(Engine *e, TrainReport *report, Arena *arena)
{
    uint64_t devices = 0, total = 0;
    for (int i = 0; i < e->n_layers; i++) {
        TrainLayer *t = &e->layers[i].t;
        int64_t count = t->k * t->n;
        report->writes[i] = arena_array(arena, (size_t)count, sizeof(uint32_t));
        if (e->o.algorithm == TRAIN_RULE_FLOAT)
            continue;
        const TrainArray *arrays[2] = {&t->c, &t->a};
        for (int a = 0; a < (e->o.algorithm == TRAIN_RULE_TTV2 ? 2 : 1); a++) {
            int64_t cells = arrays[a]->pair ? 2 * count : count;
            for (int64_t j = 0; j < cells; j++) {
                uint32_t pulses = arrays[a]->cells[j].pulses;
                report->writes[i][j % count] += pulses;
                report->max_writes = pulses > report->max_writes ? pulses : report->max_writes;
                total += pulses;
            }
            devices += (uint64_t)cells;
            report->refreshes += arrays[a]->refreshes;
        }
    }
    report->mean_writes = devices ? (double)total / (double)devices : 0;
}

/* The weight array's pulses into the program's cell write counts
 * (Tile.cell_writes, added to what is there): device (k, n), or a pair's
 * plus device, on the cell of the weight's least significant slice that
 * holds its positive part (pair mappings) or its offset code; a pair's
 * minus device on the slice's negative cell.  Every replica's cells take the
 * same counts: copies are updated together.  Tiki-Taka's fast array A is
 * not among the program's tiles (its devices count in the report). */
static void record_cell_writes(Program *p, const Layer *l)
{
    const TrainArray *c = &l->t.c;
    int64_t count = c->k * c->n;
    for (int i = 0; i + 1 < p->n_instrs; i++) {
        const Instr *in = &p->instrs[i];
        if (in->opcode != INSTR_MVM || !in->layer || strcmp(in->layer, l->L.name) != 0)
            continue;
        const MvmParams *m = &in->mvm;
        const CombineParams *cb = &p->instrs[i + 1].combine;
        Tile *t = &p->tiles[m->tile];
        if (!t->cell_writes)
            t->cell_writes = arena_array(p->arena, (size_t)t->rows * (size_t)t->cols, sizeof(uint32_t));
        int polarities = cell_polarities(cb->sign), width = cb->slices * polarities;
        for (int r = 0; r < m->rows; r++) {
            uint32_t *row = t->cell_writes + (size_t)(m->tile_row + r) * (size_t)t->cols;
            for (int j = 0; j < cb->n_cols; j++) {
                int64_t w = (int64_t)(m->src_col + r) * c->n + cb->n0 + j;
                int col = m->tile_col + j * width;
                row[col] += c->cells[w].pulses;
                if (c->pair && polarities == 2)
                    row[col + 1] += c->cells[count + w].pulses;
                else if (c->pair)
                    row[col] += c->cells[count + w].pulses;
            }
        }
    }
}

/* The trained weights into the program: quantized, reprogrammed, new
 * out_scale and bias; every tile of a layer counts one more write. */
static bool write_back(Program *p, Engine *e, float **old_q, TrainReport *report, Arena *arena, Diags *diags)
{
    bool *touched = arena_array(arena, (size_t)p->n_tiles + 1, sizeof(bool));
    for (int i = 0; i < e->n_layers; i++) {
        Layer *l = &e->layers[i];
        TrainLayer *t = &l->t;
        size_t count = (size_t)(t->k * t->n);
        NetLayer m = {.k = t->k, .n = t->n, .w = arena_array(arena, count, sizeof(double)), .b = l->b};
        for (size_t j = 0; j < count; j++)
            m.w[j] = t->scale * (e->o.algorithm == TRAIN_RULE_FLOAT ? t->wf[j] : (double)t->c.w[j]);
        float *new_q = arena_array(arena, count, sizeof(float));
        float *w_scale = arena_array(arena, (size_t)t->n, sizeof(float));
        net_quantize(&m, &p->arch, new_q, w_scale);
        for (size_t j = 0; j < count; j++)
            report->weights_changed += new_q[j] != old_q[i][j];
        if (!emit_reprogram_layer(p, l->L.name, new_q, 1, t->k, t->n, diags))
            return false;
        finetune_set_dequant(p, &l->L, w_scale, &m);
        if (e->o.algorithm != TRAIN_RULE_FLOAT)
            record_cell_writes(p, l);
        for (int j = 0; j < p->n_instrs; j++) {
            const Instr *in = &p->instrs[j];
            if (in->opcode == INSTR_MVM && in->layer && strcmp(in->layer, l->L.name) == 0)
                touched[in->mvm.tile] = true;
        }
    }
    for (int t = 0; t < p->n_tiles; t++)
        p->tiles[t].writes += touched[t];
    return true;
}

/* What training adds to the chip (backend/train_map.c, docs/train-mapping.md):
 * Tiki-Taka's fast arrays, the accumulators' memory, the transposed-read
 * periphery and the update drivers, in tiles and area.  Left 0 when the
 * training mapping cannot say (its message is not an error of training). */
static void add_train_map(const Program *p, const Engine *e, TrainCost *cost, Arena *arena)
{
    if (e->o.algorithm == TRAIN_RULE_FLOAT)
        return;
    const char **names = arena_array(arena, (size_t)e->n_layers, sizeof(char *));
    for (int i = 0; i < e->n_layers; i++)
        names[i] = e->layers[i].L.name;
    TrainMapRequest request = {.algorithm = rule_algorithms[e->o.algorithm], .n_layers = e->n_layers, .layers = names,
                               .bl = e->o.bl, .pulse_ns = e->device->pulse_ns};
    PerfParams params = perf_params_default();
    Diags quiet;
    diags_init(&quiet, arena);
    TrainMap map;
    if (!train_map(arena, p, &params, &request, &map, &quiet))
        return;
    cost->extra_tiles = map.extra_tiles;
    cost->extra_area_mm2 = map.added_mm2;
}

static void epoch_cost(const Engine *e, const TrainCounters *c, TrainCost *cost)
{
    PerfParams params = perf_params_default();
    perf_train_cost(&params, e->device->pulse_pj, e->device->pulse_ns, c, cost);
}

/* c -= base, field by field (the counters are all uint64_t). */
static void counters_since(TrainCounters *c, const TrainCounters *base)
{
    uint64_t *a = (uint64_t *)c;
    const uint64_t *b = (const uint64_t *)base;
    for (size_t i = 0; i < sizeof *c / sizeof(uint64_t); i++)
        a[i] -= b[i];
}

bool train_program(Program *p, uint64_t seed, const DeviceModel *device, const float *images, const int32_t *labels,
                   int count, const float *test_images, const int32_t *test_labels, int test_count,
                   const TrainOptions *options, TrainEpochFn on_epoch, void *context, TrainReport *report,
                   Diags *diags)
{
    memset(report, 0, sizeof *report);
    Engine e = {.o = *options, .device = device, .key = noise_key(seed, NOISE_TRAIN)};
    options_defaults(&e.o);
    TrainedLayer L[FINETUNE_MAX_LAYERS];
    int want = e.o.layers > 0 ? e.o.layers : FINETUNE_LAYERS_FC;
    if (want > FINETUNE_MAX_LAYERS) {
        Loc loc = {0};
        diag_error(diags, &loc, "training: at most %d layers are trained, not %d", FINETUNE_MAX_LAYERS, want);
        return false;
    }
    if (!finetune_find_layers(p, want, L, &e.n_layers, diags))
        return false;
    const TrainedLayer *first = &L[0], *last = &L[e.n_layers - 1];
    for (int i = 0; i < count; i++) {
        if (labels[i] < 0 || labels[i] >= last->n) {
            Loc loc = {0};
            diag_error(diags, &loc, "training layer %s: training image %d has label %d, but the layer has %lld "
                       "outputs", last->name, i, labels[i], (long long)last->n);
            return false;
        }
    }
    Arena *arena = arena_new();
    e.layers = arena_array(arena, (size_t)e.n_layers, sizeof(Layer));
    float **old_q = arena_array(arena, (size_t)e.n_layers, sizeof(float *));
    int64_t widest = 1;
    for (int i = 0; i < e.n_layers; i++) {
        e.layers[i].L = L[i];
        if (e.o.zero_shift && layer_pair(p, &e, L[i].name)) {     /* before its arrays take memory */
            Loc loc = {0};
            diag_error(diags, &loc, "--zero-shift: layer %s is a pair of devices per weight; zero-shifting takes "
                       "one bipolar device per weight (--mapping device)", L[i].name);
            arena_free(arena);
            return false;
        }
        old_q[i] = arena_array(arena, (size_t)(L[i].k * L[i].n), sizeof(float));
        setup_layer(p, &e, i, old_q[i], arena);
        widest = L[i].k + L[i].n > widest ? L[i].k + L[i].n : widest;
        report->layers[i] = L[i].name;
        report->scale[i] = e.layers[i].t.scale;
        report->pair[i] = e.layers[i].pair;
        report->weights += L[i].k * L[i].n;
    }
    report->n_layers = e.n_layers;
    report->features = first->k;
    report->classes = last->n;
    report->images = count;
    report->test_images = test_count;
    e.normal = arena_array(arena, (size_t)1 << NOISE_TABLE_BITS, sizeof(float));
    noise_normal_table(e.normal);
    e.fwd = (TrainRead){.read_sigma = p->arch.read_sigma, .out_bound = e.o.out_bound, .normal = e.normal,
                        .cols_per_adc = p->arch.cols_per_adc};
    e.bwd = e.fwd;
    e.bwd.adc_bits = e.o.bwd_adc_bits;
    e.prob = arena_array(arena, (size_t)last->n, sizeof(double));
    e.scratch = arena_array(arena, (size_t)widest, sizeof(double));
    e.pool = e.o.threads > 1 ? pool_new(e.o.threads) : NULL;

    float *features = arena_array(arena, (size_t)count * (size_t)first->k, sizeof(float));
    float *test_features = arena_array(arena, (size_t)test_count * (size_t)first->k + 1, sizeof(float));
    double start = seconds_now(CLOCK_MONOTONIC);
    finetune_features(p, first, seed, images, count, FINETUNE_TRAIN_STREAM, features, arena);
    finetune_features(p, first, seed, test_images, test_count, 0, test_features, arena);
    report->feature_seconds = seconds_now(CLOCK_MONOTONIC) - start;

    int bl_words = (e.o.bl + 63) / 64;
    PulseStreams streams = {.bl = e.o.bl, .words = bl_words,
                            .x_bits = arena_array(arena, (size_t)(widest * bl_words), sizeof(uint64_t)),
                            .d_bits = arena_array(arena, (size_t)(widest * bl_words), sizeof(uint64_t)),
                            .active = arena_array(arena, (size_t)widest, sizeof(int64_t))};
    TrainEpoch before = {.epoch = 0, .test_accuracy = test_accuracy(&e, test_features, test_labels, test_count, 0)};
    if (on_epoch)
        on_epoch(context, &before);

    int *order = arena_array(arena, (size_t)count + 1, sizeof(int));
    for (int i = 0; i < count; i++)
        order[i] = i;
    uint64_t rng = seed ^ 0x6a09e667f3bcc908u, g = 0;
    for (int epoch = 1; epoch <= e.o.epochs; epoch++) {
        TrainCounters base = e.counters;
        double epoch_start = seconds_now(CLOCK_MONOTONIC), cpu_start = seconds_now(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = count - 1; i > 0; i--) {
            int j = (int)(splitmix64(&rng) % (uint64_t)(i + 1)), swap = order[i];
            order[i] = order[j], order[j] = swap;
        }
        double loss = 0;
        int correct = 0;
        for (int start = 0; start < count; start += e.o.batch) {
            int end = start + e.o.batch < count ? start + e.o.batch : count;
            for (int s = start; s < end; s++) {
                int image = order[s];
                correct += forward(&e, features + (size_t)image * (size_t)first->k, s - start, g + (uint64_t)s,
                                   false) == labels[image];
                loss -= log(fmax(e.prob[labels[image]], 1e-300));
                backward(&e, s - start, labels[image], end - start, g + (uint64_t)s);
                e.counters.digital_ops += 3 * (uint64_t)last->n;    /* softmax and its error */
            }
            for (int s = start; s < end; s++)
                update(&e, s - start, g + (uint64_t)s, &streams);
        }
        g += (uint64_t)count;
        e.counters.steps += (uint64_t)count;
        double trained = seconds_now(CLOCK_MONOTONIC) - epoch_start;
        report->train_seconds += trained;
        report->train_cpu_seconds += seconds_now(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
        TrainEpoch ep = {.epoch = epoch, .train_loss = count ? loss / count : 0,
                         .train_accuracy = count ? (double)correct / count : 0,
                         .test_accuracy = test_accuracy(&e, test_features, test_labels, test_count, epoch),
                         .counters = e.counters, .train_seconds = trained};
        counters_since(&ep.counters, &base);
        epoch_cost(&e, &ep.counters, &ep.cost);
        if (on_epoch)
            on_epoch(context, &ep);
    }
    pool_free(e.pool);
    report->counters = e.counters;
    epoch_cost(&e, &e.counters, &report->cost);
    add_train_map(p, &e, &report->cost, arena);
    count_writes(&e, report, p->arena);
    report->epochs_to_wear =
        perf_train_epochs_to_wear(device->endurance, (double)report->max_writes / (double)e.o.epochs);
    bool ok = write_back(p, &e, old_q, report, arena, diags);
    if (ok) {
        /* trained on this chip's features: the program says so (xbarc explain) */
        p->tuned = true;
        p->tuned_seed = seed;
        p->tuned_chip = noise_describe(p->arena, &p->arch);
    }
    arena_free(arena);
    return ok;
}
