/* sim_check.c: check mode, every block computed three ways (docs/crossbar.md 10).
 *
 * The simulator has three routes through a block: the per-read path (DAC
 * chunks, column sums, ADC, shift-and-add: sim_mvm.c), the linear fast path
 * of a lossless block (one product of the codes), and the folded-weights
 * path that also does the block's combine (sim_fast.c).  On an ideal chip
 * they must give the same bits, and those of the integer reference.  Check
 * mode (XBARC_CHECK=1, or sim_set_check) runs, before each mvm, the block on
 * the chip's *ideal* cells through
 *   - the reference below: docs/crossbar.md 8 read literally, one read at a
 *     time, column sums in double (exact: they are integers below 2^53), the
 *     ADC of section 7 by a division and nearbyint;
 *   - the per-read path, at zero noise;
 *   - each fast path the block can take;
 * and stops at the first difference.  After the block's combine it compares
 * the accumulator the run really wrote (an ideal chip only) with what the
 * reference adds to it: that catches a path that computes right but writes
 * where it should not (memory two live buffers share, rows of another
 * replica).  It is slow (the reference does every read) and meant for tests
 * and for doubt; a noisy chip is checked on its ideal cells, its own outputs
 * are not. */
#include "runtime/sim_mvm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct SimCheck {
    const Program *program;
    Arena *arena;
    bool compare_run;           /* the chip is ideal: its accumulators must match too */
    Block *ideal;               /* by instruction: the block on ideal cells, made at its first check */
    bool *made;
    double *reference, *other;  /* [rows x out_cols]: mvm results */
    double *expected, *before;  /* [rows x n_cols]: the combine's contribution, the accumulator before */
    double *full;               /* [P x out_width]: the folded-weights path's accumulator */
    double *row;                /* a combine's row */
    double *sums;               /* [phys cols]: one read's column sums */
    float *table;               /* the subset table of the block being checked (sim_table.c) */
    int pending;                /* the mvm whose combine comes next, or -1 */
    char *error;
};

static size_t larger(size_t a, size_t b)
{
    return a > b ? a : b;
}

SimCheck *check_new(Arena *arena, const Program *program, bool ideal_chip)
{
    SimCheck *ck = arena_alloc(arena, sizeof *ck);
    ck->program = program;
    ck->arena = arena;
    ck->compare_run = ideal_chip;
    ck->pending = -1;
    int ni = program->n_instrs;
    ck->ideal = arena_array(arena, (size_t)(ni > 0 ? ni : 1), sizeof *ck->ideal);
    ck->made = arena_array(arena, (size_t)(ni > 0 ? ni : 1), sizeof *ck->made);
    size_t mvm_floats = 1, block_floats = 1, acc_floats = 1, width = 1, phys = 1, table = 1;
    for (int k = 0; k + 1 < ni; k++) {
        const Instr *in = &program->instrs[k], *next = &program->instrs[k + 1];
        if (in->opcode != INSTR_MVM || next->opcode != INSTR_COMBINE)
            continue;
        size_t rows = (size_t)(in->mvm.row_end - in->mvm.row_begin);
        const Type *acc = &program->buffers[next->dst].type;
        mvm_floats = larger(mvm_floats, rows * (size_t)in->mvm.out_cols);
        block_floats = larger(block_floats, rows * (size_t)next->combine.n_cols);
        acc_floats = larger(acc_floats, (size_t)type_numel(acc));
        width = larger(width, (size_t)in->mvm.out_cols);
        phys = larger(phys, (size_t)in->mvm.phys_cols);
        /* the largest table: groups of 8 rows (sim_table.c) */
        size_t ld = ((size_t)in->mvm.out_cols + MVM_TABLE_PAD - 1) / MVM_TABLE_PAD * MVM_TABLE_PAD;
        table = larger(table, ((size_t)in->mvm.rows + 7) / 8 * 256 * (ld ? ld : MVM_TABLE_PAD));
    }
    ck->reference = arena_array(arena, mvm_floats, sizeof(double));
    ck->other = arena_array(arena, mvm_floats, sizeof(double));
    ck->expected = arena_array(arena, block_floats, sizeof(double));
    ck->before = arena_array(arena, block_floats, sizeof(double));
    ck->full = arena_array(arena, acc_floats, sizeof(double));
    ck->row = arena_array(arena, width, sizeof(double));
    ck->sums = arena_array(arena, phys, sizeof(double));
    ck->table = arena_array(arena, table, sizeof(float));
    return ck;
}

const char *check_error(const SimCheck *ck)
{
    return ck ? ck->error : NULL;
}

/* ---- the reference ---- */

/* The ADC of docs/crossbar.md 7 on one column sum. */
static double reference_adc(const MvmParams *mp, double v)
{
    bool is_signed = mp->sign == SIGN_PAIR_ANALOG;
    double levels = is_signed ? ldexp(1.0, mp->adc_bits - 1) - 1 : ldexp(1.0, mp->adc_bits) - 1;
    /* adc_max is a float: past 2^24 it cannot spell the code range, which
     * then means a step of 1 (docs/program-format.md) */
    double step = mp->adc_max == (float)levels ? 1.0 : (double)mp->adc_max / levels;
    double code = nearbyint(v / step);
    double lo = is_signed ? -levels : 0;
    code = code < lo ? lo : code > levels ? levels : code;
    return code * step;
}

/* out[i][j] for n source rows: every read of the block, as the contract says. */
static void reference_mvm(SimCheck *ck, const MvmParams *mp, const float *src, int64_t n, int64_t width,
                          double *out)
{
    const Tile *tile = &ck->program->tiles[mp->tile];
    int magnitude_bits = mvm_magnitude_bits(mp), cycles = mvm_cycles(mp), passes = mvm_passes(mp);
    double top = ldexp(1.0, magnitude_bits) - 1;
    uint32_t mask = (uint32_t)((1u << mp->dac_bits) - 1);
    bool pair = mp->sign == SIGN_PAIR_ANALOG;
    for (int64_t i = 0; i < n; i++) {
        const float *code = src + i * width + mp->src_col;
        double *y = out + i * mp->out_cols;
        for (int j = 0; j < mp->out_cols; j++)
            y[j] = 0;
        for (int pass = 0; pass < passes; pass++)
            for (int c = 0; c < cycles; c++) {
                for (int j = 0; j < mp->phys_cols; j++)
                    ck->sums[j] = 0;
                for (int r = 0; r < mp->rows; r++) {
                    double v = pass == 0 ? code[r] : -code[r];
                    uint32_t magnitude = v > 0 ? (uint32_t)(v < top ? v : top) : 0;   /* the DAC's range */
                    uint32_t chunk = (magnitude >> (c * mp->dac_bits)) & mask;
                    if (!chunk)
                        continue;
                    size_t first = (size_t)(mp->tile_row + r) * tile->cols + mp->tile_col;
                    for (int j = 0; j < mp->phys_cols; j++)
                        ck->sums[j] += (double)chunk * tile_cell(tile, first + j);
                }
                double weight = ldexp(pass ? -1.0 : 1.0, c * mp->dac_bits);
                for (int j = 0; j < mp->out_cols; j++) {
                    double v = pair ? ck->sums[2 * j] - ck->sums[2 * j + 1] : ck->sums[j];
                    y[j] += weight * reference_adc(mp, v);
                }
            }
    }
}

/* ---- the comparisons ---- */

static bool differ(SimCheck *ck, int k, const char *what, const char *against, int64_t row, int col, double want,
                   double got)
{
    const Instr *in = &ck->program->instrs[k];
    ck->error = arena_printf(ck->arena,
                             "check: instruction %d (mvm of layer '%s', tile %d at %d,%d), source row %lld, "
                             "column %d: %s gives %.17g, %s %.17g",
                             k, in->layer ? in->layer : "?", in->mvm.tile, in->mvm.tile_row, in->mvm.tile_col,
                             (long long)row, col, against, want, what, got);
    return false;
}

/* Whether a[n x cols] (rows ld apart) equals b; else the first difference. */
static bool same(SimCheck *ck, int k, const char *what, const char *against, const double *want, int64_t want_ld,
                 const double *got, int64_t got_ld, int64_t n, int cols, int64_t first_row)
{
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < cols; j++) {
            double a = want[i * want_ld + j], b = got[i * got_ld + j];
            if (a != b && !(isnan(a) && isnan(b)))
                return differ(ck, k, what, against, first_row + i, j, a, b);
        }
    return true;
}

static Block *ideal_block(SimCheck *ck, int k, bool fusable)
{
    Block *b = &ck->ideal[k];
    if (!ck->made[k]) {
        const Program *p = ck->program;
        const Instr *in = &p->instrs[k];
        mvm_program_block(ck->arena, p, &in->mvm, NULL, k, b);
        mvm_program_cells(ck->arena, p, &in->mvm, b);
        if (fusable && b->adc.lossless)
            mvm_program_weights(ck->arena, p, &in->mvm, &p->instrs[k + 1].combine, b);
        ck->made[k] = true;
    }
    /* the per-read path's subset table, built anew in the one scratch */
    int group = mvm_table_group(&ck->program->instrs[k].mvm);
    if (mvm_table_floats(&ck->program->instrs[k].mvm, b, group)) {
        b->table = ck->table;
        b->table_group = group;
        mvm_build_table(b, group, b->table);
    }
    return b;
}

bool check_block(SimCheck *ck, int k, bool fusable, bool wide, const float *src, int64_t width, const double *acc,
                 int64_t out_width, MvmScratch *scratch)
{
    const Program *p = ck->program;
    const Instr *in = &p->instrs[k], *next = &p->instrs[k + 1];
    const MvmParams *mp = &in->mvm;
    const CombineParams *c = &next->combine;
    ck->pending = -1;
    if (mp->float_mode || next->opcode != INSTR_COMBINE || next->src[0] != in->dst)
        return true;            /* float sums have no bits to agree on */
    int64_t n = mp->row_end - mp->row_begin;
    const float *rows = src + mp->row_begin * width;
    Block *b = ideal_block(ck, k, fusable);
    SimCounters counters = {0};

    reference_mvm(ck, mp, rows, n, width, ck->reference);
    mvm_execute(mp, b, false, rows, n, width, NULL, ck->other, scratch, &counters);
    if (!same(ck, k, "the per-read path", "the reference", ck->reference, mp->out_cols, ck->other, mp->out_cols, n,
              mp->out_cols, mp->row_begin))
        return false;
    if (mvm_is_linear(mp, b, true)) {
        mvm_execute(mp, b, true, rows, n, width, NULL, ck->other, scratch, &counters);
        if (!same(ck, k, "the linear fast path", "the reference", ck->reference, mp->out_cols, ck->other,
                  mp->out_cols, n, mp->out_cols, mp->row_begin))
            return false;
    }

    /* what the block's combine adds: the reference's results as the run
     * stores them (f32 unless they may pass 2^24: a lossy ADC's values are
     * not integers), recombined */
    for (int64_t i = 0; i < n * mp->out_cols && !wide; i++)
        ck->reference[i] = (float)ck->reference[i];
    CombineParams store = *c;
    store.accumulate = false;
    store.group = 0;
    store.n0 = 0;
    combine_rows(&store, ck->reference, NULL, mp->out_cols, n, ck->expected, c->n_cols, ck->row);
    int64_t at = (int64_t)c->group * c->n_per_group + c->n0;
    if (b->weights || b->int_weights) {
        CombineParams fused = *c;
        fused.accumulate = false;
        mvm_execute_weights(mp, b, rows, n, width, false, NULL, &fused, ck->full, out_width, scratch);
        if (!same(ck, k, "the folded-weights path", "the reference", ck->expected, c->n_cols,
                  ck->full + mp->row_begin * out_width + at, out_width, n, c->n_cols, mp->row_begin))
            return false;
    }
    if (ck->compare_run && c->accumulate)
        for (int64_t i = 0; i < n; i++)
            memcpy(ck->before + i * c->n_cols, acc + (mp->row_begin + i) * out_width + at,
                   (size_t)c->n_cols * sizeof(double));
    ck->pending = k;
    return true;
}

bool check_combine(SimCheck *ck, int k, const double *acc, int64_t out_width)
{
    if (ck->pending != k - 1 || !ck->compare_run)
        return true;
    ck->pending = -1;
    const MvmParams *mp = &ck->program->instrs[k - 1].mvm;
    const CombineParams *c = &ck->program->instrs[k].combine;
    int64_t n = mp->row_end - mp->row_begin;
    if (c->accumulate)
        for (int64_t i = 0; i < n * c->n_cols; i++)
            ck->expected[i] = ck->before[i] + ck->expected[i];     /* what the combine's += gives */
    int64_t at = (int64_t)c->group * c->n_per_group + c->n0;
    return same(ck, k - 1, "the run", "the reference", ck->expected, c->n_cols, acc + mp->row_begin * out_width + at,
                out_width, n, c->n_cols, mp->row_begin);
}
