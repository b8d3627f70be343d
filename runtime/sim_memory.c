/* sim_memory.c: where a program's buffers live (runtime/sim.c): their
 * widths, live ranges and the slots temporaries share, the tables kept, and
 * the bound on everything a Sim takes (sim_memory_bound). */
#include "runtime/sim_state.h"

#include <assert.h>
#include <math.h>
#include <string.h>

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
void sim_plan_memory(Arena *arena, const Program *p, MemoryPlan *m)
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
void sim_give_memory(Sim *sim, const MemoryPlan *m)
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
size_t sim_plan_tables(Sim *sim)
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
int64_t sim_max_combine_width(const Program *p)
{
    int64_t widest = 1;
    for (int k = 0; k < p->n_instrs; k++) {
        const Instr *in = &p->instrs[k];
        int64_t width = in->opcode == INSTR_COMBINE ? last_dim(&p->buffers[in->src[0]].type) : 0;
        widest = width > widest ? width : widest;
    }
    return widest;
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
    sim_plan_memory(arena, p, &plan);
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
    /* an im2col layer's chunk of patches and the chunk widened (sim.c), and
     * its source's codes padded */
    uint64_t chunk = 0, padded_codes = 0;
    for (int k = 0; k < p->n_instrs; k++) {
        if (p->instrs[k].opcode != INSTR_IM2COL)
            continue;
        int64_t width = last_dim(&p->buffers[p->instrs[k].dst].type);
        uint64_t c = 2 * (uint64_t)patch_chunk_bytes(width), q = padded_codes_bytes(&p->instrs[k].im2col);
        chunk = c > chunk ? c : chunk;
        padded_codes = q > padded_codes ? q : padded_codes;
    }
    bytes += chunk + padded_codes;
    tables = tables < TABLE_BUDGET ? tables : TABLE_BUDGET;
    bytes += tables > largest_table ? tables : largest_table;
    bytes += mvm_scratch_bytes(max_rows, max_cols) + (uint64_t)sim_max_combine_width(p) * sizeof(double);
    arena_free(arena);
    return bytes;
}
