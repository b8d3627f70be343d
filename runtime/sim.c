/* sim.c: the crossbar simulator, executing a Program instruction by instruction.
 *
 * sim_new() "programs the chip": each `mvm` gets its block's cells as a dense
 * matrix (runtime/sim_mvm.c).  Then it gives every buffer its memory from the
 * Sim's own arena: float32, or float64 for a `wide` buffer and for an mvm
 * result whose integers may reach 2^24; a constant's buffer is its data.
 * Temporaries share memory when their live ranges do not overlap (see
 * plan_memory: a program has one buffer per block, thousands in a replicated
 * ResNet, each dead once its combine has run); inputs and outputs have memory
 * of their own, so they survive sim_run().  sim_run() walks the instruction
 * array once with one switch; each case reads its buffers, shaped as below,
 * and allocates nothing.
 *
 * Buffer conventions (what the emitter must produce; docs/crossbar.md 8):
 *   quant    src[0] x (f32, any shape) -> dst codes, same element count
 *   im2col   src[0] codes N x C x D.. -> dst [P, G*K], P = N * output pixels
 *   mvm      src[0] [P, W] f32 (W = src's last dim, reads columns src_col ..
 *            src_col + rows - 1) -> dst [P, out_cols], f32 or f64; only rows
 *            row_begin .. row_end - 1 (a replica's share) are read and written
 *   combine  src[0] an mvm's dst [P, out_cols] (its last dim) -> dst [P, G*N]
 *            (its last dim), f64 (the layer's accumulator); f32 is read too;
 *            rows row_begin .. row_end - 1 only
 *   dequant  src[0] accumulator [P, C], src[1] bias [C] f32 or -1 -> dst f32,
 *            N x C x pixels (conv) or [P, C] as is (matmul)
 *   digital  op->inputs[i]->id -> op->result->id, all f32 (buffer ids are the
 *            value ids of the graph the op belongs to)
 *
 * The float operations of quant and dequant are exactly those of docs/crossbar.md
 * 3, one operation per statement so that no compiler contracts them into an FMA:
 * that and the exact integer arithmetic of the reads make the output equal the
 * integer reference bit for bit.
 *
 * A non-ideal chip (program->arch's non-idealities, docs/noise.md) is drawn
 * when the Sim is made, from its seed: each block's cells as they were
 * programmed and have drifted, its ADCs' errors.  Read noise is drawn per
 * read from keys that include the run's stream (sim_set_stream), so the
 * outputs depend only on the seed, the stream and the inputs. */
#include "runtime/quant.h"
#include "runtime/sim_state.h"
#include "runtime/kernels.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

Sim *sim_new(const Program *program)
{
    return sim_new_seeded(program, 0);
}

Sim *sim_new_seeded(const Program *program, uint64_t seed)
{
    Arena *arena = arena_new();
    Sim *sim = arena_alloc(arena, sizeof *sim);
    int nb = program->n_buffers, ni = program->n_instrs;
    sim->program = program;
    sim->arena = arena;
    sim->noise = program->float_weights ? NULL : noise_new(arena, &program->arch, seed);
    sim->fast_path = !sim->noise;
    sim->f32 = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->f32);
    sim->f64 = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->f64);
    sim->numel = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->numel);
    sim->blocks = arena_array(arena, (size_t)(ni > 0 ? ni : 1), sizeof *sim->blocks);
    sim->instr_counters = arena_array(arena, (size_t)(ni > 0 ? ni : 1), sizeof *sim->instr_counters);
    MemoryPlan plan;
    sim_plan_memory(arena, program, &plan);
    sim->first = plan.first;
    sim->last = plan.last;
    sim->fusable = plan.fusable;

    /* program the chip, and the fast path's weights of each block whose only
     * reader is its combine; the file's pages the tiles were read from are
     * let go as we go (a run holds the folded weights, not also the file) */
    int max_rows = 1, max_cols = 1;
    size_t tile_bytes = 0;      /* packed cells read since the last program_evict */
    for (int k = 0; k < ni; k++) {
        const Instr *in = &program->instrs[k];
        if (in->opcode != INSTR_MVM)
            continue;
        mvm_program_block(arena, program, &in->mvm, sim->noise, k, &sim->blocks[k]);
        if (sim->blocks[k].error && !sim->chip_error)
            sim->chip_error = arena_printf(arena, "instruction %d: %s", k, sim->blocks[k].error);
        if (!sim->noise && k + 1 < ni && sim->fusable[k] && sim->blocks[k].adc.lossless)
            mvm_program_weights(arena, program, &in->mvm, &program->instrs[k + 1].combine, &sim->blocks[k]);
        if (in->mvm.rows > max_rows)
            max_rows = in->mvm.rows;
        if (in->mvm.out_cols > max_cols)
            max_cols = in->mvm.out_cols;
        tile_bytes += (size_t)in->mvm.rows * (size_t)program->tiles[in->mvm.tile].cols *
                      (size_t)program->arch.cell_bits / 8;
        if (tile_bytes >= PROGRAM_EVICT_BYTES) {
            program_evict(program);
            tile_bytes = 0;
        }
    }
    program_evict(program);
    sim->weights_of = arena_array(arena, (size_t)(ni > 0 ? ni : 1), sizeof *sim->weights_of);
    for (int k = 0; k < ni; k++)
        sim->weights_of[k] = -1;
    for (int k = 0; k + 1 < ni && !sim->noise; k++) {
        if (sim->blocks[k].weights || sim->blocks[k].int_weights)
            sim->weights_of[k + 1] = k;
        const IntWeights *iw = sim->blocks[k].int_weights;
        int64_t numel = type_numel(&program->buffers[program->instrs[k].src[0]].type);
        size_t bytes = iw ? (size_t)(numel + INT_CODES_PAD) * int_code_bytes(iw->kind) : 0;
        sim->codes.max_bytes = bytes > sim->codes.max_bytes ? bytes : sim->codes.max_bytes;
    }
    /* who reads each buffer, and the room an im2col layer's chunks take:
     * its source's codes in the cache, padded, a chunk of its patches */
    size_t padded_bytes = 0;
    sim->readers = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->readers);
    for (int k = 0; k < ni; k++) {
        const Instr *in = &program->instrs[k];
        if (in->opcode == INSTR_DIGITAL)
            for (int i = 0; i < in->op->n_inputs; i++)
                sim->readers[in->op->inputs[i]->id]++;
        else
            for (int i = 0; i < 3; i++)
                if (in->src[i] >= 0)
                    sim->readers[in->src[i]]++;
        if (in->opcode != INSTR_IM2COL)
            continue;
        int64_t numel = type_numel(&program->buffers[in->src[0]].type);
        size_t bytes = (size_t)(numel + INT_CODES_PAD) * 2;
        sim->codes.max_bytes = bytes > sim->codes.max_bytes ? bytes : sim->codes.max_bytes;
        int64_t width = last_dim(&program->buffers[in->dst].type);
        bytes = patch_chunk_bytes(width);
        sim->patch_bytes = bytes > sim->patch_bytes ? bytes : sim->patch_bytes;
        bytes = padded_codes_bytes(&in->im2col);
        padded_bytes = bytes > padded_bytes ? bytes : padded_bytes;
    }
    sim_plan_chains(sim);
    const char *im2col = getenv("XBARC_IM2COL");
    sim->patches = !sim->noise && sim->patch_bytes && !(im2col && strcmp(im2col, "copy") == 0);
    if (sim->patches) {
        sim->patch_chunk = arena_array(arena, 1, sizeof *sim->patch_chunk);
        sim->patch_chunk[0] = arena_alloc(arena, 2 * sim->patch_bytes);
        sim->padded_codes = arena_alloc(arena, padded_bytes);
    }
    sim->codes.data = sim->codes.max_bytes ? arena_alloc(arena, sim->codes.max_bytes) : NULL;
    sim->codes.id = -1;
    sim->combine_row = arena_array(arena, (size_t)sim_max_combine_width(program), sizeof *sim->combine_row);
    sim->range_checked = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->range_checked);
    sim->range_ok = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->range_ok);
    sim->range_bottom = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->range_bottom);
    sim->range_top = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->range_top);
    sim_give_memory(sim, &plan);
    mvm_scratch_init(arena, &sim->scratch, max_rows, max_cols, sim_plan_tables(sim));
    sim->max_rows = max_rows;
    sim->max_cols = max_cols;
    const char *check = getenv("XBARC_CHECK");
    if (check && *check && strcmp(check, "0") != 0)
        sim_set_check(sim, true);
    return sim;
}

void sim_free(Sim *sim)
{
    if (sim) {
        pool_free(sim->pool);
        arena_free(sim->arena);
    }
}

float *sim_input(Sim *sim, int index)
{
    return sim->f32[sim->program->inputs[index]];
}

const float *sim_output(const Sim *sim, int index)
{
    return sim->f32[sim->program->outputs[index]];
}

size_t sim_arena_bytes(const Sim *sim)
{
    return arena_bytes(sim->arena);
}

void sim_memory(const Sim *sim, size_t *bytes, size_t *unshared_bytes)
{
    *bytes = sim->bytes;
    *unshared_bytes = sim->unshared_bytes;
}

SimCounters sim_counters(const Sim *sim)
{
    return sim->counters;
}

SimCounters sim_instr_counters(const Sim *sim, int instr)
{
    return sim->instr_counters[instr];
}

void sim_set_fast_path(Sim *sim, bool enabled)
{
    sim->fast_path = enabled && !sim->noise;
}

void sim_set_check(Sim *sim, bool enabled)
{
    if (enabled && !sim->check)
        sim->check = check_new(sim->arena, sim->program, !sim->noise);
    else if (!enabled)
        sim->check = NULL;
}

const char *sim_chip_error(const Sim *sim)
{
    return sim->chip_error;
}

const char *sim_check_error(const Sim *sim)
{
    return check_error(sim->check);
}

void sim_set_stream(Sim *sim, uint64_t stream)
{
    sim->scratch.stream = stream;
}

void sim_set_psum_recorder(Sim *sim, PsumHist *by_instr)
{
    sim->psum = by_instr;
    if (by_instr)
        sim->fast_path = false;
}

/* ---- the instructions ---- */

/* Activation codes (docs/crossbar.md 3): quant_code_float(x[i], scale, lo,
 * hi) for i < n (runtime/quant.h), vectorized for each CPU. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void quant_codes(const float *x, float *codes, int64_t n, float scale, int32_t lo, int32_t hi)
{
    float bottom = (float)lo, top = (float)hi;
    for (int64_t i = 0; i < n; i++)
        codes[i] = quant_code_float(x[i], scale, bottom, top);
}

static void exec_quant(const QuantParams *q, const float *x, float *codes, int64_t n)
{
    if (q->float_mode) {
        memcpy(codes, x, (size_t)n * sizeof *codes);
        return;
    }
    int32_t hi = quant_qmax(q->bits, q->is_signed), lo = q->is_signed ? -hi : 0;
    quant_codes(x, codes, n, q->scale, lo, hi);
}

static void exec_im2col(const Im2colParams *q, const float *x, float *cols)
{
    ConvParams p = {
        .spatial = q->spatial, .batch = q->batch, .in_channels = q->channels,
        .group = q->group,
    };
    for (int i = 0; i < q->spatial; i++) {
        p.in[i] = q->in[i];
        p.kernel[i] = q->kernel[i];
        p.out[i] = q->out[i];
        p.strides[i] = q->strides[i];
        p.dilations[i] = q->dilations[i];
        p.pads[i] = q->pads[i];
        p.pads[q->spatial + i] = q->pads[q->spatial + i];
    }
    kernel_im2col(&p, x, cols);
}

static double element(const Sim *sim, int buffer, int64_t i)
{
    return sim->f64[buffer] ? sim->f64[buffer][i] : sim->f32[buffer][i];
}

/* Slices, pairs and reference columns of one block back into weight columns
 * (docs/crossbar.md 5), in double: exact on integers, and a float-mode sum
 * loses nothing either. */
void combine_rows(const CombineParams *c, const double *src_d, const float *src_f, int64_t width, int64_t n,
                  double *acc, int64_t out_width, double *row)
{
    int slices = c->float_mode ? 1 : c->slices;
    double slice_weight[64];
    assert(slices >= 1 && slices <= 64);
    for (int s = 0; s < slices && s < 64; s++)
        slice_weight[s] = ldexp(1.0, s * c->cell_bits);
    for (int64_t p = 0; p < n; p++) {
        const double *x = src_d ? src_d + p * width : row;
        if (!src_d)
            for (int64_t j = 0; j < width; j++)
                row[j] = src_f[p * width + j];
        double *out = acc + p * out_width + (int64_t)c->group * c->n_per_group + c->n0;
        if (c->sign == SIGN_PAIR_ANALOG) {      /* the per-read path's common case, without the switch */
            for (int n = 0; n < c->n_cols; n++) {
                double v = 0;
                for (int s = 0; s < slices; s++)
                    v += slice_weight[s] * x[(int64_t)n * slices + s];
                out[n] = c->accumulate ? out[n] + v : v;
            }
            continue;
        }
        for (int n = 0; n < c->n_cols; n++) {
            double v = 0;
            for (int s = 0; s < slices; s++) {
                int64_t col = (int64_t)n * slices + s;
                double part;
                switch (c->sign) {
                case SIGN_PAIR_ANALOG:
                    part = x[col];
                    break;
                case SIGN_PAIR_DIGITAL:
                    part = x[2 * col] - x[2 * col + 1];
                    break;
                case SIGN_OFFSET:
                default:
                    part = x[col] - x[width - slices + s];
                    break;
                }
                v += slice_weight[s] * part;
            }
            out[n] = c->accumulate ? out[n] + v : v;
        }
    }
}

static void exec_combine(Sim *sim, int k)
{
    const Instr *in = &sim->program->instrs[k];
    const CombineParams *c = &in->combine;
    const Type *st = &sim->program->buffers[in->src[0]].type;
    const Type *dt = &sim->program->buffers[in->dst].type;
    int64_t width = last_dim(st), out_width = last_dim(dt);
    int64_t rows = width > 0 ? sim->numel[in->src[0]] / width : 0;
    double *acc = buffer_f64(sim, in->dst, k);
    assert(acc && rows * out_width == sim->numel[in->dst]);
    assert(c->row_begin >= 0 && c->row_begin <= c->row_end && c->row_end <= rows);
    (void)rows;
    assert((int64_t)c->group * c->n_per_group + c->n0 + c->n_cols <= out_width);
    if (sim->weights_of[k] >= 0 && sim->blocks[sim->weights_of[k]].wrote_weights)
        return;                 /* done by the mvm (sim_fast.c) */
    const double *src_d = buffer_f64(sim, in->src[0], k);
    const float *src_f = buffer_f32(sim, in->src[0], k);
    combine_rows(c, src_d ? src_d + c->row_begin * width : NULL, src_f ? src_f + c->row_begin * width : NULL, width,
                 c->row_end - c->row_begin, acc + c->row_begin * out_width, out_width, sim->combine_row);
}

/* A float-weight program's dequant may have no scales: 1 each. */
static float out_scale(const DequantParams *d, int64_t n)
{
    return d->out_scale ? d->out_scale[n] : 1.0f;
}

/* y = (float)acc * out_scale[n] + bias[n] (dequant_value); accumulator rows
 * [lo, hi) (each output element is written once, from its own sum: any
 * split of the rows gives the same bits). */
void sim_dequant_rows(Sim *sim, int k, int64_t lo, int64_t hi)
{
    const Instr *in = &sim->program->instrs[k];
    const DequantParams *d = &in->dequant;
    int64_t channels = d->channels;
    int64_t pixels = d->conv ? d->pixels : 1;
    const float *bias = in->src[1] >= 0 ? buffer_f32(sim, in->src[1], k) : NULL;
    float *y = buffer_f32(sim, in->dst, k);
    const double *acc = buffer_f64(sim, in->src[0], k);
    if (!acc || !d->conv) {
        for (int64_t p = lo; p < hi; p++) {
            /* conv: row p = (image, pixel) goes to y[image, n, pixel] */
            int64_t base = d->conv ? (p / pixels) * channels * pixels + p % pixels : p * channels;
            int64_t stride = d->conv ? pixels : 1;
            for (int64_t n = 0; n < channels; n++)
                y[base + n * stride] = dequant_value(element(sim, in->src[0], p * channels + n), out_scale(d, n), bias,
                                                     n);
        }
        return;
    }
    /* a conv's accumulator, transposed a block of pixels at a time: the
     * block's rows stay in cache while each channel's outputs are written
     * side by side; a block ends with its image (and at hi) */
    enum { PIXELS = 16 };
    for (int64_t p0 = lo, count; p0 < hi; p0 += count) {
        int64_t image = p0 / pixels, pixel0 = p0 % pixels;
        count = pixels - pixel0 < PIXELS ? pixels - pixel0 : PIXELS;
        count = hi - p0 < count ? hi - p0 : count;
        float *yb = y + image * channels * pixels + pixel0;
        const double *ab = acc + p0 * channels;
        for (int64_t n = 0; n < channels; n++) {
            float scale = out_scale(d, n);
            for (int64_t i = 0; i < count; i++)
                yb[n * pixels + i] = dequant_value(ab[i * channels + n], scale, bias, n);
        }
    }
}

/* Quant and dequant over the pool's workers (sim_set_threads) in parts:
 * part i of n takes elements (quant) or accumulator rows (dequant)
 * [N i / n, N (i + 1) / n); each output is the same function of its own
 * inputs on any thread. */
typedef struct {
    Sim *sim;
    int k;
    int64_t count;              /* elements, or rows */
} ElementTask;

static void quant_part(void *context, int w, int i, int n)
{
    const ElementTask *t = context;
    const Instr *in = &t->sim->program->instrs[t->k];
    int64_t lo = t->count * i / n, hi = t->count * (i + 1) / n;
    (void)w;
    exec_quant(&in->quant, buffer_f32(t->sim, in->src[0], t->k) + lo, buffer_f32(t->sim, in->dst, t->k) + lo, hi - lo);
}

static void dequant_part(void *context, int w, int i, int n)
{
    const ElementTask *t = context;
    (void)w;
    sim_dequant_rows(t->sim, t->k, t->count * i / n, t->count * (i + 1) / n);
}

enum { SPLIT_ELEMENTS = 1 << 15 };     /* below this, one thread: a wake-up costs more */

/* The parts of a split: several a worker, so that a faster core takes more. */
int sim_parts(const Sim *sim)
{
    return SIM_PARTS_PER_WORKER * pool_size(sim->pool);
}

/* part over `count` items of instruction k, on the pool when there is one
 * and `elements` make it worth a wake-up. */
static void run_split(Sim *sim, PoolPart part, int k, int64_t count, int64_t elements)
{
    ElementTask t = {sim, k, count};
    if (sim->pool && elements >= SPLIT_ELEMENTS)
        pool_run_parts(sim->pool, sim_parts(sim), part, &t);
    else
        part(&t, 0, 0, 1);
}

static void exec_dequant(Sim *sim, int k)
{
    const Instr *in = &sim->program->instrs[k];
    const DequantParams *d = &in->dequant;
    int64_t channels = d->channels;
    int64_t rows = channels > 0 ? sim->numel[in->src[0]] / channels : 0;
    assert(buffer_f32(sim, in->dst, k) && rows * channels == sim->numel[in->dst]);
    assert(!d->conv || rows == d->batch * d->pixels);
    run_split(sim, dequant_part, k, rows, sim->numel[in->dst]);
}

/* A digital op's parts over the pool's workers (interp_exec_op_part). */
typedef struct {
    const Op *op;
    const float *const *inputs;
    float *result;
} DigitalTask;

static void digital_part(void *context, int w, int i, int n)
{
    const DigitalTask *t = context;
    (void)w;
    interp_exec_op_part(t->op, t->inputs, t->result, i, n);
}

static void exec_digital(Sim *sim, int k)
{
    const Op *op = sim->program->instrs[k].op;
    const float *inputs[64];
    assert(op->n_inputs <= 64);
    for (int i = 0; i < op->n_inputs && i < 64; i++) {
        assert(op->inputs[i]->id < sim->program->n_buffers && sim->f32[op->inputs[i]->id]);
        inputs[i] = buffer_f32(sim, op->inputs[i]->id, k);
    }
    assert(op->result->id < sim->program->n_buffers && sim->f32[op->result->id]);
    float *result = buffer_f32(sim, op->result->id, k);
    if (sim->pool && type_numel(&op->result->type) >= SPLIT_ELEMENTS && interp_op_splits(op))
        pool_run_parts(sim->pool, sim_parts(sim), digital_part, &(DigitalTask){op, inputs, result});
    else
        interp_exec_op(op, inputs, result);
}

/* What is known of buffer id's values this run: all in [bottom, top].
 * Quant knows it of its codes, im2col passes it on (adding zeros); else an
 * mvm checks its source once.  Writing a buffer forgets it (sim_run). */
static void know_range(Sim *sim, int id, bool ok, float bottom, float top)
{
    sim->range_checked[id] = true;
    sim->range_ok[id] = ok;
    sim->range_bottom[id] = bottom;
    sim->range_top[id] = top;
}

/* Whether every value of buffer id lies in [bottom, top] (NaN does not): a
 * block's DACs then need not clamp its codes. */
static bool in_range(Sim *sim, int id, float bottom, float top)
{
    if (sim->range_checked[id] && sim->range_ok[id] && sim->range_bottom[id] >= bottom &&
        sim->range_top[id] <= top)
        return true;
    if (!sim->range_checked[id] || sim->range_bottom[id] != bottom || sim->range_top[id] != top) {
        const float *x = sim->f32[id];
        int inside = 1;
        for (int64_t i = 0; i < sim->numel[id]; i++)
            inside &= (x[i] >= bottom) & (x[i] <= top);
        know_range(sim, id, inside, bottom, top);
    }
    return sim->range_ok[id];
}

/* Whether mvm k's source codes are all within its DACs' range (known or checked once a run). */
bool sim_src_in_range(Sim *sim, int k)
{
    const MvmParams *m = &sim->program->instrs[k].mvm;
    float top = (float)(ldexp(1.0, m->in_signed ? m->in_bits - 1 : m->in_bits) - 1);
    return in_range(sim, sim->program->instrs[k].src[0], m->in_signed ? -top : 0, top);
}

/* The fast path of mvm k and its combine (the next instruction) over source
 * rows [lo, hi), a part of its [row_begin, row_end): each row's sum and its
 * add into the accumulator are the same whoever runs which rows. */
void sim_run_weights(Sim *sim, int k, int64_t lo, int64_t hi, bool in_range_known, const char *codes,
                        MvmScratch *scratch)
{
    const Instr *in = &sim->program->instrs[k], *next = &sim->program->instrs[k + 1];
    const Block *b = &sim->blocks[k];
    int64_t width = last_dim(&sim->program->buffers[in->src[0]].type);
    MvmParams share = in->mvm;
    share.row_begin = lo;
    share.row_end = hi;
    if (codes)
        codes += (size_t)(lo * width + in->mvm.src_col) * int_code_bytes(b->int_weights->kind);
    mvm_execute_weights(&share, b, buffer_f32(sim, in->src[0], k) + lo * width, hi - lo, width,
                        !codes && in_range_known, codes, &next->combine, buffer_f64(sim, next->dst, k),
                        last_dim(&sim->program->buffers[next->dst].type), scratch);
}

/* The DACs' range of mvm k's codes. */
void sim_dac_range(const MvmParams *m, float *bottom, float *top)
{
    *top = (float)(ldexp(1.0, m->in_signed ? m->in_bits - 1 : m->in_bits) - 1);
    *bottom = m->in_signed ? -*top : 0;
}

/* The codes mvm k's integer product reads: its whole source converted once
 * (the cache of sim_codes.c), or NULL (float weights, or codes that are not
 * integers). */
const char *sim_weights_codes(Sim *sim, int k)
{
    const Instr *in = &sim->program->instrs[k];
    const Block *b = &sim->blocks[k];
    if (!b->int_weights)
        return NULL;
    float bottom, top;
    sim_dac_range(&in->mvm, &bottom, &top);
    return int_codes_cached(&sim->codes, in->src[0], buffer_f32(sim, in->src[0], k), sim->numel[in->src[0]],
                            b->int_weights, bottom, top);
}

/* Whether mvm j's integer codes are the cache's for mvm k (the same source
 * read the same way): a threaded layer's pairs share one conversion. */
bool sim_same_codes(const Sim *sim, int j, int k)
{
    const Block *bj = &sim->blocks[j], *bk = &sim->blocks[k];
    const Instr *ij = &sim->program->instrs[j], *ik = &sim->program->instrs[k];
    if (!bj->int_weights || !bk->int_weights)
        return true;        /* a float block reads no codes */
    return ij->src[0] == ik->src[0] && bj->int_weights->kind == bk->int_weights->kind &&
           bj->int_weights->code_offset == bk->int_weights->code_offset && ij->mvm.in_bits == ik->mvm.in_bits &&
           ij->mvm.in_signed == ik->mvm.in_signed;
}

static void exec_mvm(Sim *sim, int k)
{
    const Instr *in = &sim->program->instrs[k];
    int64_t width = last_dim(&sim->program->buffers[in->src[0]].type);
    int64_t rows = width > 0 ? sim->numel[in->src[0]] / width : 0;
    const MvmParams *m = &in->mvm;
    const float *src = buffer_f32(sim, in->src[0], k);
    assert(src);
    assert(rows * m->out_cols <= sim->numel[in->dst]);
    assert(m->row_begin >= 0 && m->row_begin <= m->row_end && m->row_end <= rows);
    (void)rows;
    sim->scratch.record = sim->psum && sim->psum[k].counts ? &sim->psum[k] : NULL;
    /* a replica's share of the rows: the same rows of src and dst */
    int64_t src_at = m->row_begin * width, dst_at = m->row_begin * m->out_cols;
    Block *b = &sim->blocks[k];
    bool linear = mvm_is_linear(m, b, sim->fast_path);
    b->wrote_weights = linear && !m->float_mode && (b->weights || b->int_weights);
    if (b->wrote_weights) {     /* the block and its combine, the next instruction */
        mvm_count_reads(m, m->row_end - m->row_begin, &sim->instr_counters[k]);
        const char *codes = sim_weights_codes(sim, k);
        sim_run_weights(sim, k, m->row_begin, m->row_end, !codes && sim_src_in_range(sim, k), codes, &sim->scratch);
        return;
    }
    if (!b->cells)
        mvm_program_cells(sim->arena, sim->program, m, b);
    if (sim->keep_tables && !b->table && !linear &&
        !mvm_reads_direct(m, b, m->row_end - m->row_begin, sim->scratch.record != NULL)) {
        int group = mvm_table_group(m);
        size_t floats = mvm_table_floats(m, b, group);
        if (floats) {
            b->table = arena_array(sim->arena, floats, sizeof *b->table);
            b->table_group = group;
            mvm_build_table(b, group, b->table);
        }
    }
    float *dst_f = buffer_f32(sim, in->dst, k);
    double *dst_d = buffer_f64(sim, in->dst, k);
    mvm_execute(m, &sim->blocks[k], sim->fast_path, src + src_at, m->row_end - m->row_begin,
                width, dst_f ? dst_f + dst_at : NULL, dst_d ? dst_d + dst_at : NULL, &sim->scratch,
                &sim->instr_counters[k]);
}

/* Check mode before mvm k: its block three ways against the reference. */
static bool check_mvm(Sim *sim, int k)
{
    const Program *pg = sim->program;
    const Instr *in = &pg->instrs[k];
    if (k + 1 >= pg->n_instrs || pg->instrs[k + 1].opcode != INSTR_COMBINE)
        return true;
    int acc = pg->instrs[k + 1].dst;
    if (check_block(sim->check, k, sim->fusable[k], sim->f64[in->dst] != NULL, buffer_f32(sim, in->src[0], k),
                    last_dim(&pg->buffers[in->src[0]].type), buffer_f64(sim, acc, k + 1), last_dim(&pg->buffers[acc].type),
                    &sim->scratch))
        return true;
    fprintf(stderr, "xbarc: %s\n", check_error(sim->check));
    return false;
}

/* Whether Quant k may be left to the im2col after it: that im2col is its
 * codes' only reader and runs in chunks of patches (sim_run_patches), which
 * then quantizes the activations on the way to the integer codes: one pass
 * over them, not a float copy of the codes written and read again.  The
 * same bits: the codes are the Quant's, converted as before. */
static bool quant_fused(const Sim *sim, int k, int *patch_end)
{
    const Program *pg = sim->program;
    const Instr *in = &pg->instrs[k];
    return sim->patches && !sim->check && !sim->psum && !in->quant.float_mode && k + 1 < pg->n_instrs &&
           pg->instrs[k + 1].opcode == INSTR_IM2COL && pg->instrs[k + 1].src[0] == in->dst &&
           sim->readers[in->dst] == 1 && pg->buffers[in->dst].kind == BUF_TEMP &&
           (*patch_end = sim_patch_layer_end(sim, k + 1)) > k + 1;
}

void sim_run(Sim *sim)
{
    const Program *pg = sim->program;
    memset(&sim->counters, 0, sizeof sim->counters);
    memset(sim->range_checked, 0, (size_t)pg->n_buffers * sizeof *sim->range_checked);
    sim->codes.id = -1;
    int threaded_end = 0;       /* instructions before it ran with their layer on the pool */
    int quant_left = -1;        /* a Quant left to the im2col after it (quant_fused) */
    int patch_end = -1;         /* and where that im2col's pairs end */
    for (int k = 0; k < pg->n_instrs; k++) {
        const Instr *in = &pg->instrs[k];
        SimCounters *c = &sim->instr_counters[k];
        memset(c, 0, sizeof *c);
        int written = in->opcode == INSTR_DIGITAL ? in->op->result->id : in->dst;
        if (written >= 0)
            sim->range_checked[written] = false;
        if (written == sim->codes.id)
            sim->codes.id = -1;
        switch (in->opcode) {
        case INSTR_QUANT:
            assert(sim->numel[in->src[0]] == sim->numel[in->dst]);
            if (quant_fused(sim, k, &patch_end)) {
                quant_left = k;
                break;
            }
            run_split(sim, quant_part, k, sim->numel[in->dst], sim->numel[in->dst]);
            if (!in->quant.float_mode) {
                float hi = (float)quant_qmax(in->quant.bits, in->quant.is_signed);
                know_range(sim, in->dst, true, in->quant.is_signed ? -hi : 0, hi);
            }
            break;
        case INSTR_IM2COL:
            if (sim->patches && !sim->check && !sim->psum &&
                (threaded_end = sim_run_patches(sim, k, quant_left == k - 1 ? patch_end : sim_patch_layer_end(sim, k),
                                                quant_left == k - 1 ? k - 1 : -1)) > k)
                break;
            assert(quant_left != k - 1);
            exec_im2col(&in->im2col, buffer_f32(sim, in->src[0], k), buffer_f32(sim, in->dst, k));
            if (sim->range_checked[in->src[0]] && sim->range_ok[in->src[0]] && sim->range_bottom[in->src[0]] <= 0 &&
                sim->range_top[in->src[0]] >= 0)    /* padding adds zeros */
                know_range(sim, in->dst, true, sim->range_bottom[in->src[0]], sim->range_top[in->src[0]]);
            break;
        case INSTR_MVM:
            if (sim->check && !check_mvm(sim, k))
                return;
            if (k >= threaded_end && sim->pool && !sim->check && !sim->psum)
                threaded_end = sim_run_layer_threaded(sim, k);
            if (k < threaded_end)   /* run with its layer: count its reads */
                mvm_count_reads(&in->mvm, in->mvm.row_end - in->mvm.row_begin, c);
            else
                exec_mvm(sim, k);
            break;
        case INSTR_COMBINE:
            exec_combine(sim, k);
            if (sim->check && !check_combine(sim->check, k, buffer_f64(sim, in->dst, k), last_dim(&pg->buffers[in->dst].type))) {
                fprintf(stderr, "xbarc: %s\n", check_error(sim->check));
                return;
            }
            break;
        case INSTR_DEQUANT:
            if (k >= threaded_end)      /* else it ran with its layer's chunks of patches */
                exec_dequant(sim, k);
            break;
        case INSTR_DIGITAL:
            exec_digital(sim, k);
            break;
        case INSTR_COUNT:
            break;
        }
        sim->counters.reads += c->reads;
        sim->counters.conversions += c->conversions;
        sim->counters.saturated += c->saturated;
    }
}
