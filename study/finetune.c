/* finetune.c: hybrid fine-tuning of the trailing crossbar layers
 * (docs/finetune.md): what reads and writes the program.
 *
 * Yao et al. (Nature 2020) programmed a trained network into memristor arrays
 * and then retrained only its last fully connected layer on the outputs that
 * the chip's own earlier layers gave for a few training images, so that the
 * last layer learns to read the features the imperfect chip actually makes.
 * Here the chip is the simulator with the program's non-idealities drawn from
 * a seed, and the last N layers can be retrained together.  Steps:
 *
 *   0. (--reencode) every layer's weights with a stuck cell are written
 *      around it: other levels for its free cells, read as its code or as
 *      close as they can (fault_fit, finetune_net.c).
 *   1. features: a truncated copy of the program (its instructions up to the
 *      first retrained layer's quant, whose source buffer becomes the output)
 *      runs on each training image; the instructions keep their indices and
 *      the tiles their numbers, so the copy draws the same chip and the same
 *      read noise keys as the whole program would.  The features are the
 *      layer's dequantized input codes, code * in_scale: what its crossbar sees.
 *   2. training (finetune_net.c) of the layers' weights and biases in double,
 *      initialized from the programmed layers: levels decoded to w_q, times
 *      w_scale; chip-aware with the stuck cells found here.
 *   3. reprogramming: the quantize pass's rule (docs/crossbar.md 3) gives new
 *      w_q and w_scale; backend/emit.c's emit_reprogram_layer writes the new
 *      levels into each layer's blocks, the weights with stuck cells are
 *      written around them, and the dequant gets the new out_scale and bias.
 *      The input scales stay, so the quants are unchanged.  Every tile
 *      written counts one more write (Tile.writes): the chip draws its
 *      programming variation anew (docs/noise.md 2).
 *
 * Everything the training touches is in double and in a fixed order, so the
 * same seed and images give the same program. */
#include "study/study.h"
#include "study/finetune_net.h"
#include "study/finetune_layers.h"

#include "backend/backend.h"
#include "runtime/noise.h"
#include "runtime/quant.h"

#include <math.h>
#include <string.h>

static bool layer_error(Diags *diags, const char *layer, const char *what)
{
    Loc loc = {0};
    diag_error(diags, &loc, "layer %s cannot be retrained (finetune, train): %s", layer, what);
    return false;
}

/* Instructions reading buffer b. */
static int readers(const Program *p, int b)
{
    int count = 0;
    for (int i = 0; b >= 0 && i < p->n_instrs; i++) {
        const Instr *in = &p->instrs[i];
        if (in->opcode == INSTR_DIGITAL) {
            for (int j = 0; j < in->op->n_inputs; j++)
                count += in->op->inputs[j]->id == b;
        } else {
            count += (in->src[0] == b) + (in->src[1] == b) + (in->src[2] == b);
        }
    }
    return count;
}

/* The layer whose last instruction is dequant `dequant`, if it can be
 * retrained: quantized, fully connected (matmul form, one row per image),
 * dense, its instructions from its quant on its own.  NULL, or why not. */
static const char *read_layer(const Program *p, int dequant, TrainedLayer *L)
{
    memset(L, 0, sizeof *L);
    L->name = p->instrs[dequant].layer;
    L->dequant = dequant;
    L->quant = -1;
    for (int i = dequant - 1; i >= 0 && L->quant < 0; i--) {
        const Instr *in = &p->instrs[i];
        if (!in->layer || strcmp(in->layer, L->name) != 0)
            return "instructions of other layers among its own";
        if (in->opcode == INSTR_QUANT)
            L->quant = i;
        else if (in->opcode == INSTR_IM2COL)
            return "a convolution; only fully connected (matmul) layers are retrained";
        else if (in->opcode != INSTR_MVM && in->opcode != INSTR_COMBINE)
            return "no quant and dequant around its blocks";
    }
    if (L->quant < 0)
        return "no quant and dequant around its blocks";
    if (p->float_weights || p->instrs[L->quant].quant.float_mode)
        return "a float-weight program has no levels to retrain";
    const Type *codes = &p->buffers[p->instrs[L->quant].dst].type;
    const DequantParams *d = &p->instrs[dequant].dequant;
    L->k = codes->rank > 0 ? codes->dims[codes->rank - 1] : 1;
    L->n = d->channels;
    if (type_numel(codes) != L->k || d->conv || d->pixels != 1)
        return "more than one input row per image (only a batch of one is retrained)";
    for (int i = L->quant; i < dequant; i++) {
        const Instr *in = &p->instrs[i];
        if (in->opcode == INSTR_COMBINE && in->combine.n_per_group != L->n)
            return "grouped; only a dense layer is retrained";
    }
    return NULL;
}

/* The layer before `next`: the dequant reached from next's quant backwards
 * through digital ops the training models (ReLU, and reshapes, which keep
 * the order of a row), each read only by the next.  NULL, or why not. */
static const char *previous_layer(const Program *p, TrainedLayer *next, TrainedLayer *L)
{
    int cur = p->instrs[next->quant].src[0];
    bool relu = false;
    for (int i = next->quant - 1; i >= 0; i--) {
        const Instr *in = &p->instrs[i];
        if (readers(p, cur) != 1)
            return "its input is read by other instructions too";
        if (in->opcode == INSTR_DEQUANT && in->dst == cur) {
            const char *why = read_layer(p, i, L);
            if (!why && L->n != next->k)
                why = "its outputs are not the next layer's inputs one to one";
            if (!why)
                L->relu = relu;
            return why;
        }
        if (in->opcode != INSTR_DIGITAL || in->op->result->id != cur || in->op->n_inputs != 1)
            return "not fed by a crossbar layer through digital ops alone";
        OpKind kind = in->op->kind;
        if (kind != OP_RELU && kind != OP_FLATTEN && kind != OP_RESHAPE && kind != OP_IDENTITY)
            return arena_printf(p->arena, "fed through %s, which the training does not model (relu, flatten, "
                                "reshape, identity)", op_info[kind].name);
        relu |= kind == OP_RELU;
        cur = in->op->inputs[0]->id;
    }
    return "not fed by a crossbar layer";
}

/* The trailing crossbar layers to retrain, in program order: `want` of them,
 * or with FINETUNE_LAYERS_FC every fully connected one that a chain of
 * modelled digital ops links to the last.  The last layer is the one of the
 * program's last mvm, and its N outputs must be the program's one output. */
bool finetune_find_layers(const Program *p, int want, TrainedLayer *layers, int *count, Diags *diags)
{
    *count = 0;
    int last_mvm = -1;
    for (int i = 0; i < p->n_instrs; i++)
        if (p->instrs[i].opcode == INSTR_MVM)
            last_mvm = i;
    if (last_mvm < 0 || !p->instrs[last_mvm].layer) {
        Loc loc = {0};
        diag_error(diags, &loc, "fine-tuning: the program has no crossbar layer");
        return false;
    }
    const char *name = p->instrs[last_mvm].layer;
    int dequant = -1;
    for (int i = last_mvm + 1; i < p->n_instrs && dequant < 0; i++)
        if (p->instrs[i].opcode == INSTR_DEQUANT && p->instrs[i].layer && strcmp(p->instrs[i].layer, name) == 0)
            dequant = i;
    for (int i = 0; i < p->n_instrs; i++)
        if (p->instrs[i].opcode == INSTR_IM2COL && p->instrs[i].layer && strcmp(p->instrs[i].layer, name) == 0)
            return layer_error(diags, name, "a convolution; only fully connected (matmul) layers are retrained");
    if (dequant < 0)
        return layer_error(diags, name, "no quant and dequant around its blocks");
    TrainedLayer chain[FINETUNE_MAX_LAYERS];
    const char *why = read_layer(p, dequant, &chain[0]);
    if (why)
        return layer_error(diags, name, why);
    if (p->n_inputs != 1 || p->n_outputs != 1 || type_numel(&p->buffers[p->outputs[0]].type) != chain[0].n)
        return layer_error(diags, name, "the program must have one input and one output of the layer's width");
    int n = 1, limit = want == FINETUNE_LAYERS_FC ? FINETUNE_MAX_LAYERS : want;
    while (n < limit) {
        why = previous_layer(p, &chain[n - 1], &chain[n]);
        if (why && want != FINETUNE_LAYERS_FC) {
            Loc loc = {0};
            diag_error(diags, &loc, "retraining %d layers: the layer before %s (layer %d from the end) "
                       "cannot be retrained: %s", want, chain[n - 1].name, n + 1, why);
            return false;
        }
        if (why)
            break;
        n++;
    }
    for (int i = 0; i < n; i++)
        layers[i] = chain[n - 1 - i];
    *count = n;
    return true;
}

/* The code of weight column j, row r of a block from its levels: the
 * inverse of the slicing and sign mapping of docs/crossbar.md 5 (the offset
 * mapping's standard reference levels, those of qmax). */
static int64_t read_code(const Program *p, const MvmParams *m, const CombineParams *c, int r, int j)
{
    const Tile *t = &p->tiles[m->tile];
    int width = c->slices * cell_polarities(c->sign);
    size_t at = (size_t)(m->tile_row + r) * (size_t)t->cols + (size_t)(m->tile_col + j * width);
    double levels[2 * CELL_MAX_SLICES];
    for (int i = 0; i < width; i++)
        levels[i] = tile_cell(t, at + (size_t)i);
    return (int64_t)cell_decode(c->sign, c->slices, c->cell_bits, levels, NULL,
                                quant_qmax(p->arch.weight_bits, true));
}

/* Weight w_q[k, n] of every block of the layer (replicas hold the same). */
static void decode_weights(const Program *p, const TrainedLayer *L, float *w_q)
{
    for (int i = 0; i + 1 < p->n_instrs; i++) {
        const Instr *mvm = &p->instrs[i];
        if (mvm->opcode != INSTR_MVM || !mvm->layer || strcmp(mvm->layer, L->name) != 0)
            continue;
        const CombineParams *c = &p->instrs[i + 1].combine;
        for (int r = 0; r < mvm->mvm.rows; r++)
            for (int j = 0; j < c->n_cols; j++)
                w_q[(mvm->mvm.src_col + r) * L->n + c->n0 + j] = (float)read_code(p, &mvm->mvm, c, r, j);
    }
}

bool finetune_read_weights(const Program *p, const char **layer, int64_t *k, int64_t *n, float **w_q,
                           Arena *arena, Diags *diags)
{
    TrainedLayer L;
    int count;
    if (!finetune_find_layers(p, 1, &L, &count, diags))
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
void finetune_features(const Program *p, const TrainedLayer *L, uint64_t seed, const float *images, int count,
                       uint64_t stream0, float *features, Arena *arena)
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
        sim_set_stream(sim, stream0 + (uint64_t)i);
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

/* The cell coding of a block (FaultMap's first fields). */
static void block_coding(const CombineParams *c, FaultMap *f, int *cells, int *refs)
{
    f->slices = c->slices, f->cell_bits = c->cell_bits;
    f->polarities = cell_polarities(c->sign);
    *cells = c->slices * f->polarities;
    *refs = cell_ref_cols(c->sign, c->slices);
    f->width = *cells + *refs;
}

/* Tile column of cell x of weight column j of a block: its slices, then the
 * block's reference columns (offset mapping). */
static int fault_column(const MvmParams *m, int cells, int refs, int j, int x)
{
    return x < cells ? m->tile_col + j * cells + x : m->tile_col + m->phys_cols - refs + (x - cells);
}

/* The stuck cells of weight column j, row r of a block, as the memory test
 * after programming a chip finds them: a stuck cell reads G_min or G_max
 * whatever is written.  levels[x]: the level cell x is stuck at (effective,
 * (G - G_min) / dG, as the simulator counts it), or -1.  True if any. */
static bool probe_weight(const Program *p, const Noise *noise, const MvmParams *m, int cells, int refs, int width,
                         int r, int j, float *levels)
{
    const Tile *t = &p->tiles[m->tile];
    int top = (1 << p->arch.cell_bits) - 1;
    bool any = false;
    for (int x = 0; x < width; x++) {
        int col = fault_column(m, cells, refs, j, x);
        double g0, g0_now, g1, g1_now;
        noise_cell(noise, m->tile, m->tile_row + r, col, 0, t->rows, t->cols, &g0, &g0_now);
        noise_cell(noise, m->tile, m->tile_row + r, col, top, t->rows, t->cols, &g1, &g1_now);
        levels[x] = g0_now == g1_now ? (float)((g0_now - p->arch.g_min_us) / noise->level_us) : -1;
        any |= levels[x] >= 0;
    }
    return any;
}

static bool has_faults(const Arch *a)
{
    return a->sa0_fraction > 0 || a->sa1_fraction > 0;
}

/* The stuck cells of the layer's blocks that compute an image's one row (of
 * a replicated layer, the copy whose row range holds row 0), and what every
 * code of their weights reads as (FaultMap, finetune_net.h).  The programming
 * variation is not read: a new write draws it anew. */
static void find_stuck_cells(const Program *p, const TrainedLayer *L, uint64_t seed, FaultMap *f, Arena *arena)
{
    memset(f, 0, sizeof *f);
    const Noise *noise = noise_new(arena, &p->arch, seed);
    if (!noise || !has_faults(&p->arch))
        return;
    int64_t cap = 0;
    for (int i = 0; i + 1 < p->n_instrs; i++) {
        const Instr *mvm = &p->instrs[i];
        if (mvm->opcode != INSTR_MVM || !mvm->layer || strcmp(mvm->layer, L->name) != 0 ||
            mvm->mvm.row_begin > 0 || mvm->mvm.row_end <= 0)
            continue;
        const MvmParams *m = &mvm->mvm;
        const CombineParams *c = &p->instrs[i + 1].combine;
        int cells, refs;
        block_coding(c, f, &cells, &refs);
        float levels[48];       /* weight_bits <= 16: at most 32 cells and 16 references */
        for (int r = 0; r < m->rows; r++) {
            for (int j = 0; j < c->n_cols; j++) {
                if (!probe_weight(p, noise, m, cells, refs, f->width, r, j, levels))
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
    fault_table(f, quant_qmax(p->arch.weight_bits, true), arena);
}

/* Rewrites the levels of every weight with a stuck cell in the blocks of
 * `layer` (NULL: of every crossbar layer), every replica, so that the chip
 * reads it as close to its code as the stuck cells allow (fault_fit): the
 * code decoded from the levels written, the cells set anew around the stuck
 * ones.  Returns the weights rewritten; touched[tile] is set for the tiles. */
static int64_t encode_around_faults(Program *p, const char *layer, uint64_t seed, bool *touched, Arena *arena)
{
    const Noise *noise = noise_new(arena, &p->arch, seed);
    if (!noise || !has_faults(&p->arch) || p->float_weights)
        return 0;
    int32_t qmax = quant_qmax(p->arch.weight_bits, true);
    int64_t rewritten = 0;
    for (int i = 0; i + 1 < p->n_instrs; i++) {
        const Instr *mvm = &p->instrs[i];
        if (mvm->opcode != INSTR_MVM || mvm->mvm.float_mode || !mvm->layer ||
            (layer && strcmp(mvm->layer, layer) != 0) || p->instrs[i + 1].opcode != INSTR_COMBINE)
            continue;
        const MvmParams *m = &mvm->mvm;
        const CombineParams *c = &p->instrs[i + 1].combine;
        Tile *t = &p->tiles[m->tile];
        if (t->packed)
            tile_unpack(p->arena, t);   /* rewritten below: a byte a cell */
        if (!t->levels)
            continue;
        FaultMap f = {0};
        int cells, refs, a[16], b[16];
        block_coding(c, &f, &cells, &refs);
        float levels[48];
        for (int r = 0; r < m->rows; r++) {
            for (int j = 0; j < c->n_cols; j++) {
                if (!probe_weight(p, noise, m, cells, refs, f.width, r, j, levels))
                    continue;
                uint8_t *row = t->levels + (size_t)(m->tile_row + r) * (size_t)t->cols;
                int64_t w = read_code(p, m, c, r, j);
                w = w < -qmax ? -qmax : w > qmax ? qmax : w;
                fault_fit(&f, levels, (int32_t)w, qmax, a, b);
                for (int s = 0; s < f.slices; s++) {
                    row[fault_column(m, cells, refs, j, f.polarities * s)] = (uint8_t)a[s];
                    if (f.polarities == 2)
                        row[fault_column(m, cells, refs, j, 2 * s + 1)] = (uint8_t)b[s];
                }
                rewritten++;
                touched[m->tile] = true;
            }
        }
    }
    return rewritten;
}

/* ---- reprogramming ---- */

/* One more write of every touched tile (Tile.writes): the chip draws the
 * programming variation of its cells anew (docs/noise.md 2).  Clears touched. */
static void count_writes(Program *p, bool *touched)
{
    for (int t = 0; t < p->n_tiles; t++) {
        p->tiles[t].writes += touched[t];
        touched[t] = false;
    }
}

/* The dequant's new out_scale and bias.  The bias buffer is replaced in
 * place when only this dequant reads it, else (or when there is none) the
 * layer gets a constant buffer of its own. */
void finetune_set_dequant(Program *p, const TrainedLayer *L, const float *w_scale, const NetLayer *m)
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
    int old = dq->src[1];
    if (old >= 0 && readers(p, old) == 1 && p->buffers[old].kind == BUF_CONST) {
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

/* A layer's float weights and bias from what is programmed: its levels
 * decoded to w_q, times w_scale = out_scale / in_scale; old_q gets w_q. */
void finetune_layer_weights(const Program *p, const TrainedLayer *L, NetLayer *m, float *old_q)
{
    decode_weights(p, L, old_q);
    const QuantParams *q = &p->instrs[L->quant].quant;
    const float *out_scale = p->instrs[L->dequant].dequant.out_scale;
    int bias_buffer = p->instrs[L->dequant].src[1];
    const float *bias = bias_buffer >= 0 ? p->buffers[bias_buffer].data : NULL;
    for (int64_t n = 0; n < L->n; n++) {
        double w_scale = (double)out_scale[n] / q->scale;
        for (int64_t k = 0; k < L->k; k++)
            m->w[k * L->n + n] = old_q[k * L->n + n] * w_scale;
        m->b[n] = bias ? bias[n] : 0;
    }
    m->in_scale = q->scale;
    m->in_hi = quant_qmax(q->bits, q->is_signed);
    m->in_lo = q->is_signed ? -m->in_hi : 0;
    m->relu = L->relu;
}

bool finetune_program(Program *p, uint64_t seed, const float *images, const int32_t *labels, int count,
                      const FinetuneOptions *options, FinetuneReport *report, Diags *diags)
{
    memset(report, 0, sizeof *report);
    TrainedLayer L[FINETUNE_MAX_LAYERS];
    int n_layers;
    int want = options->layers > 0 ? options->layers : FINETUNE_LAYERS_FC;
    if (want > FINETUNE_MAX_LAYERS) {
        Loc loc = {0};
        diag_error(diags, &loc, "fine-tuning: at most %d layers are retrained, not %d", FINETUNE_MAX_LAYERS, want);
        return false;
    }
    if (!finetune_find_layers(p, want, L, &n_layers, diags))
        return false;
    const TrainedLayer *first = &L[0], *last = &L[n_layers - 1];
    NetTraining t = {.epochs = options->epochs > 0 ? options->epochs : FINETUNE_EPOCHS,
                     .batch = options->batch > 0 ? options->batch : FINETUNE_BATCH,
                     .learning_rate = options->learning_rate > 0 ? options->learning_rate : FINETUNE_LEARNING_RATE};
    for (int i = 0; i < count; i++) {
        if (labels[i] >= last->n) {
            Loc loc = {0};
            diag_error(diags, &loc, "fine-tuning layer %s: training image %d has label %d, but the layer has %lld "
                       "outputs", last->name, i, labels[i], (long long)last->n);
            return false;
        }
    }
    report->n_layers = n_layers;
    for (int i = 0; i < n_layers; i++)
        report->layers[i] = L[i].name;
    report->layer = last->name;
    report->features = first->k;
    report->classes = last->n;
    report->images = count;

    Arena *arena = arena_new();
    bool *touched = arena_array(arena, (size_t)p->n_tiles + 1, sizeof(bool));
    if (options->reencode) {
        report->reencoded += encode_around_faults(p, NULL, seed, touched, arena);
        count_writes(p, touched);
    }
    Net net = {.n_layers = n_layers, .layers = arena_array(arena, (size_t)n_layers, sizeof(NetLayer)),
               .arch = &p->arch};
    float **old_q = arena_array(arena, (size_t)n_layers, sizeof(float *));
    for (int i = 0; i < n_layers; i++) {
        NetLayer *m = &net.layers[i];
        size_t n_w = (size_t)(L[i].k * L[i].n);
        *m = (NetLayer){.k = L[i].k, .n = L[i].n, .w = arena_array(arena, n_w, sizeof(double)),
                        .b = arena_array(arena, (size_t)L[i].n, sizeof(double))};
        old_q[i] = arena_array(arena, n_w, sizeof(float));
        finetune_layer_weights(p, &L[i], m, old_q[i]);
        FaultMap *faults = arena_alloc(arena, sizeof *faults);
        find_stuck_cells(p, &L[i], seed, faults, arena);
        m->faults = options->plain ? NULL : faults;
        report->weights += (int64_t)n_w;
        report->stuck_weights += faults->count;
    }

    float *features = arena_array(arena, (size_t)count * (size_t)first->k, sizeof(float));
    finetune_features(p, first, seed, images, count, FINETUNE_TRAIN_STREAM, features, arena);
    net_effective(&net, arena);
    net_evaluate(&net, features, labels, count, &report->train_before, &report->loss_before, arena);
    net_train(&net, features, labels, count, &t, seed, arena);
    net_evaluate(&net, features, labels, count, &report->train_after, &report->loss_after, arena);

    bool ok = true;
    for (int i = 0; i < n_layers && ok; i++) {
        const NetLayer *m = &net.layers[i];
        size_t n_w = (size_t)(m->k * m->n);
        float *new_q = arena_array(arena, n_w, sizeof(float));
        float *w_scale = arena_array(arena, (size_t)m->n, sizeof(float));
        net_quantize(m, &p->arch, new_q, w_scale);
        for (size_t j = 0; j < n_w; j++)
            report->weights_changed += new_q[j] != old_q[i][j];
        ok = emit_reprogram_layer(p, L[i].name, new_q, 1, m->k, m->n, diags);
        if (ok && !options->plain)
            report->reencoded += encode_around_faults(p, L[i].name, seed, touched, arena);
        if (ok)
            finetune_set_dequant(p, &L[i], w_scale, m);
        for (int j = 0; ok && j < p->n_instrs; j++) {
            const Instr *in = &p->instrs[j];
            if (in->opcode == INSTR_MVM && in->layer && strcmp(in->layer, L[i].name) == 0)
                touched[in->mvm.tile] = true;
        }
    }
    if (ok) {
        count_writes(p, touched);
        /* The program now reads this chip best: it says so (xbarc explain). */
        p->tuned = true;
        p->tuned_seed = seed;
        p->tuned_chip = noise_describe(p->arena, &p->arch);
    }
    arena_free(arena);
    return ok;
}

double finetune_accuracy(const Program *p, uint64_t seed, const float *images, const int32_t *labels, int count)
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
