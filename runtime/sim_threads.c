/* sim_threads.c: a layer's fast-path pairs over the pool's threads
 * (sim_set_threads), and a convolution's patches gathered a chunk at a time
 * (runtime/sim.c runs everything else). */
#include "runtime/sim_state.h"

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
            sim_run_weights(sim, k, lo, hi, sim->src_in_range[k], sim->src_codes[k],
                        w == 0 ? &sim->scratch : &sim->worker_scratch[w]);
    }
}

/* Runs the fast-path pairs from instruction k on the pool; returns where they
 * end (k: none to run). */
int sim_run_layer_threaded(Sim *sim, int k)
{
    const Program *pg = sim->program;
    int end = k, first_int = -1;
    while (end + 1 < pg->n_instrs && pg->instrs[end].opcode == INSTR_MVM &&
           pg->instrs[end + 1].opcode == INSTR_COMBINE && sim->weights_of[end + 1] == end &&
           !pg->instrs[end].mvm.float_mode && mvm_is_linear(&pg->instrs[end].mvm, &sim->blocks[end], sim->fast_path) &&
           (first_int < 0 || sim_same_codes(sim, end, first_int))) {
        if (first_int < 0 && sim->blocks[end].int_weights)
            first_int = end;
        end += 2;
    }
    for (int j = k; j < end; j += 2) {      /* the codes converted once, before the workers read them */
        sim->blocks[j].wrote_weights = true;
        sim->src_codes[j] = sim_weights_codes(sim, j);
        sim->src_in_range[j] = !sim->src_codes[j] && sim_src_in_range(sim, j);
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
int sim_run_patches(Sim *sim, int k)
{
    const Program *pg = sim->program;
    const Instr *in = &pg->instrs[k];
    int end = k + 1, pairs = 0;
    while (end + 1 < pg->n_instrs && pg->instrs[end].opcode == INSTR_MVM && pg->instrs[end].src[0] == in->dst &&
           pg->instrs[end + 1].opcode == INSTR_COMBINE && sim->weights_of[end + 1] == end &&
           sim->blocks[end].int_weights && !pg->instrs[end].mvm.float_mode &&
           mvm_is_linear(&pg->instrs[end].mvm, &sim->blocks[end], sim->fast_path) && sim_same_codes(sim, end, k + 1)) {
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
    sim_dac_range(&pg->instrs[k + 1].mvm, &bottom, &top);
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
