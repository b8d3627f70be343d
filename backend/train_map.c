/* train_map.c: the training mapping, and what in-memory training adds to a
 * program in tiles, area and time (docs/train-mapping.md).
 *
 * The mapping is architecture fields (train_mapping_arch): the passes
 * sign-map, bit-slice and split then do what they always do.  The costs read
 * the program alone, so that `xbarc compile --report` and the training
 * engine's cost model get the same figures: the blocks of the trained layers
 * (distinct tile positions of their mvm instructions), the forward times of
 * the performance model, and two more uses of the one timing model of
 * passes/timing.c: the backward pass reads the same blocks transposed (the
 * columns driven, the rows converted by ADCs on the other side of the
 * array), and the update drives every row and column of a block for BL pulse
 * slots, so blocks of a tile that share a row or a column take turns. */
#include "backend/backend.h"
#include "passes/pack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the mapping ---- */

static const char *const mapping_names[] = {
    [TRAIN_MAP_NONE] = "none", [TRAIN_MAP_DEVICE] = "device", [TRAIN_MAP_PAIR] = "pair", [TRAIN_MAP_SPLIT] = "split",
};
static const char *const algorithm_names[] = {[TRAIN_SGD] = "sgd", [TRAIN_MIXED] = "mixed", [TRAIN_TTV2] = "ttv2"};

bool train_mapping_from_name(const char *name, TrainMapping *mapping)
{
    for (int i = TRAIN_MAP_DEVICE; i <= TRAIN_MAP_SPLIT; i++)
        if (strcmp(name, mapping_names[i]) == 0)
            return *mapping = (TrainMapping)i, true;
    return false;
}

const char *train_mapping_name(TrainMapping mapping)
{
    return mapping >= TRAIN_MAP_NONE && mapping <= TRAIN_MAP_SPLIT ? mapping_names[mapping] : "?";
}

bool train_algorithm_from_name(const char *name, TrainAlgorithm *algorithm)
{
    for (int i = TRAIN_SGD; i <= TRAIN_TTV2; i++)
        if (strcmp(name, algorithm_names[i]) == 0)
            return *algorithm = (TrainAlgorithm)i, true;
    return false;
}

const char *train_algorithm_name(TrainAlgorithm algorithm)
{
    return algorithm >= TRAIN_SGD && algorithm <= TRAIN_TTV2 ? algorithm_names[algorithm] : "?";
}

/* The most bits a cell may store (docs/arch.md: cell_bits 1 to 8). */
enum { TRAIN_CELL_BITS_MAX = 8 };

const char *train_mapping_arch(TrainMapping mapping, Arch *arch, Arena *arena)
{
    int magnitude = arch->weight_bits - 1, bits = 0;    /* a pair's magnitude bits */
    SignMapping pair = arch->sign == SIGN_OFFSET ? SIGN_PAIR_ANALOG : arch->sign;
    switch (mapping) {
    case TRAIN_MAP_NONE:
        return NULL;
    case TRAIN_MAP_DEVICE:      /* offset: w + qmax in [0, 2 qmax] needs weight_bits */
        bits = arch->weight_bits;
        break;
    case TRAIN_MAP_PAIR:
        bits = magnitude;
        break;
    case TRAIN_MAP_SPLIT:
        if (magnitude < 2) {
            return arena_printf(arena, "the split needs two magnitude bits, one for each device; weight_bits %d "
                                "has %d (raise weight_bits to 3 or more)", arch->weight_bits, magnitude);
        }
        bits = (magnitude + 1) / 2;
        break;
    }
    if (bits > TRAIN_CELL_BITS_MAX) {
        return arena_printf(arena, "one %s per weight of weight_bits %d needs cells of %d bits, more than the %d "
                            "a cell may store (cell_bits); lower weight_bits to %d",
                            mapping == TRAIN_MAP_DEVICE ? "device" : "pair", arch->weight_bits, bits,
                            TRAIN_CELL_BITS_MAX, mapping == TRAIN_MAP_DEVICE ? TRAIN_CELL_BITS_MAX : TRAIN_CELL_BITS_MAX + 1);
    }
    arch->cell_bits = bits;
    arch->sign = mapping == TRAIN_MAP_DEVICE ? SIGN_OFFSET : pair;
    return NULL;
}

TrainMapping train_mapping_of(const Program *p, const char *layer)
{
    for (int k = 0; k < p->n_instrs; k++) {
        const Instr *in = &p->instrs[k];
        if (in->opcode != INSTR_COMBINE || !in->layer || strcmp(in->layer, layer) != 0)
            continue;
        const CombineParams *c = &in->combine;
        if (c->float_mode || c->slices > 2)
            return TRAIN_MAP_NONE;
        if (c->sign == SIGN_OFFSET)
            return c->slices == 1 ? TRAIN_MAP_DEVICE : TRAIN_MAP_NONE;
        return c->slices == 1 ? TRAIN_MAP_PAIR : TRAIN_MAP_SPLIT;
    }
    return TRAIN_MAP_NONE;
}

/* ---- the trained layers ---- */

static bool layer_has(const Program *p, const char *layer, Opcode opcode)
{
    for (int k = 0; k < p->n_instrs; k++)
        if (p->instrs[k].opcode == opcode && p->instrs[k].layer && strcmp(p->instrs[k].layer, layer) == 0)
            return true;
    return false;
}

/* The crossbar layers (those with mvm instructions), in program order. */
static int crossbar_layers(Arena *arena, const Program *p, const char ***names)
{
    int n = 0;
    *names = arena_array(arena, (size_t)p->n_instrs + 1, sizeof(char *));
    for (int k = 0; k < p->n_instrs; k++) {
        const char *name = p->instrs[k].layer;
        if (p->instrs[k].opcode != INSTR_MVM || !name || (n && strcmp((*names)[n - 1], name) == 0))
            continue;
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = strcmp((*names)[i], name) == 0;
        if (!seen)
            (*names)[n++] = name;
    }
    return n;
}

/* The request's layers, or the trailing fully connected ones (after the
 * last layer with an im2col). */
static int trained_layers(Arena *arena, const Program *p, const TrainMapRequest *request, const char ***out,
                          Diags *diags)
{
    const char **all;
    int n_all = crossbar_layers(arena, p, &all), n = 0;
    *out = arena_array(arena, (size_t)n_all + 1, sizeof(char *));
    if (!request->n_layers) {
        int first = 0;
        for (int i = 0; i < n_all; i++)
            first = layer_has(p, all[i], INSTR_IM2COL) ? i + 1 : first;
        for (int i = first; i < n_all; i++)
            (*out)[n++] = all[i];
        if (!n)
            diag_error(diags, NULL, "training: the program has no fully connected crossbar layer after its last "
                       "convolution; name the layers to train");
        return n;
    }
    for (int i = 0; i < n_all; i++) {         /* program order, whatever the request's */
        for (int j = 0; j < request->n_layers; j++)
            if (strcmp(request->layers[j], all[i]) == 0) {
                (*out)[n++] = all[i];
                break;
            }
    }
    for (int j = 0; j < request->n_layers; j++) {
        bool found = false;
        for (int i = 0; i < n_all && !found; i++)
            found = strcmp(request->layers[j], all[i]) == 0;
        if (!found) {
            diag_error(diags, NULL, "training: no crossbar layer is named '%s' (the names of the mapping report, "
                       "xbarc compile --report)", request->layers[j]);
            return 0;
        }
    }
    return n;
}

/* One block of a layer: where its mvms read, and what one image reads. */
typedef struct {
    int tile, row, col, rows, cols;
    int fwd_turns;              /* the forward read's busiest ADC */
    double vectors;             /* input vectors per image */
} TrainBlock;

static int block_order(const void *a, const void *b)
{
    const TrainBlock *x = a, *y = b;
    if (x->tile != y->tile)
        return x->tile < y->tile ? -1 : 1;
    if (x->row != y->row)
        return x->row < y->row ? -1 : 1;
    return (x->col > y->col) - (x->col < y->col);
}

/* The layer's distinct blocks, sorted by tile; *slices from its combines. */
static int layer_blocks(Arena *arena, const Program *p, const char *layer, TrainBlock **out, int *slices)
{
    int n = 0;
    double per_run = (double)perf_images_per_run(p);
    TrainBlock *b = *out = arena_array(arena, (size_t)p->n_instrs + 1, sizeof(TrainBlock));
    *slices = 1;
    for (int k = 0; k < p->n_instrs; k++) {
        const Instr *in = &p->instrs[k];
        if (!in->layer || strcmp(in->layer, layer) != 0)
            continue;
        if (in->opcode == INSTR_COMBINE)
            *slices = in->combine.slices;
        if (in->opcode != INSTR_MVM)
            continue;
        const MvmParams *m = &in->mvm;
        b[n++] = (TrainBlock){m->tile, m->tile_row, m->tile_col, m->rows, m->phys_cols,
                              time_adc_turns(m->phys_cols, m->tile_col, m->sign == SIGN_PAIR_ANALOG,
                                             p->arch.cols_per_adc),
                              (double)(m->row_end - m->row_begin) / per_run};
    }
    qsort(b, (size_t)n, sizeof *b, block_order);
    int unique = 0;
    for (int i = 0; i < n; i++) {
        if (unique && block_order(&b[unique - 1], &b[i]) == 0) {
            b[unique - 1].vectors += b[i].vectors;     /* one block read by two mvms */
            continue;
        }
        b[unique++] = b[i];
    }
    return unique;
}

/* The longest period of n blocks doing `work` ps each (per block) where
 * `params` says which take turns; `transpose` swaps rows and columns. */
static double longest_period_ns(Arena *arena, const PackParams *params, const TrainBlock *b, int n,
                                const int64_t *work, bool transpose)
{
    PackBlock *blocks = arena_array(arena, (size_t)n + 1, sizeof(PackBlock));
    PackSpot *spots = arena_array(arena, (size_t)n + 1, sizeof(PackSpot));
    int64_t *period = arena_array(arena, (size_t)n + 1, sizeof(int64_t)), most = 0;
    for (int i = 0; i < n; i++) {
        blocks[i] = (PackBlock){.rows = transpose ? b[i].cols : b[i].rows, .cols = transpose ? b[i].rows : b[i].cols,
                                .work = work[i]};
        spots[i] = (PackSpot){.tile = b[i].tile, .row = transpose ? b[i].col : b[i].row,
                              .col = transpose ? b[i].row : b[i].col};
    }
    pack_periods(params, blocks, spots, n, period);
    for (int i = 0; i < n; i++)
        most = period[i] > most ? period[i] : most;
    return (double)most / 1000;
}

/* Read steps of one error vector in the transposed read: the error codes
 * are signed at the architecture's input_bits (two passes of
 * ceil((input_bits - 1) / dac_bits) cycles, docs/crossbar.md 4), and each
 * slice is read on its own (its columns driven, the others not) and
 * recombined digitally. */
static int64_t backward_steps(const Arch *arch, int slices)
{
    int64_t magnitude = arch->input_bits - 1, dac = arch->dac_bits > 0 ? arch->dac_bits : 1;
    int64_t cycles = (magnitude + dac - 1) / dac;
    return (int64_t)slices * 2 * (cycles > 0 ? cycles : 1);
}

static const PerfLayer *perf_layer(const PerfReport *perf, const char *name)
{
    for (int l = 0; l < perf->n_layers; l++)
        if (strcmp(perf->layers[l].name, name) == 0)
            return &perf->layers[l];
    return NULL;
}

static void cost_layer(Arena *arena, const Program *p, const PerfParams *params, const PerfReport *perf,
                       const TrainMapRequest *request, const char *name, bool first, TrainMapLayer *L)
{
    const Arch *arch = &p->arch;
    TrainBlock *b;
    int slices, n = layer_blocks(arena, p, name, &b, &slices);
    memset(L, 0, sizeof *L);
    L->name = name;
    L->mapping = train_mapping_of(p, name);
    L->blocks = n;
    for (int i = 0; i < n; i++) {
        L->tiles += i == 0 || b[i].tile != b[i - 1].tile;
        L->cells += (int64_t)b[i].rows * b[i].cols;
    }
    for (int k = 0; k < p->n_instrs; k++) {     /* G*K inputs and G*N weight columns */
        const Instr *in = &p->instrs[k];
        if (!in->layer || strcmp(in->layer, name) != 0)
            continue;
        if (in->opcode == INSTR_MVM && in->mvm.src_col + in->mvm.rows > L->k)
            L->k = in->mvm.src_col + in->mvm.rows;
        if (in->opcode == INSTR_COMBINE && (int64_t)(in->combine.group + 1) * in->combine.n_per_group > L->n)
            L->n = (int64_t)(in->combine.group + 1) * in->combine.n_per_group;
    }
    bool ttv2 = request->algorithm == TRAIN_TTV2, buffered = ttv2 || request->algorithm == TRAIN_MIXED;
    L->fast_tiles = ttv2 ? L->tiles : 0;
    L->fast_cells = ttv2 ? L->cells : L->mapping == TRAIN_MAP_SPLIT ? L->cells / 2 : 0;
    L->buffer_bytes = buffered ? (double)L->k * (double)L->n * params->train_buffer_bytes : 0;
    const PerfLayer *f = perf_layer(perf, name);
    L->forward_ns = f ? f->xbar_ns + f->digital_ns : 0;

    /* backward: the transposed read; its ADCs convert rows, cols_per_adc of them each */
    int64_t *work = arena_array(arena, (size_t)n + 1, sizeof(int64_t));
    PackParams transposed = {.rows = arch->cols, .cols = arch->rows, .cols_per_adc = arch->cols_per_adc};
    double conv_ns = perf_adc_ns(params, arch->adc_bits);
    for (int i = 0; i < n; i++) {
        int turns = time_adc_turns(b[i].rows, b[i].row, false, arch->cols_per_adc);
        work[i] = llround(b[i].vectors * (double)backward_steps(arch, slices) * (params->read_ns + turns * conv_ns) *
                          1000);
    }
    L->backward_ns = first ? 0 : longest_period_ns(arena, &transposed, b, n, work, true);

    /* update: BL pulse slots on every row and column of a block at once */
    PackParams lines = {.rows = arch->rows, .cols = arch->cols, .cols_per_adc = 1};
    double read_step_ns = 0;
    for (int i = 0; i < n; i++) {
        work[i] = llround(request->bl * request->pulse_ns * 1000);
        read_step_ns = fmax(read_step_ns, params->read_ns + b[i].fwd_turns * conv_ns);
    }
    L->update_ns = longest_period_ns(arena, &lines, b, n, work, false);
    double weights = (double)L->k * (double)L->n;
    if (request->algorithm == TRAIN_MIXED)      /* chi += x delta: a multiply and an add a weight */
        L->update_ns += 2 * weights / params->digital_gops;
    if (ttv2)       /* one transfer a step: a column of A read (one step), H += it, one pulse slot on C */
        L->update_ns += read_step_ns + (double)L->n / params->digital_gops + request->pulse_ns;
}

bool train_map(Arena *arena, const Program *p, const PerfParams *params, const TrainMapRequest *request,
               TrainMap *out, Diags *diags)
{
    memset(out, 0, sizeof *out);
    if (request->bl < 1) {
        diag_error(diags, NULL, "training: the update's pulse slots (BL) must be at least 1, not %d", request->bl);
        return false;
    }
    if (!(request->pulse_ns > 0) || !isfinite(request->pulse_ns)) {
        diag_error(diags, NULL, "training: the pulse time must be above 0 ns, not %g", request->pulse_ns);
        return false;
    }
    if (p->float_weights) {
        diag_error(diags, NULL, "training: a float-weight program has no devices to train");
        return false;
    }
    const char **names;
    int n = trained_layers(arena, p, request, &names, diags);
    if (!n)
        return false;
    PerfReport perf;
    perf_model(arena, p, params, NULL, 1, &perf);
    const Arch *arch = &p->arch;
    out->algorithm = request->algorithm;
    out->bl = request->bl;
    out->pulse_ns = request->pulse_ns;
    out->n_layers = n;
    out->layers = arena_array(arena, (size_t)n, sizeof(TrainMapLayer));
    out->tiles = p->n_tiles;
    out->area_mm2 = perf.area_mm2;
    out->forward_ns = perf.latency_ns;
    for (int l = 0; l < n; l++) {
        TrainMapLayer *L = &out->layers[l];
        cost_layer(arena, p, params, &perf, request, names[l], l == 0, L);
        out->fast_cells += L->fast_cells;
        out->buffer_bytes += L->buffer_bytes;
        out->period_ns = fmax(out->period_ns, L->forward_ns + L->backward_ns + L->update_ns);
    }
    /* the other layers' forward stages pipeline as in inference */
    for (int l = 0; l < perf.n_layers; l++)
        out->period_ns = fmax(out->period_ns, perf.layers[l].stage_ns);
    /* one step: the backward reads from the last trained layer down, each
     * layer's update as soon as its own backward read is done */
    double t = out->forward_ns;
    for (int l = n - 1; l >= 0; l--) {
        t += out->layers[l].backward_ns;
        out->step_ns = fmax(out->step_ns, t + out->layers[l].update_ns);
    }

    /* tiles holding trained blocks, each once */
    uint8_t *trained = arena_alloc(arena, (size_t)p->n_tiles + 1);
    for (int k = 0; k < p->n_instrs; k++) {
        const Instr *in = &p->instrs[k];
        for (int l = 0; in->opcode == INSTR_MVM && in->layer && l < n; l++)
            if (strcmp(in->layer, names[l]) == 0 && in->mvm.tile >= 0 && in->mvm.tile < p->n_tiles &&
                !trained[in->mvm.tile]) {
                trained[in->mvm.tile] = 1;
                out->trained_tiles++;
            }
    }
    out->extra_tiles = request->algorithm == TRAIN_TTV2 ? out->trained_tiles : 0;
    int per_adc = arch->cols_per_adc > 0 ? arch->cols_per_adc : 1, row_adcs = (arch->rows + per_adc - 1) / per_adc;
    out->periphery_mm2 = out->trained_tiles * (arch->cols * params->dac_mm2 + arch->rows * params->sh_mm2 +
                                               row_adcs * (params->adc_mm2 * ldexp(1.0, arch->adc_bits - 8) +
                                                           params->shift_add_mm2));
    out->drivers_mm2 = (double)(out->trained_tiles + out->extra_tiles) * (arch->rows + arch->cols) * params->dac_mm2;
    double clusters = ceil((p->n_tiles + out->extra_tiles) / params->tiles_per_digital) -
                      ceil(p->n_tiles / params->tiles_per_digital);
    out->extra_tiles_mm2 = out->extra_tiles * perf_tile_mm2(params, arch, arch->adc_bits) +
                           clusters * params->digital_mm2;
    out->buffer_mm2 = out->buffer_bytes / 1024 * params->edram_mm2_per_kb;
    out->added_mm2 = out->periphery_mm2 + out->drivers_mm2 + out->extra_tiles_mm2 + out->buffer_mm2;
    return true;
}

void train_map_print(const TrainMap *m, FILE *out)
{
    int width = 5;
    for (int l = 0; l < m->n_layers; l++)
        width = (int)strlen(m->layers[l].name) > width ? (int)strlen(m->layers[l].name) : width;
    bool elided = width > IR_NAME_COLUMN;
    width = elided ? IR_NAME_COLUMN : width;
    Arena *arena = arena_new();
    fprintf(out, "training: %s, update BL %d pulse slots of %g ns (docs/train-mapping.md)\n",
            train_algorithm_name(m->algorithm), m->bl, m->pulse_ns);
    fprintf(out, "%-*s %11s %7s %6s %5s %10s %10s %10s %11s %10s\n", width, "layer", "K x N", "mapping", "blocks",
            "tiles", "fast tiles", "buffer B", "forward us", "backward us", "update us");
    for (int l = 0; l < m->n_layers; l++) {
        const TrainMapLayer *L = &m->layers[l];
        fprintf(out, "%-*s %5lldx%-5lld %7s %6d %5d %10d %10.0f %10.4f %11.4f %10.4f\n", width,
                ir_name_fit(arena, L->name, width), (long long)L->k, (long long)L->n, train_mapping_name(L->mapping),
                L->blocks, L->tiles, L->fast_tiles, L->buffer_bytes, L->forward_ns * 1e-3, L->backward_ns * 1e-3,
                L->update_ns * 1e-3);
    }
    arena_free(arena);
    if (elided)
        fprintf(out, IR_NAME_ELIDED_NOTE, IR_NAME_COLUMN);
    fprintf(out, "training adds: %d tiles to %d (%d hold trained blocks), %.0f B of buffers, %.6f mm^2: transposed-read "
            "periphery %.6f, update drivers %.6f, fast arrays %.6f, buffers %.6f (area %.4f -> %.4f mm^2, +%.1f%%)\n",
            m->extra_tiles, m->tiles, m->trained_tiles, m->buffer_bytes, m->added_mm2, m->periphery_mm2,
            m->drivers_mm2, m->extra_tiles_mm2, m->buffer_mm2, m->area_mm2, m->area_mm2 + m->added_mm2,
            m->area_mm2 > 0 ? 100 * m->added_mm2 / m->area_mm2 : 0.0);
    fprintf(out, "training step: %.4f us (forward %.4f us, then backward reads and updates); period %.4f us\n",
            m->step_ns * 1e-3, m->forward_ns * 1e-3, m->period_ns * 1e-3);
}
