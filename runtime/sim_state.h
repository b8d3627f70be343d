/* sim_state.h: what the simulator's files share (runtime/sim.c runs the
 * instructions, sim_memory.c plans buffer memory, sim_threads.c runs a
 * layer over threads): the Sim itself, its memory plan and the helpers they
 * all call.  Private to the simulator: callers see runtime.h's opaque Sim. */
#ifndef XBARC_SIM_STATE_H
#define XBARC_SIM_STATE_H

#include "runtime/sim_mvm.h"
#include "runtime/sim_int.h"
#include "runtime/pool.h"

#include <stdio.h>
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
    IntCodesCache codes;        /* a source's codes as the integer products take them (sim_codes.c) */
    Pool *pool;                 /* sim_set_threads: a layer's rows over threads; or NULL */
    MvmScratch *worker_scratch; /* [pool size]: worker 0 uses `scratch` */
    bool *src_in_range;         /* by instruction: a threaded mvm's source within its DACs' range */
    const char **src_codes;     /* by instruction: a threaded mvm's integer codes (whole source), or NULL */
    int max_rows, max_cols;     /* the widest block's, for the workers' scratch */
    int *readers;               /* by buffer: instructions that read it */
    bool patches;               /* im2col layers gathered in chunks (run_patches); XBARC_IM2COL=copy: never */
    size_t patch_bytes;         /* a worker's chunk of patches, as 16-bit codes */
    void **patch_chunk;         /* [pool size, or 1]: each worker's chunk, then its codes widened
                                   (int_wide_chains): 2 patch_bytes */
    void *padded_codes;         /* a convolution's source codes, padded (int_codes_convert_padded) */
    int *chain_head;            /* by instruction: the first mvm of its chain (sim_plan_chains), or -1 */
    struct Chain **chains;      /* by instruction: the chain it heads, or NULL */
};

/* Fast-path pairs of one layer with integer weights that add into the same
 * accumulator columns (the row blocks of a column block), summed in 32 bits
 * before one add (sim_threads.c). */
typedef struct Chain {
    int count, last;            /* pairs, and the last one's mvm */
    const Block **blocks;       /* [count] */
    const IntWeights **weights; /* [count]: the blocks' int weights */
    int *src_cols;              /* [count] */
    int64_t *column_sum;        /* [cols]: the blocks' column sums added, when the codes carry an offset; or NULL */
} Chain;

static inline int64_t last_dim(const Type *t)
{
    return t->rank > 0 ? t->dims[t->rank - 1] : 1;
}

enum { PATCH_BYTES = 128 * 1024 };     /* a chunk of codes: within L2 */

/* Rows of a chunk of patches (run_patches) of `width` codes of at most 2
 * bytes: as many as fit, or `rows` when fewer (a layer's share of a thread). */
static inline int64_t patch_rows(int64_t width, int64_t rows)
{
    int64_t n = PATCH_BYTES / (2 * (width > 0 ? width : 1));
    n = n < 16 ? 16 : n > MVM_READ_TILE ? MVM_READ_TILE : n;
    return rows > 0 && rows < n ? rows : n;
}

/* An im2col layer's scratch (sim_run_patches): a chunk of its patches of
 * `width` codes as 16 bits (the widened copy takes as much again), and its
 * source's codes padded. */
static inline size_t patch_chunk_bytes(int64_t width)
{
    return (size_t)((patch_rows(width, 0) * width + INT_CODES_PAD) * 2);
}

static inline size_t padded_codes_bytes(const Im2colParams *q)
{
    return (size_t)((int_codes_padded_numel(q) + INT_CODES_PAD) * 2);
}

/* A buffer's memory as instruction k uses it.  Temporaries share memory
 * between live ranges (plan_memory), so a use outside the range planned for
 * it would read or clobber another buffer's values: debug and sanitizer
 * builds (XBARC_DEBUG_CHECKS) verify every use against the plan. */
static inline void check_live(const Sim *sim, int id, int k)
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

static inline float *buffer_f32(const Sim *sim, int id, int k)
{
    check_live(sim, id, k);
    return sim->f32[id];
}

static inline double *buffer_f64(const Sim *sim, int id, int k)
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

/* Where the buffers of a program live: their widths, live ranges and slots. */
typedef struct {
    bool *wide;                 /* by buffer: float64 memory */
    int *first, *last;          /* by buffer: the live range (-1 when no instruction touches it) */
    bool *fusable;              /* by instruction: an mvm whose combine may be folded into it */
    int *slot_of;               /* by buffer: its slot, or -1 for memory of its own (or none: constants) */
    /* By buffer: an im2col's result.  They share slots only among themselves,
     * which are not filled with NaNs: when the patches of a layer are
     * gathered a chunk at a time (sim_run_patches) its float im2col is never
     * written, and those pages are never resident. */
    bool *im2col;
    Slot *slots;
    int n_slots;
    size_t bytes, unshared_bytes;   /* buffer memory, and what one buffer each would take */
} MemoryPlan;

/* The subset tables kept for every block when they all fit (sim_plan_tables). */
enum { TABLE_BUDGET = 64 << 20 };

/* sim_memory.c */
void sim_plan_memory(Arena *arena, const Program *p, MemoryPlan *m);
void sim_give_memory(Sim *sim, const MemoryPlan *m);
size_t sim_plan_tables(Sim *sim);
int64_t sim_max_combine_width(const Program *p);

/* sim.c, for the threads: work on the pool goes in sim_parts parts
 * (pool_run_parts), SIM_PARTS_PER_WORKER a worker */
enum { SIM_PARTS_PER_WORKER = 8 };
int sim_parts(const Sim *sim);
/* Dequant k on accumulator rows [lo, hi) (also run a chunk at a time with
 * its layer: sim_threads.c) */
void sim_dequant_rows(Sim *sim, int k, int64_t lo, int64_t hi);
void sim_run_weights(Sim *sim, int k, int64_t lo, int64_t hi, bool in_range_known, const char *codes,
                     MvmScratch *scratch);
void sim_dac_range(const MvmParams *m, float *bottom, float *top);
const char *sim_weights_codes(Sim *sim, int k);
bool sim_same_codes(const Sim *sim, int j, int k);
bool sim_src_in_range(Sim *sim, int k);

/* sim_threads.c: run from instruction k on the pool or in chunks of
 * patches; return where what they ran ends (k: nothing ran) */
int sim_run_layer_threaded(Sim *sim, int k);
void sim_plan_chains(Sim *sim);
int sim_patch_layer_end(const Sim *sim, int k);
int sim_run_patches(Sim *sim, int k, int end, int quant_k);

#endif
