/* sim_threads.c: a layer's fast-path pairs over the pool's threads
 * (sim_set_threads), and a convolution's patches gathered a chunk at a time
 * (runtime/sim.c runs everything else). */
#include "runtime/quant.h"
#include "runtime/sim_state.h"

#include <assert.h>
#include <stdatomic.h>

/* ---- chains: a column block's row blocks in one 32-bit sum ----
 *
 * A layer's blocks (row block major, docs/crossbar.md 6) add integer sums
 * into its double accumulator: the first row block of each column block
 * writes, the others add.  Every addend is an integer and every partial
 * sum stays below 2^53, so the order of the adds does not matter: the row
 * blocks of one column block may sum their products in one 32-bit sum and
 * add it once.  That sum is exact while the chain's rows R_b, each product
 * at most max_product_b, give sum_b R_b max_product_b <= 2^31 - 1 (8-bit
 * codes times 8-bit weights: 255 * 127, so K up to 66,311 rows, every layer
 * of ResNet-50); a chain stops before a block that would pass it. */

/* Pair k (mvm k, combine k + 1) may be in a chain: the fast path with
 * integer weights, its rows in one 32-bit sum. */
static bool chainable(const Sim *sim, int k)
{
    const Program *pg = sim->program;
    const Block *b = &sim->blocks[k];
    return k + 1 < pg->n_instrs && pg->instrs[k].opcode == INSTR_MVM && pg->instrs[k + 1].opcode == INSTR_COMBINE &&
           sim->weights_of[k + 1] == k && b->int_weights && !pg->instrs[k].mvm.float_mode &&
           b->rows <= b->int_weights->rows_per_sum;
}

/* Whether pairs j and k write overlapping accumulator elements. */
static bool same_outputs(const Program *pg, int j, int k)
{
    const CombineParams *a = &pg->instrs[j + 1].combine, *b = &pg->instrs[k + 1].combine;
    int64_t a0 = (int64_t)a->group * a->n_per_group + a->n0, b0 = (int64_t)b->group * b->n_per_group + b->n0;
    return pg->instrs[j + 1].dst == pg->instrs[k + 1].dst && a0 < b0 + b->n_cols && b0 < a0 + a->n_cols &&
           a->row_begin < b->row_end && b->row_begin < a->row_end;
}

void sim_plan_chains(Sim *sim)
{
    const Program *pg = sim->program;
    int ni = pg->n_instrs;
    sim->chain_head = arena_array(sim->arena, (size_t)(ni > 0 ? ni : 1), sizeof *sim->chain_head);
    sim->chains = arena_array(sim->arena, (size_t)(ni > 0 ? ni : 1), sizeof *sim->chains);
    for (int k = 0; k < ni; k++) {
        sim->chain_head[k] = -1;
        sim->chains[k] = NULL;
    }
    int *members = arena_array(sim->arena, (size_t)(ni > 0 ? ni : 1), sizeof *members);
    for (int k = 0; k < ni; k++) {
        if (sim->chain_head[k] >= 0 || !chainable(sim, k))
            continue;
        const Block *head = &sim->blocks[k];
        const IntWeights *hw = head->int_weights;
        const CombineParams *hc = &pg->instrs[k + 1].combine;
        int count = 1;
        int64_t bound = (int64_t)head->rows * hw->max_product;
        members[0] = k;
        /* the pairs after it that read the same source into the same
         * accumulator; one that writes its outputs but cannot join ends it */
        for (int j = k + 2; chainable(sim, j) && pg->instrs[j].src[0] == pg->instrs[k].src[0] &&
                            pg->instrs[j + 1].dst == pg->instrs[k + 1].dst; j += 2) {
            if (sim->chain_head[j] >= 0 || !same_outputs(pg, j, k))
                continue;
            const IntWeights *iw = sim->blocks[j].int_weights;
            const CombineParams *c = &pg->instrs[j + 1].combine;
            bound += (int64_t)sim->blocks[j].rows * iw->max_product;
            if (!c->accumulate || !sim_same_codes(sim, j, k) || iw->ld != hw->ld || iw->cols != hw->cols ||
                c->group != hc->group || c->n_per_group != hc->n_per_group || c->n0 != hc->n0 ||
                c->n_cols != hc->n_cols || c->row_begin != hc->row_begin || c->row_end != hc->row_end ||
                pg->instrs[j].mvm.row_begin != pg->instrs[k].mvm.row_begin ||
                pg->instrs[j].mvm.row_end != pg->instrs[k].mvm.row_end || bound > INT32_MAX)
                break;
            members[count++] = j;
        }
        if (count < 2)
            continue;
        Chain *chain = arena_alloc(sim->arena, sizeof *chain);
        chain->count = count;
        chain->last = members[count - 1];
        chain->blocks = arena_array(sim->arena, (size_t)count, sizeof *chain->blocks);
        chain->src_cols = arena_array(sim->arena, (size_t)count, sizeof *chain->src_cols);
        chain->weights = arena_array(sim->arena, (size_t)count, sizeof *chain->weights);
        chain->column_sum = NULL;
        if (hw->code_offset) {
            chain->column_sum = arena_array(sim->arena, (size_t)hw->cols, sizeof *chain->column_sum);
            memset(chain->column_sum, 0, (size_t)hw->cols * sizeof *chain->column_sum);
        }
        for (int m = 0; m < count; m++) {
            const Block *b = &sim->blocks[members[m]];
            chain->blocks[m] = b;
            chain->weights[m] = b->int_weights;
            chain->src_cols[m] = pg->instrs[members[m]].mvm.src_col;
            for (int j = 0; chain->column_sum && j < hw->cols; j++)
                chain->column_sum[j] += b->int_weights->column_sum[j];
            sim->chain_head[members[m]] = k;
        }
        sim->chains[k] = chain;
    }
}

/* Pair k's chain when it runs in [begin, end) as one: the head runs the
 * whole chain, the others nothing (*skip). */
static const Chain *chain_in(const Sim *sim, int k, int begin, int end, bool *skip)
{
    int head = sim->chain_head[k];
    const Chain *chain = head >= 0 ? sim->chains[head] : NULL;
    bool whole = chain && head >= begin && chain->last < end;
    *skip = whole && head != k;
    return whole && head == k ? chain : NULL;
}

/* Source rows [lo, hi) of pair k's chain, their codes at `codes`. */
static void run_chain(Sim *sim, int k, const Chain *chain, int64_t lo, int64_t hi, const char *codes,
                      const uint16_t *wide, int64_t width, const DequantOut *direct, MvmScratch *scratch)
{
    const Program *pg = sim->program;
    const Instr *next = &pg->instrs[k + 1];
    const CombineParams *c = &next->combine;
    int64_t out_width = last_dim(&pg->buffers[next->dst].type), col = (int64_t)c->group * c->n_per_group + c->n0;
    DequantOut at = direct ? *direct : (DequantOut){0};
    at.row = lo;
    at.col = col;
    mvm_execute_int_chain(chain->blocks, chain->src_cols, chain->count, chain->column_sum, hi - lo, width,
                          codes, wide, chain->weights, c->accumulate,
                          buffer_f64(sim, next->dst, k) + lo * out_width + col, out_width, direct ? &at : NULL,
                          scratch);
}

/* ---- a layer's rows over threads (sim_set_threads) ----
 *
 * A layer's blocks on the fast path are mvm + combine pairs in a row, all
 * reading the layer's codes and adding into its accumulator, row p of the
 * source into row p.  Part i of n takes source rows [P i / n, P (i + 1) / n)
 * of every pair, in instruction order: each row gets the same sums added in
 * the same order as on one thread, so the output is the same bits for any n
 * (tests/unit/test_sim_geometry.c).  One wake-up per layer, not per block;
 * the rows go in sim_parts parts (pool_run_parts). */
typedef struct {
    Sim *sim;
    int begin, end;             /* instructions [begin, end): the pairs */
} LayerRows;

static void layer_rows(void *context, int w, int i, int n)
{
    const LayerRows *t = context;
    Sim *sim = t->sim;
    const Program *pg = sim->program;
    for (int k = t->begin; k < t->end; k += 2) {
        const Instr *in = &pg->instrs[k];
        int64_t width = last_dim(&pg->buffers[in->src[0]].type);
        int64_t rows = width > 0 ? sim->numel[in->src[0]] / width : 0;
        int64_t lo = rows * i / n, hi = rows * (i + 1) / n;
        lo = lo > in->mvm.row_begin ? lo : in->mvm.row_begin;
        hi = hi < in->mvm.row_end ? hi : in->mvm.row_end;
        bool skip = false;
        const Chain *chain = sim->src_codes[k] ? chain_in(sim, k, t->begin, t->end, &skip) : NULL;
        if (skip && sim->src_codes[k])
            continue;
        if (chain && lo < hi)
            run_chain(sim, k, chain, lo, hi,
                      sim->src_codes[k] + (size_t)(lo * width) * int_code_bytes(sim->blocks[k].int_weights->kind),
                      NULL, width, NULL, w == 0 ? &sim->scratch : &sim->worker_scratch[w]);
        else if (lo < hi)
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
        pool_run_parts(sim->pool, sim_parts(sim), layer_rows, &(LayerRows){sim, k, end});
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
    bool chains;                /* some pairs run as chains */
    int dequant;                /* the Dequant run a chunk at a time with them (dequant_after), or -1 */
    bool direct;                /* and the chains' sums go through it to its output (chains_alone) */
    DequantOut out;
} PatchLayer;

static void patch_chunks(void *context, int w, int i, int n)
{
    const PatchLayer *t = context;
    Sim *sim = t->sim;
    const Program *pg = sim->program;
    MvmScratch *scratch = w == 0 ? &sim->scratch : &sim->worker_scratch[w];
    char *chunk = sim->patch_chunk[w];
    size_t bytes = int_code_bytes(sim->blocks[t->begin].int_weights->kind);
    (void)n;
    /* chunk i: rows [lo, hi) */
    int64_t lo = i * t->chunk_rows, hi = lo + t->chunk_rows < t->rows ? lo + t->chunk_rows : t->rows;
    IntCodeKind kind = sim->blocks[t->begin].int_weights->kind;
    int_patches_gather(t->im2col, kind, t->codes, t->pad, lo, hi - lo, chunk);
    /* the chunk's codes widened once for all the layer's chains, when the
     * product would widen them for each (int_wide_chains) */
    uint16_t *wide = NULL;
    if (t->chains && int_wide_chains(int_kernel(), kind)) {
        wide = (uint16_t *)(void *)(chunk + sim->patch_bytes);
        int_codes_widen((const uint8_t *)chunk, (hi - lo) * t->width + INT_CODES_PAD, wide);
    }
    for (int k = t->begin; k < t->end; k += 2) {
        const Instr *in = &pg->instrs[k], *next = &pg->instrs[k + 1];
        MvmParams share = in->mvm;
        share.row_begin = lo > in->mvm.row_begin ? lo : in->mvm.row_begin;
        share.row_end = hi < in->mvm.row_end ? hi : in->mvm.row_end;
        bool skip = false;
        const Chain *chain = chain_in(sim, k, t->begin, t->end, &skip);
        if (skip || share.row_begin >= share.row_end)
            continue;
        if (chain) {        /* the chunk's codes: row lo at chunk */
            run_chain(sim, k, chain, share.row_begin, share.row_end,
                      chunk + (size_t)((share.row_begin - lo) * t->width) * bytes,
                      wide ? wide + (share.row_begin - lo) * t->width : NULL, t->width,
                      t->direct ? &t->out : NULL, scratch);
            continue;
        }
        mvm_execute_weights(&share, &sim->blocks[k], buffer_f32(sim, in->src[0], k) + share.row_begin * t->width,
                            share.row_end - share.row_begin, t->width, false,
                            chunk + (size_t)((share.row_begin - lo) * t->width + in->mvm.src_col) * bytes,
                            &next->combine, buffer_f64(sim, next->dst, k),
                            last_dim(&pg->buffers[next->dst].type), scratch);
    }
    if (t->dequant >= 0 && !t->direct)
        sim_dequant_rows(sim, t->dequant, lo, hi);
}

/* The source's codes with the padding made explicit (windows then never
 * leave the input), in parts of every plane's lines
 * (int_codes_convert_padded). */
typedef struct {
    const Im2colParams *im2col;
    const IntWeights *iw;
    const float *x;             /* codes, or activations when quantize */
    bool quantize;
    CodeQuant quant;
    float bottom, top;
    int pad;
    void *out;
    atomic_bool fraction;       /* some code is not an integer */
} SourceCodes;

static void source_codes(void *context, int w, int i, int n)
{
    SourceCodes *t = context;
    (void)w;
    if (!int_codes_convert_padded(t->im2col, t->iw, t->x, t->quantize ? &t->quant : NULL, t->bottom, t->top, t->pad,
                                  t->out, i, n))
        atomic_store(&t->fraction, true);
}

/* Where the pairs that im2col k's patches may feed in chunks end (every
 * reader of its result an integer fast-path pair over the same codes), or
 * k when its float im2col must be made. */
int sim_patch_layer_end(const Sim *sim, int k)
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
    return end;
}

/* The Dequant right after im2col k's pairs [k + 1, end) when it may run a
 * chunk at a time with them (its rows of the accumulator are whole once the
 * chunk's pairs have run, and it reads them while they are in cache), or
 * -1: a convolution's, reading the accumulator every pair writes and
 * nothing else reads. */
static int dequant_after(const Sim *sim, int k, int end)
{
    const Program *pg = sim->program;
    if (end >= pg->n_instrs || pg->instrs[end].opcode != INSTR_DEQUANT || !pg->instrs[end].dequant.conv)
        return -1;
    int acc = pg->instrs[end].src[0];
    for (int j = k + 2; j < end; j += 2)
        if (pg->instrs[j].dst != acc)
            return -1;
    return sim->readers[acc] == 1 && pg->buffers[acc].kind == BUF_TEMP ? end : -1;
}

/* Whether the pairs [k + 1, end) are whole chains that write every
 * element of their accumulator once (none adds to another's outputs, and
 * together they cover it) and the Dequant at end reads it row by row: the
 * chains' sums may then go through the Dequant straight to its output, no
 * accumulator between (DequantOut). */
static bool chains_alone(const Sim *sim, int k, int end)
{
    const Program *pg = sim->program;
    int64_t area = 0;
    for (int j = k + 1; j < end; j += 2) {
        int head = sim->chain_head[j];
        if (head <= k || sim->chains[head]->last >= end)
            return false;
        if (head != j)
            continue;
        const CombineParams *c = &pg->instrs[j + 1].combine;
        if (c->accumulate || c->n_cols != sim->blocks[j].int_weights->cols)
            return false;
        for (int h = k + 1; h < j; h += 2)
            if (sim->chain_head[h] == h && same_outputs(pg, h, j))
                return false;
        area += (c->row_end - c->row_begin) * c->n_cols;
    }
    int acc = pg->instrs[end].src[0];
    return area == sim->numel[acc] && last_dim(&pg->buffers[acc].type) == pg->instrs[end].dequant.channels;
}

/* Im2col k and the pairs after it, [k + 1, end) (sim_patch_layer_end), in
 * chunks of patches when they may be: returns where the pairs end (after the Dequant that follows when it ran
 * with them, dequant_after), or k (the float im2col is made as before).
 * With quant_k >= 0, Quant quant_k was left to it (its codes' only reader,
 * sim.c): the patches' codes are made from that Quant's source. */
int sim_run_patches(Sim *sim, int k, int end, int quant_k)
{
    const Program *pg = sim->program;
    const Instr *in = &pg->instrs[k];
    if (end == k)
        return k;
    const IntWeights *iw = sim->blocks[k + 1].int_weights;
    float zero = 0;
    int16_t pad[1 + INT_CODES_PAD];
    SourceCodes source = {.im2col = &in->im2col, .iw = iw, .out = sim->padded_codes};
    if (quant_k >= 0) {
        const QuantParams *q = &pg->instrs[quant_k].quant;
        int32_t hi = quant_qmax(q->bits, q->is_signed);
        source.quant = (CodeQuant){.scale = q->scale, .bottom = (float)(q->is_signed ? -hi : 0), .top = (float)hi};
        source.x = buffer_f32(sim, pg->instrs[quant_k].src[0], quant_k);
    } else {
        source.x = buffer_f32(sim, in->src[0], k);
    }
    source.quantize = quant_k >= 0;
    sim_dac_range(&pg->instrs[k + 1].mvm, &source.bottom, &source.top);
    int_codes_convert(iw, &zero, 1, 1, 1, source.bottom, source.top, pad);
    source.pad = iw->kind == INT_CODES_U8 ? *(uint8_t *)pad : pad[0];
    pool_run_parts(sim->pool, sim_parts(sim), source_codes, &source);
    /* codes that are not integers: the float path (quantized ones always are) */
    assert(!(quant_k >= 0 && atomic_load(&source.fraction)));
    if (atomic_load(&source.fraction))
        return k;
    Im2colParams padded;
    int_codes_padded_geometry(&in->im2col, &padded);
    int64_t width = last_dim(&pg->buffers[in->dst].type);
    int64_t rows = width > 0 ? sim->numel[in->dst] / width : 0;
    /* on threads, sim_parts chunks or more; whole product tiles of 16 rows */
    int64_t share = sim->pool ? (rows + sim_parts(sim) - 1) / sim_parts(sim) : rows;
    share = sim->pool ? (share + 15) / 16 * 16 : share;
    PatchLayer t = {
        .sim = sim, .begin = k + 1, .end = end, .im2col = &padded, .codes = sim->padded_codes, .pad = source.pad,
        .rows = rows, .width = width, .chunk_rows = patch_rows(width, share), .dequant = dequant_after(sim, k, end),
    };
    for (int j = k + 1; j < end; j += 2) {
        sim->blocks[j].wrote_weights = true;
        t.chains |= sim->chains[j] != NULL && sim->chains[j]->last < end;
    }
    if (t.dequant >= 0 && chains_alone(sim, k, end)) {
        const Instr *dq = &pg->instrs[t.dequant];
        t.direct = true;
        t.out = (DequantOut){.y = buffer_f32(sim, dq->dst, t.dequant), .channels = dq->dequant.channels,
                             .pixels = dq->dequant.pixels, .scale = dq->dequant.out_scale,
                             .bias = dq->src[1] >= 0 ? buffer_f32(sim, dq->src[1], t.dequant) : NULL};
    }
    pool_run_parts(sim->pool, (int)((rows + t.chunk_rows - 1) / t.chunk_rows), patch_chunks, &t);
    return t.dequant >= 0 ? end + 1 : end;
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
            chunks[w] = arena_alloc(sim->arena, 2 * sim->patch_bytes);
        sim->patch_chunk = chunks;
    }
    if (!sim->src_in_range) {
        sim->src_in_range = arena_array(sim->arena, (size_t)(sim->program->n_instrs + 1), sizeof *sim->src_in_range);
        sim->src_codes = arena_array(sim->arena, (size_t)(sim->program->n_instrs + 1), sizeof *sim->src_codes);
    }
    return true;
}
