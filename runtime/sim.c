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
#include "runtime/sim_mvm.h"
#include "runtime/sim_int.h"
#include "runtime/kernels.h"
#include "runtime/pool.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct Sim {
    const Program *program;
    Arena *arena;               /* everything the Sim owns */
    float **f32;                /* by buffer id; NULL for a wide buffer */
    double **f64;               /* by buffer id; NULL for a float32 buffer */
    int64_t *numel;
    Block *blocks;              /* by instruction index, mvm only */
    MvmScratch scratch;
    bool fast_path;
    SimCounters *instr_counters;    /* by instruction index */
    SimCounters counters;
    size_t bytes, unshared_bytes;   /* buffer memory held, and what one buffer each would take */
    PsumHist *psum;             /* statistics hook (study/adc_search.c), by instruction; or NULL */
    const Noise *noise;         /* the chip's non-idealities; NULL when ideal */
    const char *chip_error;     /* why the chip could not be programmed, or NULL */
    bool keep_tables;           /* blocks keep their subset tables (plan_tables) */
    double *combine_row;        /* a row of a combine's f32 source, in double */
    int *weights_of;            /* by instruction: a combine's mvm when it has weights (sim_fast.c), else -1 */
    /* By buffer, this run: whether something is known of its values
     * (range_checked), and what: all within [range_bottom, range_top] or
     * (range_ok false) not (know_range). */
    bool *range_checked, *range_ok;
    float *range_bottom, *range_top;
    int *first, *last;          /* by buffer: the live range memory was planned for */
    bool *fusable;              /* by instruction: an mvm whose combine may be folded into it */
    SimCheck *check;            /* check mode (sim_check.c), or NULL */
    IntCodesCache codes;        /* a source's codes as the integer products take them (sim_int.c) */
    Pool *pool;                 /* sim_set_threads: a layer's rows over threads; or NULL */
    MvmScratch *worker_scratch; /* [pool size]: worker 0 uses `scratch` */
    bool *src_in_range;         /* by instruction: a threaded mvm's source within its DACs' range */
    const char **src_codes;     /* by instruction: a threaded mvm's integer codes (whole source), or NULL */
    int max_rows, max_cols;     /* the widest block's, for the workers' scratch */
    int *readers;               /* by buffer: instructions that read it */
    bool patches;               /* im2col layers gathered in chunks (run_patches); XBARC_IM2COL=copy: never */
    size_t patch_bytes;         /* a worker's chunk of patches */
    void **patch_chunk;         /* [pool size, or 1]: each worker's chunk */
};

static int64_t last_dim(const Type *t)
{
    return t->rank > 0 ? t->dims[t->rank - 1] : 1;
}

enum { PATCH_BYTES = 128 * 1024 };     /* a chunk of codes: within L2 */

/* Rows of a chunk of patches (run_patches) of `width` codes of at most 2
 * bytes: as many as fit, or `rows` when fewer (a layer's share of a thread). */
static int64_t patch_rows(int64_t width, int64_t rows)
{
    int64_t n = PATCH_BYTES / (2 * (width > 0 ? width : 1));
    n = n < 16 ? 16 : n > MVM_READ_TILE ? MVM_READ_TILE : n;
    return rows > 0 && rows < n ? rows : n;
}

/* ---- memory ---- */

/* A buffer's memory as instruction k uses it.  Temporaries share memory
 * between live ranges (plan_memory), so a use outside the range planned for
 * it would read or clobber another buffer's values: debug and sanitizer
 * builds (XBARC_DEBUG_CHECKS) verify every use against the plan. */
static void check_live(const Sim *sim, int id, int k)
{
#ifdef XBARC_DEBUG_CHECKS
    if (sim->program->buffers[id].kind == BUF_TEMP && (k < sim->first[id] || k > sim->last[id])) {
        fprintf(stderr, "xbarc: internal error: instruction %d uses buffer %d ('%s') outside its live range %d..%d\n",
                k, id, sim->program->buffers[id].name, sim->first[id], sim->last[id]);
        abort();
    }
#else
    (void)sim, (void)id, (void)k;
#endif
}

static float *buffer_f32(const Sim *sim, int id, int k)
{
    check_live(sim, id, k);
    return sim->f32[id];
}

static double *buffer_f64(const Sim *sim, int id, int k)
{
    check_live(sim, id, k);
    return sim->f64[id];
}

/* A piece of memory that temporaries take in turn. */
typedef struct {
    size_t bytes;               /* the largest of its occupants */
    int busy_until;             /* last instruction of its current occupant */
    bool im2col;                /* its occupants are im2col results (MemoryPlan.im2col) */
} Slot;

static void touch(int *first, int *last, int id, int k)
{
    if (id < 0)
        return;
    if (first[id] < 0)
        first[id] = k;
    last[id] = k;
}

/* The first and last instruction touching each buffer (-1 when none). */
static void live_ranges(const Program *p, int *first, int *last)
{
    for (int i = 0; i < p->n_buffers; i++)
        first[i] = last[i] = -1;
    for (int k = 0; k < p->n_instrs; k++) {
        const Instr *in = &p->instrs[k];
        if (in->opcode == INSTR_DIGITAL) {
            for (int i = 0; i < in->op->n_inputs; i++)
                touch(first, last, in->op->inputs[i]->id, k);
        } else {
            for (int i = 0; i < 3; i++)
                touch(first, last, in->src[i], k);
        }
        touch(first, last, in->dst, k);
    }
}

/* Whether an mvm's results may pass 2^24 (max code * R * max level), past
 * which float32 memory would round them: they then get float64 memory even
 * if the program says f32 (only combines read them, and they read either
 * width: program_check.c).  Decided from the program alone, so that memory
 * is the same on any chip and sim_memory_bound knows it beforehand (a
 * non-ideal chip's sums are not integers: float32 rounds nothing exact). */
static bool mvm_wide(const Program *p, const MvmParams *m)
{
    if (m->float_mode)
        return false;
    /* levels below 2^cell_bits (program_check.c); a program built in memory
     * without an architecture may hold any level */
    int bits = p->arch.cell_bits >= 1 && p->arch.cell_bits <= 8 ? p->arch.cell_bits : 8;
    double max_code = ldexp(1.0, mvm_magnitude_bits(m)) - 1, max_level = ldexp(1.0, bits) - 1;
    return max_code * m->rows * max_level >= 0x1p24;
}

/* Where the buffers of a program live: their widths, live ranges and slots. */
typedef struct {
    bool *wide;                 /* by buffer: float64 memory */
    int *first, *last;          /* by buffer: the live range (-1 when no instruction touches it) */
    bool *fusable;              /* by instruction: an mvm whose combine may be folded into it */
    int *slot_of;               /* by buffer: its slot, or -1 for memory of its own (or none: constants) */
    /* By buffer: an im2col's result.  They share slots only among themselves,
     * which are not filled with NaNs: when the patches of a layer are
     * gathered a chunk at a time (run_patches) its float im2col is never
     * written, and those pages are never resident. */
    bool *im2col;
    Slot *slots;
    int n_slots;
    size_t bytes, unshared_bytes;   /* buffer memory, and what one buffer each would take */
} MemoryPlan;

static size_t buffer_bytes(const Buffer *b, bool wide)
{
    int64_t n = type_numel(&b->type);
    return (size_t)(n > 0 ? n : 1) * (wide ? sizeof(double) : sizeof(float));
}

/* Which slot each temporary takes.  An interval-graph greedy allocator: in
 * order of first use, each temporary takes a slot whose occupant's live
 * range has ended (the smallest big enough, else the largest, which grows),
 * or a new slot.  Live ranges are closed intervals, so an instruction's
 * sources never share its destination's memory. */
static void assign_slots(Arena *arena, const Program *p, MemoryPlan *m)
{
    int nb = p->n_buffers, ni = p->n_instrs;

    /* buffers by first use: a counting sort on the instruction index */
    int *order = arena_array(arena, (size_t)nb + 1, sizeof *order);
    int *start = arena_array(arena, (size_t)ni + 2, sizeof *start);
    int n_used = 0;
    for (int i = 0; i < nb; i++)
        if (m->first[i] >= 0)
            start[m->first[i] + 1]++, n_used++;
    for (int k = 0; k < ni; k++)
        start[k + 1] += start[k];
    for (int i = 0; i < nb; i++)
        if (m->first[i] >= 0)
            order[start[m->first[i]]++] = i;

    for (int i = 0; i < nb; i++)
        m->slot_of[i] = -1;
    for (int t = 0; t < n_used; t++) {
        int i = order[t];
        if (p->buffers[i].kind != BUF_TEMP)
            continue;
        size_t bytes = buffer_bytes(&p->buffers[i], m->wide[i]);
        m->unshared_bytes += bytes;
        int best = -1;
        for (int s = 0; s < m->n_slots; s++) {
            const Slot *slot = &m->slots[s];
            if (slot->busy_until >= m->first[i] || slot->im2col != m->im2col[i])
                continue;
            bool fits = slot->bytes >= bytes, best_fits = best >= 0 && m->slots[best].bytes >= bytes;
            if (best < 0 || (fits && (!best_fits || slot->bytes < m->slots[best].bytes)) ||
                (!fits && !best_fits && slot->bytes > m->slots[best].bytes))
                best = s;
        }
        if (best < 0) {
            best = m->n_slots++;
            m->slots[best].im2col = m->im2col[i];
        }
        if (m->slots[best].bytes < bytes)
            m->slots[best].bytes = bytes;
        m->slots[best].busy_until = m->last[i];
        m->slot_of[i] = best;
    }
}

/* The memory plan of a checked program, from its fields alone. */
static void plan_memory(Arena *arena, const Program *p, MemoryPlan *m)
{
    int nb = p->n_buffers, ni = p->n_instrs;
    memset(m, 0, sizeof *m);
    m->wide = arena_array(arena, (size_t)nb + 1, sizeof *m->wide);
    m->first = arena_array(arena, (size_t)nb + 1, sizeof *m->first);
    m->last = arena_array(arena, (size_t)nb + 1, sizeof *m->last);
    m->fusable = arena_array(arena, (size_t)ni + 1, sizeof *m->fusable);
    m->slot_of = arena_array(arena, (size_t)nb + 1, sizeof *m->slot_of);
    m->im2col = arena_array(arena, (size_t)nb + 1, sizeof *m->im2col);
    m->slots = arena_array(arena, (size_t)nb + 1, sizeof *m->slots);
    for (int i = 0; i < nb; i++)
        m->wide[i] = p->buffers[i].wide;
    for (int k = 0; k < ni; k++) {
        const Instr *in = &p->instrs[k];
        if (in->opcode == INSTR_MVM && p->buffers[in->dst].kind == BUF_TEMP && mvm_wide(p, &in->mvm))
            m->wide[in->dst] = true;
        if (in->opcode == INSTR_IM2COL)
            m->im2col[in->dst] = true;
    }
    live_ranges(p, m->first, m->last);
    for (int k = 0; k + 1 < ni; k++) {
        const Instr *in = &p->instrs[k], *next = &p->instrs[k + 1];
        m->fusable[k] = in->opcode == INSTR_MVM && next->opcode == INSTR_COMBINE && next->src[0] == in->dst &&
                        p->buffers[in->dst].kind == BUF_TEMP && m->first[in->dst] == k &&
                        m->last[in->dst] == k + 1 && next->combine.row_begin == in->mvm.row_begin &&
                        next->combine.row_end == in->mvm.row_end && p->buffers[next->dst].wide;
    }
    /* A folded mvm writes its combine's accumulator (sim_fast.c): that
     * buffer lives from the mvm on, so it never shares memory with the
     * mvm's source.  Every fusable one, folded or not: the plan is the
     * same on any chip. */
    for (int k = 0; k + 1 < ni; k++) {
        int acc = p->instrs[k + 1].dst;
        if (m->fusable[k] && m->first[acc] > k)
            m->first[acc] = k;
    }
    assign_slots(arena, p, m);
    for (int s = 0; s < m->n_slots; s++)
        m->bytes += m->slots[s].bytes;
    for (int i = 0; i < nb; i++) {
        if (p->buffers[i].kind == BUF_CONST || m->slot_of[i] >= 0)
            continue;
        size_t bytes = buffer_bytes(&p->buffers[i], m->wide[i]);
        m->bytes += bytes;
        m->unshared_bytes += bytes;
    }
}

/* Gives every buffer its memory: constants their data, temporaries a slot,
 * inputs and outputs (and a temporary no instruction touches) their own.  The
 * slots start as NaNs, so that a read of a row nobody wrote shows in the
 * outputs instead of passing as a zero; but for im2col results', which stay
 * untouched until an im2col writes them whole (the arena's big blocks are
 * fresh mapped pages: not resident until written). */
static void give_memory(Sim *sim, const MemoryPlan *m)
{
    const Program *p = sim->program;
    void **memory = arena_array(sim->arena, (size_t)m->n_slots + 1, sizeof *memory);
    for (int s = 0; s < m->n_slots; s++) {
        memory[s] = arena_alloc(sim->arena, m->slots[s].bytes);
        if (!m->slots[s].im2col)
            memset(memory[s], 0xff, m->slots[s].bytes);     /* a NaN as float and as double */
    }
    sim->bytes = m->bytes;
    sim->unshared_bytes = m->unshared_bytes;
    for (int i = 0; i < p->n_buffers; i++) {
        const Buffer *b = &p->buffers[i];
        sim->numel[i] = type_numel(&b->type);
        if (b->kind == BUF_CONST) {
            assert(!b->wide && b->data);
            sim->f32[i] = b->data;
            continue;
        }
        assert(!m->wide[i] || b->kind == BUF_TEMP);
        void *at = m->slot_of[i] >= 0 ? memory[m->slot_of[i]] : arena_alloc(sim->arena, buffer_bytes(b, m->wide[i]));
        if (m->wide[i])
            sim->f64[i] = at;
        else
            sim->f32[i] = at;
    }
}

/* The subset tables of 1-bit reads (runtime/sim_mvm.c, mvm_table_group)
 * are kept for every block when they all fit TABLE_BUDGET (a small net read
 * image after image), each built when its mvm first runs through reads;
 * else each run of an mvm builds its table (a big net, whose tables cost
 * little next to its reads).  Returns the largest table, for the scratch. */
enum { TABLE_BUDGET = 64 << 20 };

static size_t plan_tables(Sim *sim)
{
    const Program *p = sim->program;
    size_t total = 0, largest = 0;
    for (int k = 0; k < p->n_instrs; k++) {
        const MvmParams *m = &p->instrs[k].mvm;
        if (p->instrs[k].opcode != INSTR_MVM)
            continue;
        size_t floats = mvm_table_floats(m, &sim->blocks[k], mvm_table_group(m));
        total += floats;
        largest = floats > largest ? floats : largest;
    }
    sim->keep_tables = total * sizeof(float) <= TABLE_BUDGET;
    return sim->keep_tables ? 0 : largest;
}

/* The widest source of a combine (its f32 rows are read through a double row). */
static int64_t max_combine_width(const Program *p)
{
    int64_t widest = 1;
    for (int k = 0; k < p->n_instrs; k++) {
        const Instr *in = &p->instrs[k];
        int64_t width = in->opcode == INSTR_COMBINE ? last_dim(&p->buffers[in->src[0]].type) : 0;
        widest = width > widest ? width : widest;
    }
    return widest;
}

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
    plan_memory(arena, program, &plan);
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
     * its source's codes in the cache, a chunk of its patches */
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
        bytes = (size_t)((patch_rows(width, 0) * width + INT_CODES_PAD) * 2);
        sim->patch_bytes = bytes > sim->patch_bytes ? bytes : sim->patch_bytes;
    }
    const char *im2col = getenv("XBARC_IM2COL");
    sim->patches = !sim->noise && sim->patch_bytes && !(im2col && strcmp(im2col, "copy") == 0);
    if (sim->patches) {
        sim->patch_chunk = arena_array(arena, 1, sizeof *sim->patch_chunk);
        sim->patch_chunk[0] = arena_alloc(arena, sim->patch_bytes);
    }
    sim->codes.data = sim->codes.max_bytes ? arena_alloc(arena, sim->codes.max_bytes) : NULL;
    sim->codes.id = -1;
    sim->combine_row = arena_array(arena, (size_t)max_combine_width(program), sizeof *sim->combine_row);
    sim->range_checked = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->range_checked);
    sim->range_ok = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->range_ok);
    sim->range_bottom = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->range_bottom);
    sim->range_top = arena_array(arena, (size_t)(nb > 0 ? nb : 1), sizeof *sim->range_top);
    give_memory(sim, &plan);
    mvm_scratch_init(arena, &sim->scratch, max_rows, max_cols, plan_tables(sim));
    sim->max_rows = max_rows;
    sim->max_cols = max_cols;
    const char *check = getenv("XBARC_CHECK");
    if (check && *check && strcmp(check, "0") != 0)
        sim_set_check(sim, true);
    return sim;
}

/* Everything sim_new_seeded takes and sim_run adds (blocks' cells and
 * tables), at most, on any chip: what program_check.c holds against the
 * memory limit before anything is allocated.  Buffers as planned; per
 * block the most any chip needs (a non-ideal one keeps read variances
 * beside the cells); the kept tables (at most TABLE_BUDGET) or the largest
 * one; the scratch of the widest block. */
uint64_t sim_memory_bound(const Program *p)
{
    Arena *arena = arena_new();
    MemoryPlan plan;
    plan_memory(arena, p, &plan);
    uint64_t bytes = sizeof(Sim) + sizeof(Noise) + plan.bytes;
    bytes += (uint64_t)p->n_buffers * (2 * sizeof(void *) + sizeof(int64_t) + 4 * sizeof(float) + sizeof plan.slots[0] +
                                      3 * sizeof(int) + 2 * sizeof(bool));
    bytes += (uint64_t)p->n_instrs * (sizeof(Block) + sizeof(SimCounters) + sizeof(int) + sizeof(bool));
    uint64_t tables = 0, largest_table = 0, max_codes = 0;
    int max_rows = 1, max_cols = 1;
    for (int k = 0; k < p->n_instrs; k++) {
        const MvmParams *m = &p->instrs[k].mvm;
        if (p->instrs[k].opcode != INSTR_MVM)
            continue;
        uint64_t rows = (uint64_t)m->rows, cols = (uint64_t)m->out_cols, phys = (uint64_t)m->phys_cols;
        uint64_t padded = (cols + MVM_TABLE_PAD - 1) / MVM_TABLE_PAD * MVM_TABLE_PAD;
        bytes += rows * 2 * cols * sizeof(float)                            /* cells and read variances */
                 + rows * padded * sizeof(float) + 2 * cols * sizeof(float)  /* fast-path weights */
                 + (rows + 3) * padded * sizeof(int16_t) + cols * sizeof(int64_t)  /* as integers (sim_int.c) */
                 + phys * (1 + 2 * sizeof(double)) + 2 * cols * sizeof(float);  /* programming, ADC errors */
        if (!m->float_mode && m->dac_bits == 1) {
            int group = mvm_table_group(m);
            uint64_t ld = (2 * cols + MVM_TABLE_PAD - 1) / MVM_TABLE_PAD * MVM_TABLE_PAD;
            uint64_t floats = (uint64_t)mvm_table_groups(m->rows, group) * ((uint64_t)1 << group) * ld;
            tables += floats * sizeof(float);
            largest_table = floats * sizeof(float) > largest_table ? floats * sizeof(float) : largest_table;
        }
        max_rows = m->rows > max_rows ? m->rows : max_rows;
        max_cols = m->out_cols > max_cols ? m->out_cols : max_cols;
        uint64_t codes = (uint64_t)(type_numel(&p->buffers[p->instrs[k].src[0]].type) + INT_CODES_PAD) * sizeof(int16_t);
        max_codes = codes > max_codes ? codes : max_codes;  /* a source's codes as integers */
    }
    bytes += max_codes;
    tables = tables < TABLE_BUDGET ? tables : TABLE_BUDGET;
    bytes += tables > largest_table ? tables : largest_table;
    bytes += mvm_scratch_bytes(max_rows, max_cols) + (uint64_t)max_combine_width(p) * sizeof(double);
    arena_free(arena);
    return bytes;
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

/* Activation codes (docs/crossbar.md 3): quant_code, the very function the
 * integer reference uses (runtime/quant.h), so both agree bit for bit. */
static void exec_quant(const QuantParams *q, const float *x, float *codes, int64_t n)
{
    if (q->float_mode) {
        memcpy(codes, x, (size_t)n * sizeof *codes);
        return;
    }
    int32_t hi = quant_qmax(q->bits, q->is_signed), lo = q->is_signed ? -hi : 0;
    for (int64_t i = 0; i < n; i++)
        codes[i] = (float)quant_code(x[i], q->scale, lo, hi);
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

/* y = (float)acc * out_scale[n] + bias[n] (docs/crossbar.md 3), two statements
 * so that the product is rounded to float before the add; accumulator rows
 * [lo, hi) (each output element is written once, from its own sum: any
 * split of the rows gives the same bits). */
static void dequant_rows(Sim *sim, int k, int64_t lo, int64_t hi)
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
            for (int64_t n = 0; n < channels; n++) {
                float scaled = (float)element(sim, in->src[0], p * channels + n) * out_scale(d, n);
                y[base + n * stride] = bias ? scaled + bias[n] : scaled;
            }
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
            float scale = out_scale(d, n), add = bias ? bias[n] : 0;
            for (int64_t i = 0; i < count; i++) {
                float scaled = (float)ab[i * channels + n] * scale;
                yb[n * pixels + i] = bias ? scaled + add : scaled;
            }
        }
    }
}

/* Quant and dequant over the pool's workers (sim_set_threads): worker w of
 * n takes elements (quant) or accumulator rows (dequant) [N w / n, N (w + 1)
 * / n); each output is the same function of its own inputs on any thread. */
typedef struct {
    Sim *sim;
    int k;
    int64_t count;              /* elements, or rows */
} ElementTask;

static void quant_share(void *context, int w, int n)
{
    const ElementTask *t = context;
    const Instr *in = &t->sim->program->instrs[t->k];
    int64_t lo = t->count * w / n, hi = t->count * (w + 1) / n;
    exec_quant(&in->quant, buffer_f32(t->sim, in->src[0], t->k) + lo, buffer_f32(t->sim, in->dst, t->k) + lo, hi - lo);
}

static void dequant_share(void *context, int w, int n)
{
    const ElementTask *t = context;
    dequant_rows(t->sim, t->k, t->count * w / n, t->count * (w + 1) / n);
}

enum { SPLIT_ELEMENTS = 1 << 15 };     /* below this, one thread: a wake-up costs more */

/* task over `count` items of instruction k, on the pool when there is one
 * and `elements` make it worth a wake-up. */
static void run_split(Sim *sim, PoolTask task, int k, int64_t count, int64_t elements)
{
    ElementTask t = {sim, k, count};
    if (sim->pool && elements >= SPLIT_ELEMENTS)
        pool_run(sim->pool, task, &t);
    else
        task(&t, 0, 1);
}

static void exec_dequant(Sim *sim, int k)
{
    const Instr *in = &sim->program->instrs[k];
    const DequantParams *d = &in->dequant;
    int64_t channels = d->channels;
    int64_t rows = channels > 0 ? sim->numel[in->src[0]] / channels : 0;
    assert(buffer_f32(sim, in->dst, k) && rows * channels == sim->numel[in->dst]);
    assert(!d->conv || rows == d->batch * d->pixels);
    run_split(sim, dequant_share, k, rows, sim->numel[in->dst]);
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
    interp_exec_op(op, inputs, buffer_f32(sim, op->result->id, k));
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
static bool src_in_range(Sim *sim, int k)
{
    const MvmParams *m = &sim->program->instrs[k].mvm;
    float top = (float)(ldexp(1.0, m->in_signed ? m->in_bits - 1 : m->in_bits) - 1);
    return in_range(sim, sim->program->instrs[k].src[0], m->in_signed ? -top : 0, top);
}

/* The fast path of mvm k and its combine (the next instruction) over source
 * rows [lo, hi), a part of its [row_begin, row_end): each row's sum and its
 * add into the accumulator are the same whoever runs which rows. */
static void run_weights(Sim *sim, int k, int64_t lo, int64_t hi, bool in_range_known, const char *codes,
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
static void dac_range(const MvmParams *m, float *bottom, float *top)
{
    *top = (float)(ldexp(1.0, m->in_signed ? m->in_bits - 1 : m->in_bits) - 1);
    *bottom = m->in_signed ? -*top : 0;
}

/* The codes mvm k's integer product reads: its whole source converted once
 * (the cache of sim_int.c), or NULL (float weights, or codes that are not
 * integers). */
static const char *weights_codes(Sim *sim, int k)
{
    const Instr *in = &sim->program->instrs[k];
    const Block *b = &sim->blocks[k];
    if (!b->int_weights)
        return NULL;
    float bottom, top;
    dac_range(&in->mvm, &bottom, &top);
    return int_codes_cached(&sim->codes, in->src[0], buffer_f32(sim, in->src[0], k), sim->numel[in->src[0]],
                            b->int_weights, bottom, top);
}

/* Whether mvm j's integer codes are the cache's for mvm k (the same source
 * read the same way): a threaded layer's pairs share one conversion. */
static bool same_codes(const Sim *sim, int j, int k)
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
        const char *codes = weights_codes(sim, k);
        run_weights(sim, k, m->row_begin, m->row_end, !codes && src_in_range(sim, k), codes, &sim->scratch);
        return;
    }
    if (!b->cells)
        mvm_program_cells(sim->arena, sim->program, m, b);
    if (sim->keep_tables && !b->table && !linear) {
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

/* ---- a layer's rows over threads (sim_set_threads) ----
 *
 * A layer's blocks on the fast path are mvm + combine pairs in a row, all
 * reading the layer's codes and adding into its accumulator, row p of the
 * source into row p.  Worker w of n takes source rows [P w / n, P (w + 1) / n)
 * of every pair, in instruction order: each row gets the same sums added in
 * the same order as on one thread, so the output is the same bits for any n
 * (tests/unit/test_sim_threads.c).  One wake-up per layer, not per block. */
typedef struct {
    Sim *sim;
    int begin, end;             /* instructions [begin, end): the pairs */
} LayerRows;

static void layer_rows(void *context, int w, int n)
{
    const LayerRows *t = context;
    Sim *sim = t->sim;
    const Program *pg = sim->program;
    for (int k = t->begin; k < t->end; k += 2) {
        const Instr *in = &pg->instrs[k];
        int64_t width = last_dim(&pg->buffers[in->src[0]].type);
        int64_t rows = width > 0 ? sim->numel[in->src[0]] / width : 0;
        int64_t lo = rows * w / n, hi = rows * (w + 1) / n;
        lo = lo > in->mvm.row_begin ? lo : in->mvm.row_begin;
        hi = hi < in->mvm.row_end ? hi : in->mvm.row_end;
        if (lo < hi)
            run_weights(sim, k, lo, hi, sim->src_in_range[k], sim->src_codes[k],
                        w == 0 ? &sim->scratch : &sim->worker_scratch[w]);
    }
}

/* Runs the fast-path pairs from instruction k on the pool; returns where they
 * end (k: none to run). */
static int run_layer_threaded(Sim *sim, int k)
{
    const Program *pg = sim->program;
    int end = k, first_int = -1;
    while (end + 1 < pg->n_instrs && pg->instrs[end].opcode == INSTR_MVM &&
           pg->instrs[end + 1].opcode == INSTR_COMBINE && sim->weights_of[end + 1] == end &&
           !pg->instrs[end].mvm.float_mode && mvm_is_linear(&pg->instrs[end].mvm, &sim->blocks[end], sim->fast_path) &&
           (first_int < 0 || same_codes(sim, end, first_int))) {
        if (first_int < 0 && sim->blocks[end].int_weights)
            first_int = end;
        end += 2;
    }
    for (int j = k; j < end; j += 2) {      /* the codes converted once, before the workers read them */
        sim->blocks[j].wrote_weights = true;
        sim->src_codes[j] = weights_codes(sim, j);
        sim->src_in_range[j] = !sim->src_codes[j] && src_in_range(sim, j);
    }
    if (end > k)
        pool_run(sim->pool, layer_rows, &(LayerRows){sim, k, end});
    return end;
}

/* ---- a convolution's patches a chunk at a time ----
 *
 * When every reader of an im2col buffer is a fast-path pair with integer
 * weights right after it, the float im2col is never written: per chunk of
 * output pixels (rows), the codes of their patches are gathered from the
 * layer's source codes into a small buffer (int_patches_gather) and every
 * pair runs on it before the next chunk.  Each row gets the same sums in the
 * same order as from the whole buffer, so the same bits; the chunks are the
 * threads' unit (each worker its own chunk buffer). */

typedef struct {
    Sim *sim;
    int begin, end;             /* the pairs: instructions [begin, end) */
    const Im2colParams *im2col;
    const void *codes;          /* the source's codes */
    int pad;                    /* the code of a zero outside the input */
    int64_t rows, width, chunk_rows;
} PatchLayer;

static void patch_chunks(void *context, int w, int n)
{
    const PatchLayer *t = context;
    Sim *sim = t->sim;
    const Program *pg = sim->program;
    MvmScratch *scratch = w == 0 ? &sim->scratch : &sim->worker_scratch[w];
    char *chunk = sim->patch_chunk[w];
    size_t bytes = int_code_bytes(sim->blocks[t->begin].int_weights->kind);
    /* worker w's rows, in chunks: shares within a row of each other (whole
     * chunks over workers left ResNet-18's 49-pixel layers 32 : 17) */
    int64_t end = t->rows * (w + 1) / n;
    for (int64_t lo = t->rows * w / n; lo < end; lo += t->chunk_rows) {
        int64_t hi = lo + t->chunk_rows < end ? lo + t->chunk_rows : end;
        int_patches_gather(t->im2col, sim->blocks[t->begin].int_weights->kind, t->codes, t->pad, lo, hi - lo, chunk);
        for (int k = t->begin; k < t->end; k += 2) {
            const Instr *in = &pg->instrs[k], *next = &pg->instrs[k + 1];
            MvmParams share = in->mvm;
            share.row_begin = lo > in->mvm.row_begin ? lo : in->mvm.row_begin;
            share.row_end = hi < in->mvm.row_end ? hi : in->mvm.row_end;
            if (share.row_begin >= share.row_end)
                continue;
            mvm_execute_weights(&share, &sim->blocks[k], buffer_f32(sim, in->src[0], k) + share.row_begin * t->width,
                                share.row_end - share.row_begin, t->width, false,
                                chunk + (size_t)((share.row_begin - lo) * t->width + in->mvm.src_col) * bytes,
                                &next->combine, buffer_f64(sim, next->dst, k),
                                last_dim(&pg->buffers[next->dst].type), scratch);
        }
    }
}

/* Im2col k and the pairs after it in chunks of patches when they may be:
 * returns where the pairs end, or k (the float im2col is made as before). */
static int run_patches(Sim *sim, int k)
{
    const Program *pg = sim->program;
    const Instr *in = &pg->instrs[k];
    int end = k + 1, pairs = 0;
    while (end + 1 < pg->n_instrs && pg->instrs[end].opcode == INSTR_MVM && pg->instrs[end].src[0] == in->dst &&
           pg->instrs[end + 1].opcode == INSTR_COMBINE && sim->weights_of[end + 1] == end &&
           sim->blocks[end].int_weights && !pg->instrs[end].mvm.float_mode &&
           mvm_is_linear(&pg->instrs[end].mvm, &sim->blocks[end], sim->fast_path) && same_codes(sim, end, k + 1)) {
        end += 2;
        pairs++;
    }
    int64_t taps = in->im2col.kernel[0] * (in->im2col.spatial > 1 ? in->im2col.kernel[1] : 1) *
                   (in->im2col.spatial > 2 ? in->im2col.kernel[2] : 1);
    if (pairs == 0 || pairs != sim->readers[in->dst] || pg->buffers[in->dst].kind != BUF_TEMP ||
        taps > INT_PATCH_TAPS)
        return k;
    const IntWeights *iw = sim->blocks[k + 1].int_weights;
    float bottom, top, zero = 0;
    dac_range(&pg->instrs[k + 1].mvm, &bottom, &top);
    const void *codes = int_codes_cached(&sim->codes, in->src[0], buffer_f32(sim, in->src[0], k),
                                         sim->numel[in->src[0]], iw, bottom, top);
    if (!codes)
        return k;               /* codes that are not integers: the float path */
    int16_t pad[1 + INT_CODES_PAD];
    int_codes_convert(iw, &zero, 1, 1, 1, bottom, top, pad);
    int64_t width = last_dim(&pg->buffers[in->dst].type);
    int64_t rows = width > 0 ? sim->numel[in->dst] / width : 0;
    int workers = sim->pool ? pool_size(sim->pool) : 1;
    PatchLayer t = {
        .sim = sim, .begin = k + 1, .end = end, .im2col = &in->im2col, .codes = codes,
        .pad = iw->kind == INT_CODES_U8 ? *(uint8_t *)pad : pad[0], .rows = rows, .width = width,
        .chunk_rows = patch_rows(width, (rows + workers - 1) / workers),
    };
    for (int j = k + 1; j < end; j += 2)
        sim->blocks[j].wrote_weights = true;
    if (sim->pool)
        pool_run(sim->pool, patch_chunks, &t);
    else
        patch_chunks(&t, 0, 1);
    return end;
}

bool sim_set_threads(Sim *sim, int threads)
{
    pool_free(sim->pool);
    sim->pool = NULL;
    if (threads <= 1)
        return true;
    sim->pool = pool_new(threads);
    if (!sim->pool)
        return false;
    sim->worker_scratch = arena_array(sim->arena, (size_t)threads, sizeof *sim->worker_scratch);
    for (int w = 1; w < threads; w++)
        mvm_scratch_init(sim->arena, &sim->worker_scratch[w], sim->max_rows, sim->max_cols, 0);
    if (sim->patches) {
        void **chunks = arena_array(sim->arena, (size_t)threads, sizeof *chunks);
        chunks[0] = sim->patch_chunk[0];
        for (int w = 1; w < threads; w++)
            chunks[w] = arena_alloc(sim->arena, sim->patch_bytes);
        sim->patch_chunk = chunks;
    }
    if (!sim->src_in_range) {
        sim->src_in_range = arena_array(sim->arena, (size_t)(sim->program->n_instrs + 1), sizeof *sim->src_in_range);
        sim->src_codes = arena_array(sim->arena, (size_t)(sim->program->n_instrs + 1), sizeof *sim->src_codes);
    }
    return true;
}

void sim_run(Sim *sim)
{
    const Program *pg = sim->program;
    memset(&sim->counters, 0, sizeof sim->counters);
    memset(sim->range_checked, 0, (size_t)pg->n_buffers * sizeof *sim->range_checked);
    sim->codes.id = -1;
    int threaded_end = 0;       /* instructions before it ran with their layer on the pool */
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
            run_split(sim, quant_share, k, sim->numel[in->dst], sim->numel[in->dst]);
            if (!in->quant.float_mode) {
                float hi = (float)quant_qmax(in->quant.bits, in->quant.is_signed);
                know_range(sim, in->dst, true, in->quant.is_signed ? -hi : 0, hi);
            }
            break;
        case INSTR_IM2COL:
            if (sim->patches && !sim->check && !sim->psum && (threaded_end = run_patches(sim, k)) > k)
                break;
            exec_im2col(&in->im2col, buffer_f32(sim, in->src[0], k), buffer_f32(sim, in->dst, k));
            if (sim->range_checked[in->src[0]] && sim->range_ok[in->src[0]] && sim->range_bottom[in->src[0]] <= 0 &&
                sim->range_top[in->src[0]] >= 0)    /* padding adds zeros */
                know_range(sim, in->dst, true, sim->range_bottom[in->src[0]], sim->range_top[in->src[0]]);
            break;
        case INSTR_MVM:
            if (sim->check && !check_mvm(sim, k))
                return;
            if (k >= threaded_end && sim->pool && !sim->check && !sim->psum)
                threaded_end = run_layer_threaded(sim, k);
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
