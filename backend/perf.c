/* perf.c: time, energy and area of a crossbar program (docs/perf.md).
 *
 * The model walks the instruction array once.  Every instruction belongs to a
 * layer (its `layer` name).  An `mvm` is a block read step by step: its steps
 * (one DAC cycle of one input vector, the simulator's `reads`) take the
 * crossbar's settle time plus the conversions its busiest shared ADC makes,
 * one after another.  Blocks become PackBlocks with their work in
 * picoseconds, so the timing model of passes/timing.c (blocks of one tile
 * that share rows or an ADC take turns) gives each block's period in time;
 * a layer's crossbar time is its slowest block's period, and its replicas,
 * each with its own row range, already split the work.  The other
 * instructions are digital work counted in ops and buffer bytes.  Energy adds
 * per-event figures; area is tiles times a tile plus digital clusters.
 *
 * Counters come from the simulator when given (then `saturated` is real),
 * else from the shapes by the simulator's own formulas; tests check that the
 * two agree.  All figures are per image: per run divided by the images a run
 * processes. */
#include "backend/backend.h"
#include "passes/pack.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the table of figures (docs/perf.md 1) ---- */

typedef struct {
    const char *name, *unit;
    size_t offset;              /* of a double in PerfParams; adc_model is special */
    double value;
    const char *source;
} Field;

#define F(name, unit, value, source) {#name, unit, offsetof(PerfParams, name), value, source}
static const Field fields[] = {
    F(read_ns, "ns", TIME_READ_NS, "ISAAC (ISCA 2016) crossbar read cycle"),
    F(cell_pj, "pJ", 0.3e-3 * 100e-9 / 16384 * 1e12,
      "ISAAC Table II: 128x128 array 0.3 mW (2.4 mW / 8) over a 100 ns read, / 16384 cells"),
    F(dac_pj, "pJ", 4e-3 * 100e-9 / 1024 * 1e12, "ISAAC Table II: 8x128 1-bit DACs 4 mW, one 100 ns cycle each"),
    F(sh_pj, "pJ", 10e-6 * 100e-9 / 1024 * 1e12, "ISAAC Table II: 8x128 sample-and-holds 10 uW, one 100 ns read"),
    {"adc_model", "", 0, PERF_ADC_ISAAC, "isaac: E_8 * 2^(b-8); mnsim: P_adc * (b+2) / rate (MNSIM 2.0)"},
    F(adc_e8_pj, "pJ", ADC_E8_PJ, "ISAAC: 8-bit SAR ADC, 2 mW at 1.28 GS/s = 1.5625, ~1.6 pJ (docs/adc.md)"),
    F(adc_rate_gsps, "1/ns", TIME_ADC_RATE_GSPS, "ISAAC: 1.28 GS/s"),
    F(adc_power_mw, "mW", 2.0, "ISAAC: 8-bit SAR ADC power"),
    F(shift_add_pj, "pJ", 0.05e-3 / 1.2e9 * 1e12, "ISAAC Table II: S+A 0.05 mW a unit at 1.2 GHz"),
    F(digital_pj, "pJ", 0.4e-3 / 1.2e9 * 1e12, "ISAAC Table II: max-pool unit 0.4 mW at 1.2 GHz, one op a cycle"),
    F(digital_gops, "1/ns", TIME_DIGITAL_GOPS, "assumed: one op a cycle at ISAAC's 1.2 GHz per layer"),
    F(buffer_pj_per_byte, "pJ", (20.7e-3 + 7e-3) / (48 * 1.2e9) * 1e12,
      "ISAAC Table II: eDRAM 20.7 mW + bus 7 mW at 48 B (384 wires) a 1.2 GHz cycle"),
    F(value_bytes, "B", 2.0, "ISAAC: 16-bit values between layers"),
    F(xbar_mm2, "mm^2", 0.0002 / 8, "ISAAC Table II: 8 arrays 0.0002 mm^2"),
    F(adc_mm2, "mm^2", 0.0012, "ISAAC Table II: 8-bit ADC 0.0012 mm^2 (x 2^(b-8) at b bits)"),
    F(dac_mm2, "mm^2", 0.00017 / 1024, "ISAAC Table II: 8x128 DACs 0.00017 mm^2"),
    F(sh_mm2, "mm^2", 0.00004 / 1024, "ISAAC Table II: 8x128 S+H 0.00004 mm^2"),
    F(shift_add_mm2, "mm^2", 0.00024 / 8, "ISAAC Table II: 4 S+A 0.00024 mm^2 per 8 ADCs"),
    F(regs_mm2, "mm^2", (0.0021 + 0.00077) / 8, "ISAAC Table II: IR 2 KB + OR 256 B per 8 arrays"),
    F(digital_mm2, "mm^2", 0.083 + 0.090 + 0.0006 + 0.00006 + 0.00024 + 0.0032,
      "ISAAC Table II tile: eDRAM, bus, sigmoid, S+A, max-pool, OR (router excluded)"),
    F(tiles_per_digital, "", 96, "ISAAC: 12 IMAs x 8 arrays per tile"),
    F(edram_mm2_per_kb, "mm^2", 0.083 / 64, "ISAAC Table II: eDRAM buffer 64 KB 0.083 mm^2"),
    F(edram_pj_per_byte, "pJ", 20.7e-3 / (48 * 1.2e9) * 1e12,
      "ISAAC Table II: eDRAM 20.7 mW at 48 B a 1.2 GHz cycle (bus excluded)"),
    F(train_buffer_bytes, "B", 4.0,
      "Nandakumar et al. 2020: updates accumulated in high precision; charged as float32 (aihwkit's tensors)"),
};
#undef F
enum { N_FIELDS = sizeof fields / sizeof fields[0] };

static bool is_adc_model(int i)
{
    return strcmp(fields[i].name, "adc_model") == 0;
}

PerfParams perf_params_default(void)
{
    PerfParams p;
    memset(&p, 0, sizeof p);
    for (int i = 0; i < N_FIELDS; i++) {
        if (is_adc_model(i))
            p.adc_model = (PerfAdcModel)fields[i].value;
        else
            *(double *)((char *)&p + fields[i].offset) = fields[i].value;
    }
    return p;
}

int perf_param_count(void)
{
    return N_FIELDS;
}

const char *perf_param_name(int i)
{
    return fields[i].name;
}

const char *perf_param_unit(int i)
{
    return fields[i].unit;
}

const char *perf_param_source(int i)
{
    return fields[i].source;
}

double perf_param_value(const PerfParams *params, int i)
{
    if (is_adc_model(i))
        return params->adc_model;
    return *(const double *)((const char *)params + fields[i].offset);
}

const char *perf_param_set(PerfParams *params, const char *name, const char *text)
{
    for (int i = 0; i < N_FIELDS; i++) {
        if (strcmp(fields[i].name, name) != 0)
            continue;
        if (is_adc_model(i)) {
            if (strcmp(text, "isaac") == 0)
                params->adc_model = PERF_ADC_ISAAC;
            else if (strcmp(text, "mnsim") == 0)
                params->adc_model = PERF_ADC_MNSIM;
            else
                return "must be isaac or mnsim";
            return NULL;
        }
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(v))
            return "must be a number";
        if (v < 0 || (v == 0 && (strcmp(name, "tiles_per_digital") == 0 || strcmp(name, "digital_gops") == 0 ||
                                 strcmp(name, "adc_rate_gsps") == 0)))
            return v < 0 ? "must not be negative" : "must be positive";
        *(double *)((char *)params + fields[i].offset) = v;
        return NULL;
    }
    return "is not a figure of the performance model (docs/perf.md)";
}

const char *perf_param_assign(PerfParams *params, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return "must be NAME=VALUE";
    char name[64];
    size_t n = (size_t)(eq - assignment);
    if (n >= sizeof name)
        return "is not a figure of the performance model (docs/perf.md)";
    memcpy(name, assignment, n);
    name[n] = 0;
    return perf_param_set(params, name, eq + 1);
}

/* ---- converters (docs/perf.md 2) ---- */

double perf_adc_pj(const PerfParams *params, int bits)
{
    if (params->adc_model == PERF_ADC_MNSIM)
        return params->adc_power_mw * 1e-3 * (bits + 2) / (params->adc_rate_gsps * 1e9) * 1e12;
    return params->adc_e8_pj * ldexp(1.0, bits - 8);
}

double perf_adc_ns(const PerfParams *params, int bits)
{
    if (params->adc_model == PERF_ADC_MNSIM)
        return (bits + 2) / params->adc_rate_gsps;
    return 1.0 / params->adc_rate_gsps;
}

double perf_tile_mm2(const PerfParams *params, const Arch *arch, int adc_bits)
{
    int n_adc = (arch->cols + arch->cols_per_adc - 1) / (arch->cols_per_adc > 0 ? arch->cols_per_adc : 1);
    return params->xbar_mm2 * arch->rows * arch->cols / 16384.0 + arch->rows * params->dac_mm2 +
           arch->cols * params->sh_mm2 + params->regs_mm2 +
           n_adc * (params->adc_mm2 * ldexp(1.0, adc_bits - 8) + params->shift_add_mm2);
}

/* ---- counting one instruction (per run) ---- */

static int64_t numel_of(const Program *p, int buffer)
{
    return buffer >= 0 ? type_numel(&p->buffers[buffer].type) : 0;
}

static int64_t last_dim(const Type *t)
{
    return t->rank ? t->dims[t->rank - 1] : 1;
}

/* The simulator's formulas (runtime/sim_mvm.c): passes x cycles steps a vector. */
static int64_t mvm_steps_per_vector(const MvmParams *m)
{
    if (m->float_mode)
        return 1;
    int magnitude = m->in_signed ? m->in_bits - 1 : m->in_bits;
    int cycles = (magnitude + m->dac_bits - 1) / m->dac_bits;
    return (m->in_signed ? 2 : 1) * (int64_t)cycles;
}

static int code_bytes(int bits, bool float_mode)
{
    return float_mode ? 4 : (bits + 7) / 8;
}

/* Digital ops and buffer bytes of one non-mvm instruction, per run. */
static void digital_work(const Program *p, const Instr *in, const PerfParams *params, double *ops, double *bytes)
{
    double vb = params->value_bytes;
    *ops = *bytes = 0;
    switch (in->opcode) {
    case INSTR_QUANT: {
        double n = (double)numel_of(p, in->dst);
        *ops = n;
        *bytes = n * vb + n * code_bytes(in->quant.bits, in->quant.float_mode);
        break;
    }
    case INSTR_COMBINE: {
        /* one add per ADC value recombined; the accumulator is a local register */
        const CombineParams *c = &in->combine;
        *ops = (double)(c->row_end - c->row_begin) * (double)last_dim(&p->buffers[in->src[0]].type);
        break;
    }
    case INSTR_DEQUANT: {
        double n = (double)numel_of(p, in->dst);
        *ops = 2 * n;
        *bytes = n * vb;
        break;
    }
    case INSTR_DIGITAL:
        time_op_work(in->op, vb, ops, bytes);       /* the mapping's own count (passes/timing.c) */
        break;
    case INSTR_IM2COL:                          /* addressing: the reads are the mvm's */
    case INSTR_MVM:
    case INSTR_COUNT:
        break;
    }
}

/* ---- the model ---- */

int64_t perf_images_per_run(const Program *program)
{
    if (program->n_inputs < 1)
        return 1;
    const Type *t = &program->buffers[program->inputs[0]].type;
    return t->rank >= 2 && t->dims[0] > 0 ? t->dims[0] : 1;
}

static int layer_index(PerfReport *r, const char *name)
{
    for (int l = r->n_layers - 1; l >= 0; l--)
        if (strcmp(r->layers[l].name, name) == 0)
            return l;
    r->layers[r->n_layers].name = name;
    return r->n_layers++;
}

static void add_energy(PerfLayer *to, const PerfLayer *from)
{
    to->reads += from->reads;
    to->conversions += from->conversions;
    to->saturated += from->saturated;
    to->macs += from->macs;
    to->digital_macs += from->digital_macs;
    to->digital_ops += from->digital_ops;
    to->buffer_bytes += from->buffer_bytes;
    to->xbar_pj += from->xbar_pj;
    to->dac_pj += from->dac_pj;
    to->adc_pj += from->adc_pj;
    to->shift_add_pj += from->shift_add_pj;
    to->digital_pj += from->digital_pj;
    to->buffer_pj += from->buffer_pj;
    to->energy_pj += from->energy_pj;
}

/* The copy a block belongs to: its layer's distinct row ranges (each copy
 * takes its own share of the vectors), numbered in order of appearance.  A
 * hash of (layer, rows) -> copy, so that a layer of 10^6 copies costs no
 * more than 10^6 blocks. */
typedef struct {
    int layer;                  /* layer + 1; 0: an empty slot (arena memory is zeroed) */
    int64_t row_begin, row_end;
    int copy;
} CopyKey;

typedef struct {
    CopyKey *slots;             /* more than twice the blocks: never full */
    size_t cap;
    int *count;                 /* copies so far, by layer */
} Copies;

static int copy_index(Copies *c, int layer, int64_t row_begin, int64_t row_end)
{
    uint64_t h = ((uint64_t)layer * 0x9e3779b97f4a7c15u) ^ ((uint64_t)row_begin * 0xc2b2ae3d27d4eb4fu) ^
                 ((uint64_t)row_end * 0x165667b19e3779f9u);
    for (size_t i = h % c->cap;; i = (i + 1) % c->cap) {
        CopyKey *k = &c->slots[i];
        if (k->layer == 0) {
            *k = (CopyKey){layer + 1, row_begin, row_end, c->count[layer]++};
            return k->copy;
        }
        if (k->layer == layer + 1 && k->row_begin == row_begin && k->row_end == row_end)
            return k->copy;
    }
}

/* The weight columns an mvm's block computes: those of the combine that reads it. */
static int block_weight_cols(const Program *p, int k)
{
    for (int j = k + 1; j < p->n_instrs; j++)
        if (p->instrs[j].opcode == INSTR_COMBINE && p->instrs[j].src[0] == p->instrs[k].dst)
            return p->instrs[j].combine.n_cols;
    return 0;
}

/* A block is where an mvm reads (tile, first row, first column): a block two
 * mvm instructions read is counted once. */
typedef struct {
    int tile, tile_row, tile_col, rows, cols, adc_bits;
} BlockCells;

static int block_order(const void *a, const void *b)
{
    const BlockCells *x = a, *y = b;
    if (x->tile != y->tile)
        return x->tile < y->tile ? -1 : 1;
    if (x->tile_row != y->tile_row)
        return x->tile_row < y->tile_row ? -1 : 1;
    return (x->tile_col > y->tile_col) - (x->tile_col < y->tile_col);
}

/* Cell utilization (the cells the blocks cover over the tiles' cells, as
 * the mapping report counts them, docs/mapping.md) and the most ADC bits. */
static void block_cells(Arena *arena, const Program *p, PerfReport *r)
{
    int n = 0;
    BlockCells *blocks = arena_array(arena, (size_t)p->n_instrs + 1, sizeof(BlockCells));
    for (int k = 0; k < p->n_instrs; k++) {
        const Instr *in = &p->instrs[k];
        if (in->opcode != INSTR_MVM)
            continue;
        const MvmParams *m = &in->mvm;
        blocks[n++] = (BlockCells){m->tile, m->tile_row, m->tile_col, m->rows, m->phys_cols,
                                   m->float_mode ? 0 : m->adc_bits};
    }
    qsort(blocks, (size_t)n, sizeof *blocks, block_order);
    double cells = 0;
    for (int i = 0; i < n; i++) {
        if (i == 0 || block_order(&blocks[i - 1], &blocks[i]) != 0)
            cells += (double)blocks[i].rows * blocks[i].cols;
        r->adc_bits_max = blocks[i].adc_bits > r->adc_bits_max ? blocks[i].adc_bits : r->adc_bits_max;
    }
    double tile_cells = (double)p->arch.rows * p->arch.cols * p->n_tiles;
    r->utilization = tile_cells > 0 ? cells / tile_cells : 0;
}

void perf_model(Arena *arena, const Program *program, const PerfParams *params, const SimCounters *by_instr,
                double runs, PerfReport *r)
{
    const Program *p = program;
    const Arch *arch = &p->arch;
    int n = p->n_instrs;
    double per_run = (double)perf_images_per_run(p);
    memset(r, 0, sizeof *r);
    r->program = program;
    r->params = *params;
    r->counted = by_instr != NULL && runs > 0;
    r->images = r->counted ? runs * per_run : per_run;
    double scale = 1.0 / r->images;             /* counters to per image */
    double shape_scale = 1.0 / per_run;         /* one run's shapes to per image */
    r->layers = arena_array(arena, (size_t)n + 1, sizeof(PerfLayer));
    r->tiles = p->n_tiles;
    r->bottleneck = -1;

    /* Blocks for the timing model, and energy instruction by instruction. */
    int n_mvm = 0;
    for (int k = 0; k < n; k++)
        n_mvm += p->instrs[k].opcode == INSTR_MVM;
    PackBlock *blocks = arena_array(arena, (size_t)n_mvm + 1, sizeof(PackBlock));
    PackSpot *spots = arena_array(arena, (size_t)n_mvm + 1, sizeof(PackSpot));
    int64_t *period = arena_array(arena, (size_t)n_mvm + 1, sizeof(int64_t));
    int *block_instr = arena_array(arena, (size_t)n_mvm + 1, sizeof(int));
    int *instr_layer = arena_array(arena, (size_t)n + 1, sizeof(int));
    int *tile_bits = arena_array(arena, (size_t)p->n_tiles + 1, sizeof(int));
    Copies copies = {arena_array(arena, 2 * (size_t)n_mvm + 2, sizeof(CopyKey)), 2 * (size_t)n_mvm + 2,
                     arena_array(arena, (size_t)n + 1, sizeof(int))};
    int b = 0;
    for (int k = 0; k < n; k++) {
        const Instr *in = &p->instrs[k];
        int l = instr_layer[k] = layer_index(r, in->layer ? in->layer : "(unnamed)");
        PerfLayer *L = &r->layers[l], e = {0};
        if (in->opcode != INSTR_MVM) {
            digital_work(p, in, params, &e.digital_ops, &e.buffer_bytes);
            e.digital_ops *= shape_scale;
            e.digital_macs = in->opcode == INSTR_DIGITAL && in->op ? ir_op_macs(in->op) * shape_scale : 0;
            e.buffer_bytes *= shape_scale;
        } else {
            const MvmParams *m = &in->mvm;
            double vectors = (double)(m->row_end - m->row_begin) * shape_scale;
            if (r->counted) {
                e.reads = (double)by_instr[k].reads * scale;
                e.conversions = (double)by_instr[k].conversions * scale;
                e.saturated = (double)by_instr[k].saturated * scale;
            } else {
                e.reads = vectors * (double)mvm_steps_per_vector(m);
                e.conversions = m->float_mode ? 0 : e.reads * m->out_cols;
            }
            e.macs = vectors * m->rows * block_weight_cols(p, k);
            e.buffer_bytes = vectors * m->rows * code_bytes(m->in_bits, m->float_mode);
            e.xbar_pj = e.reads * m->phys_cols * (m->rows * params->cell_pj + params->sh_pj);
            e.dac_pj = e.reads * m->rows * params->dac_pj;
            e.adc_pj = m->float_mode ? 0 : e.conversions * perf_adc_pj(params, m->adc_bits);
            e.shift_add_pj = e.conversions * params->shift_add_pj;

            int turns = m->float_mode ? 0 : time_adc_turns(m->phys_cols, m->tile_col, m->sign == SIGN_PAIR_ANALOG,
                                                           arch->cols_per_adc);
            double step_ns = params->read_ns + turns * perf_adc_ns(params, m->adc_bits);
            int replica = copy_index(&copies, l, m->row_begin, m->row_end);
            blocks[b] = (PackBlock){.rows = m->rows, .cols = m->phys_cols, .layer = l, .replica = replica,
                                    .work = llround(e.reads * step_ns * 1000)};
            spots[b] = (PackSpot){.tile = m->tile, .row = m->tile_row, .col = m->tile_col};
            block_instr[b++] = k;
            L->blocks++;
            if (m->tile >= 0 && m->tile < p->n_tiles && !m->float_mode && m->adc_bits > tile_bits[m->tile])
                tile_bits[m->tile] = m->adc_bits;
        }
        e.digital_pj = e.digital_ops * params->digital_pj;
        e.buffer_pj = e.buffer_bytes * params->buffer_pj_per_byte;
        e.energy_pj = e.xbar_pj + e.dac_pj + e.adc_pj + e.shift_add_pj + e.digital_pj + e.buffer_pj;
        add_energy(L, &e);
    }

    /* Time: block periods in picoseconds (turns on shared tiles included). */
    PackParams pp = {.rows = arch->rows, .cols = arch->cols, .cols_per_adc = arch->cols_per_adc};
    pack_periods(&pp, blocks, spots, b, period);
    int *busy = arena_array(arena, (size_t)r->n_layers + 1, sizeof(int));    /* copies with vectors */
    int *counted = arena_array(arena, (size_t)r->n_layers + 1, sizeof(int));  /* last copy counted + 1 */
    for (int j = 0; j < b; j++) {
        int l = blocks[j].layer;
        PerfLayer *L = &r->layers[l];
        const MvmParams *m = &p->instrs[block_instr[j]].mvm;
        L->xbar_ns = fmax(L->xbar_ns, (double)period[j] / 1000);
        L->replicas = blocks[j].replica + 1 > L->replicas ? blocks[j].replica + 1 : L->replicas;
        if (m->row_end > m->row_begin && counted[l] != blocks[j].replica + 1) {
            counted[l] = blocks[j].replica + 1;
            busy[l]++;
        }
    }
    /* Each copy of a crossbar layer has the digital units of its own tiles
     * (copies without vectors do nothing), and a digital-only layer (relu,
     * add, pooling) runs where its input is made: on the units of the
     * crossbar layer before it, as many copies. */
    int units = 1;
    for (int l = 0; l < r->n_layers; l++) {
        PerfLayer *L = &r->layers[l];
        if (L->blocks)
            units = busy[l] > 1 ? busy[l] : 1;
        L->digital_ns = L->digital_ops / (params->digital_gops * units);
        L->stage_ns = fmax(L->xbar_ns, L->digital_ns);
        add_energy(&r->total, L);
        r->total.blocks += L->blocks;
        r->total.xbar_ns += L->xbar_ns;
        r->total.digital_ns += L->digital_ns;
        r->latency_ns += L->xbar_ns + L->digital_ns;
        if (r->bottleneck < 0 || L->stage_ns > r->period_ns) {
            r->bottleneck = l;
            r->period_ns = L->stage_ns;
        }
    }
    r->total.name = "total";
    r->total.stage_ns = r->latency_ns;
    r->images_per_s = r->period_ns > 0 ? 1e9 / r->period_ns : 0;
    r->ops = 2 * (r->total.macs + r->total.digital_macs);
    r->tops_per_w = r->total.energy_pj > 0 ? r->ops / r->total.energy_pj : 0;
    r->tops = r->ops * r->images_per_s / 1e12;

    /* Area: a tile's ADCs are built for the architecture's bits, or for more
     * when a block on it converts with more (lossless ADCs may). */
    for (int t = 0; t < p->n_tiles; t++)
        r->area_tiles_mm2 += perf_tile_mm2(params, arch, tile_bits[t] > arch->adc_bits ? tile_bits[t] : arch->adc_bits);
    r->area_tile_mm2 = p->n_tiles ? r->area_tiles_mm2 / p->n_tiles : 0;
    r->area_digital_mm2 = ceil(p->n_tiles / params->tiles_per_digital) * params->digital_mm2;
    r->area_mm2 = r->area_tiles_mm2 + r->area_digital_mm2;
    block_cells(arena, p, r);
}

/* ---- reports ---- */

static double pct(double part, double whole)
{
    return whole > 0 ? 100 * part / whole : 0;
}

void perf_print(const PerfReport *r, FILE *out)
{
    int longest = 5;
    for (int l = 0; l < r->n_layers; l++)
        longest = (int)strlen(r->layers[l].name) > longest ? (int)strlen(r->layers[l].name) : longest;
    int width = longest < IR_NAME_COLUMN ? longest : IR_NAME_COLUMN;
    Arena *arena = arena_new();     /* the elided names */
    fprintf(out, "performance per image (%s, averaged over %.0f image%s; energy in nJ, time in us)\n",
            r->counted ? "simulator counters" : "counts from shapes", r->images, r->images == 1 ? "" : "s");
    fprintf(out, "%-*s %6s %10s %10s %9s %10s %9s %9s %9s %9s %9s %9s %7s %10s\n", width, "layer", "copies", "reads",
            "convs", "saturated", "time", "xbar", "dac", "adc", "digital", "buffer", "total", "period", "macs");
    for (int l = 0; l <= r->n_layers; l++) {
        const PerfLayer *L = l < r->n_layers ? &r->layers[l] : &r->total;
        if (l == r->n_layers)
            fprintf(out, "%-*s %6s", width, "total", "");
        else
            fprintf(out, "%-*s %6d", width, ir_name_fit(arena, L->name, width), L->replicas ? L->replicas : 1);
        fprintf(out, " %10.0f %10.0f %9.0f %10.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f", L->reads, L->conversions,
                L->saturated, L->stage_ns / 1000, L->xbar_pj / 1000, L->dac_pj / 1000, L->adc_pj / 1000,
                (L->digital_pj + L->shift_add_pj) / 1000, L->buffer_pj / 1000, L->energy_pj / 1000);
        /* MACs last: crossbar and digital ones (a digital matmul's time and
         * energy are in its time and digital columns) */
        if (l < r->n_layers)
            fprintf(out, " %6.1f%% %10.0f\n", pct(L->stage_ns, r->period_ns), L->macs + L->digital_macs);
        else
            fprintf(out, " %7s %10.0f\n", "", L->macs + L->digital_macs);
    }
    arena_free(arena);
    if (longest > width)
        fprintf(out, IR_NAME_ELIDED_NOTE, IR_NAME_COLUMN);
    const PerfLayer *T = &r->total;
    const PerfParams *pp = &r->params;
    fprintf(out, "energy per image: %.3f nJ (crossbar %.1f%%, DAC %.1f%%, ADC %.1f%%, digital %.1f%%, "
            "buffers %.1f%%)\n", T->energy_pj / 1000, pct(T->xbar_pj, T->energy_pj), pct(T->dac_pj, T->energy_pj),
            pct(T->adc_pj, T->energy_pj), pct(T->digital_pj + T->shift_add_pj, T->energy_pj),
            pct(T->buffer_pj, T->energy_pj));
    fprintf(out, "ops per image: %.0f (2 x %.0f MACs", r->ops, T->macs + T->digital_macs);
    if (T->digital_macs > 0)
        fprintf(out, ": %.0f on crossbars (%.1f%%), %.0f digital", T->macs,
                pct(T->macs, T->macs + T->digital_macs), T->digital_macs);
    fprintf(out, "); efficiency: %.3f TOPS/W\n", r->tops_per_w);
    fprintf(out, "throughput: %.1f images/s (%.4g TOPS; period %.3f us, slowest stage %s); latency: %.3f us\n",
            r->images_per_s, r->tops, r->period_ns / 1000, r->bottleneck >= 0 ? r->layers[r->bottleneck].name : "-",
            r->latency_ns / 1000);
    fprintf(out, "area: %.4f mm^2 (%d tiles x %.5f mm^2 + digital %.4f mm^2)\n", r->area_mm2, r->tiles,
            r->area_tile_mm2, r->area_digital_mm2);
    if (pp->adc_model == PERF_ADC_MNSIM)
        fprintf(out, "ADC energy: mnsim, E_conv(b) = %g mW x (b + 2) / %g GHz (%.3f pJ at 8 bits)\n",
                pp->adc_power_mw, pp->adc_rate_gsps, perf_adc_pj(pp, 8));
    else
        fprintf(out, "ADC energy: isaac, E_conv(b) = %g pJ x 2^(b - 8), %.4f ns a conversion\n", pp->adc_e8_pj,
                perf_adc_ns(pp, 8));
}

static cJSON *layer_json(const PerfLayer *L, const PerfReport *r, bool total)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", L->name);
    if (!total)
        cJSON_AddNumberToObject(o, "replicas", L->replicas ? L->replicas : 1);
    cJSON_AddNumberToObject(o, "blocks", L->blocks);
    cJSON_AddNumberToObject(o, "reads", L->reads);
    cJSON_AddNumberToObject(o, "conversions", L->conversions);
    cJSON_AddNumberToObject(o, "saturated", L->saturated);
    cJSON_AddNumberToObject(o, "macs", L->macs);
    cJSON_AddNumberToObject(o, "macs_crossbar", L->macs);
    cJSON_AddNumberToObject(o, "macs_digital", L->digital_macs);
    cJSON_AddNumberToObject(o, "digital_ops", L->digital_ops);
    cJSON_AddNumberToObject(o, "buffer_bytes", L->buffer_bytes);
    cJSON_AddNumberToObject(o, "xbar_ns", L->xbar_ns);
    cJSON_AddNumberToObject(o, "digital_ns", L->digital_ns);
    cJSON_AddNumberToObject(o, total ? "latency_ns" : "stage_ns", L->stage_ns);
    if (!total)
        cJSON_AddNumberToObject(o, "period_share", r->period_ns > 0 ? L->stage_ns / r->period_ns : 0);
    cJSON *e = cJSON_AddObjectToObject(o, "energy_pj");
    cJSON_AddNumberToObject(e, "xbar", L->xbar_pj);
    cJSON_AddNumberToObject(e, "dac", L->dac_pj);
    cJSON_AddNumberToObject(e, "adc", L->adc_pj);
    cJSON_AddNumberToObject(e, "shift_add", L->shift_add_pj);
    cJSON_AddNumberToObject(e, "digital", L->digital_pj);
    cJSON_AddNumberToObject(e, "buffer", L->buffer_pj);
    cJSON_AddNumberToObject(e, "total", L->energy_pj);
    return o;
}

/* The run: command, program, data, accuracy, and the chip in full (every
 * non-ideality of the program's architecture as run, and the options). */
static void run_json(cJSON *root, const PerfReport *r, const Program *p, Arena *arena)
{
    const PerfRun *run = r->run;
    cJSON *o = cJSON_AddObjectToObject(root, "run");
    cJSON_AddStringToObject(o, "xbarc_version", XBARC_VERSION);
    cJSON_AddStringToObject(o, "command", run->command ? run->command : "");
    if (run->program)
        cJSON_AddStringToObject(o, "program", run->program);
    if (run->dataset) {
        cJSON_AddStringToObject(o, "dataset", run->dataset);
        cJSON_AddNumberToObject(o, "images", run->images);
        cJSON_AddNumberToObject(o, "accuracy", run->accuracy);
    }
    cJSON_AddNumberToObject(o, "seed", (double)run->seed);
    cJSON *noise = cJSON_AddObjectToObject(o, "noise");
    for (int f = arch_field_count(); p && f < arch_field_count_all(); f++) {
        const char *text = arch_field_format(arena, &p->arch, f);
        size_t n = strlen(text);
        if (n >= 2 && text[0] == '"')
            cJSON_AddStringToObject(noise, arch_field_name(f), arena_printf(arena, "%.*s", (int)n - 2, text + 1));
        else
            cJSON_AddNumberToObject(noise, arch_field_name(f), strtod(text, NULL));
    }
    cJSON *given = cJSON_AddObjectToObject(o, "noise_options");
    cJSON_AddStringToObject(given, "noise", run->noise ? run->noise : "ideal");
    if (run->time)
        cJSON_AddStringToObject(given, "time", run->time);
    cJSON *sets = cJSON_AddArrayToObject(given, "set");
    for (int i = 0; i < run->n_sets; i++)
        cJSON_AddItemToArray(sets, cJSON_CreateString(run->sets[i]));
    if (p && p->tuned) {
        cJSON *tuned = cJSON_AddObjectToObject(o, "tuned_for");
        cJSON_AddNumberToObject(tuned, "seed", (double)p->tuned_seed);
        cJSON_AddStringToObject(tuned, "chip", p->tuned_chip ? p->tuned_chip : "");
    }
}

char *perf_to_json(Arena *arena, const PerfReport *r)
{
    cJSON *root = cJSON_CreateObject();
    if (r->run)
        run_json(root, r, r->program, arena);
    cJSON_AddNumberToObject(root, "images", r->images);
    cJSON_AddStringToObject(root, "counters", r->counted ? "simulator" : "shapes");
    cJSON *params = cJSON_AddObjectToObject(root, "params");
    for (int i = 0; i < N_FIELDS; i++) {
        if (is_adc_model(i))
            cJSON_AddStringToObject(params, "adc_model", r->params.adc_model == PERF_ADC_MNSIM ? "mnsim" : "isaac");
        else
            cJSON_AddNumberToObject(params, fields[i].name, perf_param_value(&r->params, i));
    }
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int l = 0; l < r->n_layers; l++)
        cJSON_AddItemToArray(layers, layer_json(&r->layers[l], r, false));
    cJSON_AddItemToObject(root, "total", layer_json(&r->total, r, true));
    cJSON_AddStringToObject(root, "bottleneck", r->bottleneck >= 0 ? r->layers[r->bottleneck].name : "");
    cJSON_AddNumberToObject(root, "tiles", r->tiles);
    cJSON_AddNumberToObject(root, "period_ns", r->period_ns);
    cJSON_AddNumberToObject(root, "latency_ns", r->latency_ns);
    cJSON_AddNumberToObject(root, "images_per_s", r->images_per_s);
    cJSON_AddNumberToObject(root, "energy_pj", r->total.energy_pj);
    cJSON_AddNumberToObject(root, "ops", r->ops);
    cJSON_AddNumberToObject(root, "macs_crossbar", r->total.macs);
    cJSON_AddNumberToObject(root, "macs_digital", r->total.digital_macs);
    cJSON_AddNumberToObject(root, "tops_per_w", r->tops_per_w);
    cJSON_AddNumberToObject(root, "tops", r->tops);
    cJSON *area = cJSON_AddObjectToObject(root, "area_mm2");
    cJSON_AddNumberToObject(area, "tile", r->area_tile_mm2);
    cJSON_AddNumberToObject(area, "tiles", r->area_tiles_mm2);
    cJSON_AddNumberToObject(area, "digital", r->area_digital_mm2);
    cJSON_AddNumberToObject(area, "total", r->area_mm2);
    char *text = cJSON_Print(root);
    char *copy = arena_printf(arena, "%s\n", text ? text : "{}");
    cJSON_free(text);
    cJSON_Delete(root);
    return copy;
}

bool perf_write_json(const PerfReport *report, Outputs *outs, const char *path, Diags *diags)
{
    char *text = perf_to_json(diags->arena, report);
    return outputs_write(outs, path, text, strlen(text));
}

double adc_conversion_pj(int bits)
{
    return ADC_E8_PJ * ldexp(1.0, bits - 8);
}
