/* timing.c: how long the reads and the digital work of a placement take, and
 * what it costs in tiles (passes/pack.h, passes/mapping.h; docs/mapping.md
 * "Timing", docs/perf.md 3).
 *
 * The one stage-time model of xbarc, used by the packer, the replication
 * search, the mapping report and the performance model (backend/perf.c).  A
 * step is one read of a tile with one DAC cycle of inputs; it takes read_ns
 * plus a conversion time for each conversion the block's busiest shared ADC
 * makes.  A block reads each of its input vectors in `cycles` steps, so its
 * work per run is (its copy's vectors) x the time of a vector.  Blocks of one
 * tile that share a row, or a group of cols_per_adc columns (one ADC), cannot
 * be read together: they take turns, and each one's period is its own work
 * plus the work of every block it conflicts with (a conservative round: the
 * tile serves them one after another).  Blocks on disjoint rows and ADC
 * groups read in the same step, and tiles work in parallel.  A crossbar
 * layer's digital work (quant, combine, dequant) and that of the digital-only
 * ops after it run on the digital units of the layer's copies, each copy its
 * share.  A stage is the larger of a layer's crossbar time (its slowest
 * block's period) and its digital time, or a digital-only op's time; stages
 * form a pipeline whose throughput is set by the slowest one (the period),
 * and whose latency adds crossbar and digital times of every layer. */
#include "passes/mapping.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the time of a step and of digital work ---- */

TimeModel time_model_default(void)
{
    return (TimeModel){.read_ns = TIME_READ_NS, .conv_ns = 1.0 / TIME_ADC_RATE_GSPS,
                       .digital_gops = TIME_DIGITAL_GOPS};
}

int time_adc_turns(int phys_cols, int tile_col, bool pair_analog, int cols_per_adc)
{
    int per_adc = cols_per_adc > 0 ? cols_per_adc : 1;
    int stride = pair_analog ? 2 : 1;
    int best = 0, group = -1, count = 0;
    for (int j = 0; j < phys_cols; j += stride) {
        int g = (tile_col + j) / per_adc;
        count = g == group ? count + 1 : 1;
        group = g;
        best = count > best ? count : best;
    }
    return best;
}

int64_t time_step_ps(const TimeModel *model, int turns)
{
    return llround((model->read_ns + turns * model->conv_ns) * 1000);
}

int64_t time_digital_ps(const TimeModel *model, double ops)
{
    return ops > 0 ? (int64_t)ceil(ops * 1000 / model->digital_gops - 1e-6) : 0;
}

int64_t time_share(int64_t total, int64_t r)
{
    return r > 1 ? (total + r - 1) / r : total;
}

const char *time_digital_reason(const Op *op)
{
    bool constant = false;
    for (int i = 0; i < op->n_inputs && i < 2; i++)
        constant |= op->inputs[i]->data != NULL;
    return constant ? "left digital" : "products of two activations";
}

void time_op_work(const Op *op, double value_bytes, double *ops, double *bytes)
{
    double out = (double)type_numel(&op->result->type), inputs = 0;
    *ops = *bytes = 0;
    for (int i = 0; i < op->n_inputs; i++)
        inputs += op->inputs[i]->data ? 0 : (double)type_numel(&op->inputs[i]->type);
    const int64_t *v;
    int nk;
    switch (op->kind) {
    case OP_RESHAPE: case OP_FLATTEN: case OP_SQUEEZE: case OP_UNSQUEEZE: case OP_IDENTITY: case OP_DROPOUT:
        return;                             /* a view: no work, no traffic */
    case OP_CONCAT: case OP_TRANSPOSE: case OP_PAD: case OP_DILATE: case OP_SLICE: case OP_TILE:
        *bytes = (inputs + out) * value_bytes;  /* data movement only */
        return;
    case OP_MAXPOOL: case OP_AVGPOOL:
        nk = ir_attr_ints(op, "kernel", &v);
        *ops = out;
        for (int i = 0; i < nk; i++)
            *ops *= (double)v[i];
        break;
    case OP_GLOBALAVGPOOL: case OP_GLOBALMAXPOOL:
        *ops = inputs;
        break;
    case OP_CONV: case OP_CONVTRANSPOSE: case OP_GEMM: case OP_MATMUL:
        *ops = 2 * ir_op_macs(op);        /* not lowered: a multiply and an add a MAC */
        break;
    case OP_RESIZE: {                       /* nearest: a copy; linear: 2^axes taps, cubic 4^axes (two axes) */
        const char *mode = ir_attr(op, "mode") ? ir_attr(op, "mode")->s : "nearest";
        *ops = out * (strcmp(mode, "linear") == 0 ? 4 : strcmp(mode, "cubic") == 0 ? 16 : 1);
        break;
    }
    case OP_GRIDSAMPLE: {                   /* a tap a pixel: nearest 1, bilinear 4, bicubic 16 */
        const char *mode = ir_attr(op, "mode") ? ir_attr(op, "mode")->s : "bilinear";
        *ops = out * (strcmp(mode, "nearest") == 0 ? 1 : strcmp(mode, "bicubic") == 0 ? 16 : 4);
        break;
    }
    case OP_SOFTMAX: case OP_LOGSOFTMAX:
        *ops = 3 * out;                     /* exp, sum, divide */
        break;
    case OP_BATCHNORM:
        *ops = 2 * out;
        break;
    case OP_LAYERNORM: case OP_INSTANCENORM:
        *ops = 5 * out;                     /* mean, variance, normalize, scale, bias */
        break;
    case OP_MAX: case OP_MIN: case OP_SUM: case OP_MEAN:
        *ops = out * (op->n_inputs > 1 ? op->n_inputs - (op->kind != OP_MEAN) : 1);
        break;
    case OP_REDUCEMEAN: case OP_REDUCESUM: case OP_REDUCEMAX: case OP_REDUCEMIN: case OP_REDUCEPROD:
    case OP_REDUCEL1: case OP_REDUCEL2: case OP_REDUCESUMSQUARE: case OP_REDUCELOGSUM:
        *ops = inputs;                      /* each input element folded once */
        break;
    case OP_REDUCELOGSUMEXP:
        *ops = 3 * inputs;                  /* maximum, exp, sum */
        break;
    default:
        *ops = out;                         /* element-wise */
        break;
    }
    *bytes = (inputs + out) * value_bytes;
}

static bool overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    return a0 < b1 && b0 < a1;
}

bool pack_conflict(const PackParams *params, const PackBlock *a, const PackSpot *sa, const PackBlock *b,
                   const PackSpot *sb)
{
    if (sa->tile != sb->tile)
        return false;
    if (overlap(sa->row, sa->row + a->rows, sb->row, sb->row + b->rows))
        return true;
    int per_adc = params->cols_per_adc > 0 ? params->cols_per_adc : 1;
    return overlap(sa->col / per_adc, (sa->col + a->cols - 1) / per_adc + 1, sb->col / per_adc,
                   (sb->col + b->cols - 1) / per_adc + 1);
}

static const PackSpot *sort_spots;

static int by_tile(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_spots[i].tile != sort_spots[j].tile)
        return sort_spots[i].tile < sort_spots[j].tile ? -1 : 1;
    return i - j;
}

void pack_periods(const PackParams *params, const PackBlock *blocks, const PackSpot *spots, int n, int64_t *period)
{
    Arena *scratch = arena_new();
    int *order = arena_array(scratch, (size_t)(n ? n : 1), sizeof(int));
    for (int i = 0; i < n; i++) {
        order[i] = i;
        period[i] = blocks[i].work;
    }
    sort_spots = spots;
    qsort(order, (size_t)n, sizeof(int), by_tile);
    for (int start = 0; start < n;) {
        int end = start;
        while (end < n && spots[order[end]].tile == spots[order[start]].tile)
            end++;
        for (int i = start; i < end; i++)
            for (int j = i + 1; j < end; j++)
                if (pack_conflict(params, &blocks[order[i]], &spots[order[i]], &blocks[order[j]], &spots[order[j]])) {
                    period[order[i]] += blocks[order[j]].work;
                    period[order[j]] += blocks[order[i]].work;
                }
        start = end;
    }
    arena_free(scratch);
}

/* ---- a placed graph ---- */

int64_t mapping_lower_bound(const Graph *g)
{
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    MapBlocks mb;
    int64_t cells = 0, bound = 0;
    if (mapping_blocks(arena, g, "lower bound", &mb, &diags)) {
        for (int l = 0; l < mb.n_layers; l++)
            cells += mb.layers[l].cells * mb.layers[l].replicas;
        int64_t tile = (int64_t)mb.arch->rows * mb.arch->cols;
        bound = (cells + tile - 1) / tile;
    }
    arena_free(arena);
    return bound;
}

/* The copies of a layer that do digital work: those with input vectors
 * (copies beyond P have none, docs/crossbar.md 6). */
static int64_t busy_copies(const MapLayer *L)
{
    int64_t most = L->vectors > 1 ? L->vectors : 1;
    return L->replicas < most ? L->replicas : most;
}

int64_t mapping_period_free(const MapBlocks *mb)
{
    int64_t period = mb->head_ps;
    for (int l = 0; l < mb->n_layers; l++) {
        const MapLayer *L = &mb->layers[l];
        int64_t t = time_share(L->digital_ps > L->tail_ps ? L->digital_ps : L->tail_ps, busy_copies(L));
        for (int64_t b = L->first_block; b < L->first_block + L->replicas * L->n_blocks; b++)
            t = mb->blocks[b].work > t ? mb->blocks[b].work : t;
        period = t > period ? t : period;
    }
    return period;
}

/* The slowest stage so far, the first of equals in program order. */
static void consider(MappingStats *s, int64_t t, const Op *op, bool digital)
{
    if (op && (!s->bottleneck || t > s->period)) {
        s->period = t;
        s->bottleneck = op;
        s->bottleneck_digital = digital;
    }
}

bool mapping_stats(Arena *arena, const Graph *g, MappingStats *s, Diags *diags)
{
    memset(s, 0, sizeof *s);
    MapBlocks mb;
    if (!mapping_blocks(arena, g, "mapping stats", &mb, diags))
        return false;
    const Arch *arch = mb.arch;
    PackSpot *spots = arena_array(arena, (size_t)mb.n_blocks + 1, sizeof(PackSpot));
    for (int l = 0; l < mb.n_layers; l++) {
        const MapLayer *L = &mb.layers[l];
        const Attr *place = mapping_need(L->op, "mapping stats", "place", ATTR_INTS, diags);
        int64_t blocks = L->replicas * L->n_blocks;
        if (!place)
            return false;
        if (place->count != 3 * blocks) {
            diag_error(diags, &L->op->loc, "mapping stats: xbar %%%s has %lld blocks but 'place' holds %d values "
                       "(rerun place)", ir_name_text(diags->arena, L->op->result->name), (long long)blocks,
                       place->count);
            return false;
        }
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t *v = &place->ints[3 * b];
            if (v[0] < 0 || v[0] > 4 * (int64_t)mb.n_blocks + 1024 || v[1] < 0 || v[2] < 0 || v[1] > arch->rows ||
                v[2] > arch->cols) {
                diag_error(diags, &L->op->loc, "mapping stats: xbar %%%s: block %lld is placed at tile %lld (%lld, "
                           "%lld), outside the tiles a placement uses (rerun place)",
                           ir_name_text(diags->arena, L->op->result->name), (long long)b, (long long)v[0],
                           (long long)v[1], (long long)v[2]);
                return false;
            }
            spots[L->first_block + b] = (PackSpot){v[0], (int)v[1], (int)v[2]};
        }
    }
    PackParams params = {.rows = arch->rows, .cols = arch->cols, .cols_per_adc = arch->cols_per_adc,
                         .stage_floor = mb.head_ps};
    int64_t *period = arena_array(arena, (size_t)mb.n_blocks + 1, sizeof(int64_t));
    pack_periods(&params, mb.blocks, spots, mb.n_blocks, period);

    /* Tiles in use, overall and per layer (a tile counts once per layer). */
    int64_t max_tile = -1;
    for (int b = 0; b < mb.n_blocks; b++)
        max_tile = spots[b].tile > max_tile ? spots[b].tile : max_tile;
    int *seen = arena_array(arena, (size_t)(max_tile + 2), sizeof(int));   /* last layer + 1 seen on it */
    bool *used = arena_array(arena, (size_t)(max_tile + 2), sizeof(bool));

    s->n_layers = mb.n_layers;
    s->images_per_run = mb.images_per_run;
    s->ops = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(Op *));
    s->replicas = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    s->stage = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    s->stage_free = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    s->xbar = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    s->layer_tiles = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    s->layer_cells = arena_array(arena, (size_t)mb.n_layers + 1, sizeof(int64_t));
    /* Stages in program order: the digital ops before the first layer, then
     * each layer (crossbar and its own digital work) and the digital-only
     * ops after it, on its copies' units. */
    consider(s, mb.head_ps, mb.head_op, true);
    s->period_free = s->period_single = mb.head_ps;
    s->latency = s->latency_free = mb.head_sum_ps;
    for (int l = 0; l < mb.n_layers; l++) {
        const MapLayer *L = &mb.layers[l];
        s->ops[l] = L->op;
        s->replicas[l] = L->replicas;
        s->layer_cells[l] = L->cells * L->replicas;
        s->cells += s->layer_cells[l];
        s->blocks += L->replicas * L->n_blocks;
        int64_t free = 0;
        for (int64_t b = L->first_block; b < L->first_block + L->replicas * L->n_blocks; b++) {
            const PackSpot *sp = &spots[b];
            if (sp->tile >= 0 && seen[sp->tile] != l + 1) {
                seen[sp->tile] = l + 1;
                s->layer_tiles[l]++;
            }
            if (sp->tile >= 0 && !used[sp->tile]) {
                used[sp->tile] = true;
                s->tiles++;
            }
            s->xbar[l] = period[b] > s->xbar[l] ? period[b] : s->xbar[l];
            free = mb.blocks[b].work > free ? mb.blocks[b].work : free;
        }
        int64_t digital = time_share(L->digital_ps, busy_copies(L)), tail = time_share(L->tail_ps, busy_copies(L));
        s->stage[l] = s->xbar[l] > digital ? s->xbar[l] : digital;
        s->stage_free[l] = free > digital ? free : digital;
        consider(s, s->stage[l], L->op, digital > s->xbar[l]);
        consider(s, tail, L->tail_op, true);
        int64_t single = L->vectors * L->vector_ps;
        single = single > L->digital_ps ? single : L->digital_ps;
        single = single > L->tail_ps ? single : L->tail_ps;
        s->period_single = single > s->period_single ? single : s->period_single;
        int64_t free_stage = s->stage_free[l] > tail ? s->stage_free[l] : tail;
        s->period_free = free_stage > s->period_free ? free_stage : s->period_free;
        /* the tail's ops one after another (a picosecond per op of rounding apart) */
        int64_t tail_sum = time_share(L->tail_sum_ps, busy_copies(L));
        s->latency += s->xbar[l] + digital + tail_sum;
        s->latency_free += free + digital + tail_sum;
    }
    if (arch->tiles > 0) {
        ReplLayer *rl = mapping_repl_layers(arena, &mb);
        s->period_bound = repl_turn_bound(arena, &params, rl, mb.n_layers, arch->tiles);
        s->speedup_bound = s->period_bound > 0 ? (double)s->period_single / (double)s->period_bound : 0.0;
    }
    int64_t tile_cells = (int64_t)arch->rows * arch->cols;
    s->lower_bound = (s->cells + tile_cells - 1) / tile_cells;
    s->utilization = s->tiles ? (double)s->cells / ((double)s->tiles * (double)tile_cells) : 0.0;
    s->speedup = s->period_free ? (double)s->period_single / (double)s->period_free : 1.0;
    s->speedup_placed = s->period ? (double)s->period_single / (double)s->period : 1.0;
    s->images_per_s = s->period ? 1e12 * (double)s->images_per_run / (double)s->period : 0.0;
    return true;
}
