/* replicate.c: pass `replicate{mode=none|auto,tiles=N,layers=NAME:R;...,
 * packing=none|dense|balanced}`, kernel replication for spatial parallelism.
 *
 * docs/background.md section 7, docs/crossbar.md section 6 ("Replication"),
 * docs/mapping.md.  A layer with r copies of its blocks gives each copy a
 * share of its P input vectors and its own digital units, so its stage time
 * drops from max(P x t_v, d) to max(ceil(P / r) x t_v, ceil(d / r)), t_v the
 * time of one vector's reads and d its digital time (the one stage-time
 * model of passes/timing.c, which the performance model charges too).  For a
 * tile budget T the pass chooses integer 1 <= r_l <= P_l minimizing the
 * slowest stage subject to the packer (the same packing `place` will use)
 * fitting all copies in T tiles.  The search is exact: the bottleneck B of
 * any replication is one of the stage times a layer can have; for a
 * given B the cheapest replication meeting it is r_l(B) = the fewest copies
 * whose stage time is <= B, and every replication meeting B has at least
 * those copies of every layer.  r_l(B) only shrinks as B grows, so with a
 * packer that never needs fewer tiles for more blocks, "r(B) fits" is
 * monotone in B, and a binary search over the sorted candidate values finds
 * the smallest B that fits; the unit tests compare it with brute force over
 * every replication.  Balanced packing is not monotone (copies with less
 * work each may share tiles that fewer copies could not), so there the
 * candidates are tried in increasing order from repl_turn_bound (below it no
 * placement fits): the result is the best of the cheapest replications r(B)
 * (after a few failures the steps grow, to bound the packing work), and a
 * replication with more copies than r(B) can occasionally do better; the
 * tests measure how often.  Balanced packing charges turns, so its placement
 * has exactly the bottleneck found; repl_turn_bound also tells the mapping
 * report whether that is the optimum of every placement in the budget.
 *
 * Options: mode=auto (implied by tiles=) searches, with the budget from
 * tiles= or else the architecture's `tiles`; layers= sets the named layers'
 * copies by hand (others get one); mode=none removes every `replicas`.
 * Without options the pass leaves the graph as it is.  A layer with one copy
 * has no `replicas` attribute; a change drops place and the ADC attributes,
 * whose lists hold one entry per block of every copy. */
#include "passes/mapping.h"
#include "passes/passes.h"

#include <stdlib.h>
#include <string.h>

static const char *const derived[] = {"place", "adc_bits", "adc_max", NULL};

int64_t repl_stage_time(const ReplLayer *layer, int64_t r)
{
    int64_t reads = (layer->vectors + r - 1) / r * layer->vector_time, digital = time_share(layer->digital, r);
    return reads > digital ? reads : digital;
}

/* The fewest copies (at most P) whose stage time is <= b, or -1 when none is. */
static int64_t copies_for(const ReplLayer *layer, int64_t b)
{
    int64_t share = layer->vector_time > 0 ? b / layer->vector_time : layer->vectors;  /* most vectors a copy may take */
    if (share < 1 || b < 1)
        return -1;
    int64_t r = (layer->vectors + share - 1) / share;
    int64_t digital = (layer->digital + b - 1) / b;      /* ceil(digital / r) <= b */
    r = digital > r ? digital : r;
    if (r > 1 && r > layer->vectors)
        return -1;
    return r > 0 ? r : 1;
}

int64_t repl_pack(Arena *scratch, const PackParams *params, const ReplLayer *layers, int n_layers,
                  const int64_t *replicas, PackSpot *spots)
{
    int64_t n = 0;
    for (int l = 0; l < n_layers; l++)
        n += replicas[l] * layers[l].n_blocks;
    PackBlock *blocks = arena_array(scratch, (size_t)n + 1, sizeof(PackBlock));
    int k = 0;
    for (int l = 0; l < n_layers; l++) {
        const ReplLayer *L = &layers[l];
        for (int64_t j = 0; j < replicas[l]; j++) {
            int64_t share = (j + 1) * L->vectors / replicas[l] - j * L->vectors / replicas[l];
            for (int b = 0; b < L->n_blocks; b++, k++) {
                blocks[k] = L->blocks[b];
                blocks[k].layer = l;
                blocks[k].replica = (int)j;
                blocks[k].work = share * L->vector_time;
            }
        }
    }
    if (!spots)
        spots = arena_array(scratch, (size_t)n + 1, sizeof(PackSpot));
    return pack_blocks(params, blocks, (int)n, spots);
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Does r(b) fit the budget?  Fills replicas.  Cells give a cheap necessary
 * test before the packer runs, whose block list lives only for the test. */
static bool fits(const PackParams *params, const ReplLayer *layers, int n_layers, int64_t tiles, int64_t b,
                 int64_t *replicas)
{
    double cells = 0;
    for (int l = 0; l < n_layers; l++) {
        replicas[l] = copies_for(&layers[l], b);
        if (replicas[l] < 1)
            return false;
        for (int k = 0; k < layers[l].n_blocks; k++)
            cells += (double)replicas[l] * layers[l].blocks[k].rows * layers[l].blocks[k].cols;
    }
    if (cells > (double)tiles * params->rows * params->cols)
        return false;
    /* Balanced packing gets the budget `place` will give it: the slowest
     * stage of these copies (at most b). */
    PackParams p = *params;
    p.period_budget = p.mode == PACK_BALANCED ? params->stage_floor : 0;
    for (int l = 0; l < n_layers && p.mode == PACK_BALANCED; l++) {
        int64_t t = repl_stage_time(&layers[l], replicas[l]);
        p.period_budget = t > p.period_budget ? t : p.period_budget;
    }
    Arena *scratch = arena_new();
    bool ok = repl_pack(scratch, &p, layers, n_layers, replicas, NULL) <= tiles;
    arena_free(scratch);
    return ok;
}

/* The candidate bottlenecks, sorted and unique: every stage time of every
 * layer (repl_stage_time for r = 1 .. P), from the largest of the shortest
 * stages (no layer can go below its own, nor the pipeline below the floor)
 * to the largest one-copy stage.  Without digital time a layer's ceil(P / r)
 * takes about 2 sqrt(P) values (after value q the next r is
 * ceil(P / (q - 1))); with it every r may give its own.  Returns their count. */
static int64_t candidate_list(Arena *scratch, const PackParams *params, const ReplLayer *layers, int n_layers,
                              int64_t **out)
{
    int64_t low = params->stage_floor, high = params->stage_floor, count = 0;
    for (int l = 0; l < n_layers; l++) {
        int64_t fastest = repl_stage_time(&layers[l], layers[l].vectors > 1 ? layers[l].vectors : 1);
        low = fastest > low ? fastest : low;
        int64_t one = repl_stage_time(&layers[l], 1);
        high = one > high ? one : high;
    }
    int64_t *cand = NULL, m = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            cand = arena_array(scratch, (size_t)count + 1, sizeof(int64_t));
        m = 0;
        if (pass == 1)                  /* the floor (or the slowest fastest stage) is one too */
            cand[m] = high, cand[m + 1] = low;
        m += 2;
        for (int l = 0; l < n_layers; l++) {
            const ReplLayer *L = &layers[l];
            for (int64_t r = 1; r <= L->vectors;) {
                int64_t t = repl_stage_time(L, r);
                if (t >= low && t <= high) {
                    if (pass == 1)
                        cand[m] = t;
                    m++;
                }
                int64_t q = (L->vectors + r - 1) / r;
                r = L->digital > 0 ? r + 1 : q > 1 ? (L->vectors + q - 2) / (q - 1) : L->vectors + 1;
            }
        }
        count = m;
    }
    qsort(cand, (size_t)m, sizeof(int64_t), by_value);
    int64_t unique = 0;
    for (int64_t i = 0; i < m; i++)
        if (unique == 0 || cand[i] != cand[unique - 1])
            cand[unique++] = cand[i];
    *out = cand;
    return unique;
}

/* ---- the bound with turns (docs/mapping.md "The optimum with turns") ---- */

/* What kinds of blocks one copy of a layer has, for the bound: `full` fill a
 * tile; `large` (full ones too) take more than half its rows and columns, so
 * that no two fit one tile; `spanning` (not full) span the tile's height or
 * width: they share a row or an ADC with every other block of their tile;
 * `shy` are those and the large ones.  The others, if on one tile without
 * taking turns, sit on disjoint rows and ADCs: their shares of the tile's
 * rows and ADCs add up to at most 1 each. */
typedef struct {
    int64_t full, large, spanning, shy;
    double row_share, adc_share;        /* summed over the blocks neither full nor spanning */
} Kinds;

static Kinds block_kinds(const PackParams *params, const ReplLayer *layer)
{
    int per_adc = params->cols_per_adc > 0 ? params->cols_per_adc : 1;
    int adcs = (params->cols + per_adc - 1) / per_adc;
    Kinds k = {0};
    for (int b = 0; b < layer->n_blocks; b++) {
        const PackBlock *blk = &layer->blocks[b];
        bool tall = blk->rows >= params->rows, wide = blk->cols >= params->cols;
        bool large = 2 * blk->rows > params->rows && 2 * blk->cols > params->cols;
        k.full += tall && wide;
        k.large += large;
        k.spanning += tall != wide;
        k.shy += (tall || wide || large) && !(tall && wide);
        if (!tall && !wide) {
            k.row_share += (double)blk->rows / params->rows;
            k.adc_share += (double)((blk->cols + per_adc - 1) / per_adc) / adcs;
        }
    }
    return k;
}

/* Tiles r copies of a layer take at least, when every period stays below
 * `next`, if `full` blocks per copy need a tile each and each heavy copy
 * (work w at least next / 2: two heavy blocks on one tile would wait
 * w + w' >= next on each other) needs `weight` more. */
static double heavy_tiles(const ReplLayer *layer, int64_t full, double weight, int64_t r, int64_t next)
{
    int64_t q = layer->vectors / r, more = layer->vectors % r;      /* `more` copies get q + 1 vectors */
    int64_t heavy = 2 * q * layer->vector_time >= next ? r : 2 * (q + 1) * layer->vector_time >= next ? more : 0;
    return (double)(r * full) + (double)heavy * weight;
}

/* The least of heavy_tiles() over every r >= from; after the first r where
 * no copy is heavy it only grows. */
static double fewest_tiles(const ReplLayer *layer, int64_t full, double weight, int64_t from, int64_t next)
{
    double best = heavy_tiles(layer, full, weight, from, next);
    for (int64_t r = from + 1; r <= layer->vectors && weight > 0; r++) {
        double t = heavy_tiles(layer, full, weight, r, next);
        best = t < best ? t : best;
        if (2 * ((layer->vectors + r - 1) / r) * layer->vector_time < next)
            break;
    }
    return best;
}

/* Could some replication and placement in `tiles` tiles have a period in
 * [b, next)?  Not when the cheapest replication of b has more cells than the
 * tiles hold, or more large blocks than tiles, or when more blocks than
 * tiles need a tile of their own (full blocks and heavy shy ones: no two on
 * one tile), or when full blocks, heavy spanning ones and the row or ADC
 * shares (or half of each) of the other heavy blocks need more tiles (a tile
 * with a full or a heavy spanning block holds no other heavy one; heavy
 * blocks on a tile otherwise sit on disjoint rows and ADCs), or
 * when the reads need more row or ADC time than the tiles have: blocks on a
 * common row (or ADC) take turns, so each row and each ADC of a tile serves
 * at most `period` steps of work, and all copies of a block together have
 * the work of the layer's P vectors whatever the replication. */
static bool maybe(const PackParams *params, const ReplLayer *layers, int n_layers, int64_t tiles, int64_t b,
                  int64_t next)
{
    int per_adc = params->cols_per_adc > 0 ? params->cols_per_adc : 1;
    int adcs = (params->cols + per_adc - 1) / per_adc;
    double cells = 0, row_time = 0, adc_time = 0;     /* times: of the blocks that do not fill a tile */
    int64_t large = 0, full = 0;
    double own = 0, apart[3] = {0, 0, 0};   /* apart: heavy blocks with their row and ADC shares */
    for (int l = 0; l < n_layers; l++) {
        int64_t r = copies_for(&layers[l], b);
        if (r < 1)
            return false;
        double work = (double)layers[l].vectors * (double)layers[l].vector_time;
        for (int k = 0; k < layers[l].n_blocks; k++) {
            const PackBlock *blk = &layers[l].blocks[k];
            cells += (double)r * blk->rows * blk->cols;
            if (blk->rows >= params->rows && blk->cols >= params->cols)
                continue;
            row_time += work * blk->rows;
            adc_time += work * ((blk->cols + per_adc - 1) / per_adc);
        }
        Kinds k = block_kinds(params, &layers[l]);
        own += fewest_tiles(&layers[l], k.full, (double)k.shy, r, next);
        for (int i = 0; i < 3; i++) {
            double lambda = 0.5 * i;
            apart[i] += fewest_tiles(&layers[l], k.full, (double)k.spanning + lambda * k.row_share +
                                     (1 - lambda) * k.adc_share, r, next);
        }
        large += r * k.large;           /* more copies only add large and full blocks */
        full += r * k.full;
    }
    /* Tiles with a full block hold nothing else; the others have `period`
     * steps per row and per ADC. */
    double most = next == INT64_MAX ? 0 : (double)(next - 1) * (double)(tiles - full);
    for (int i = 0; i < 3; i++)
        if (apart[i] > (double)tiles + 1e-6)
            return false;
    return cells <= (double)tiles * params->rows * params->cols && own <= (double)tiles && large <= tiles &&
           (next == INT64_MAX || (row_time <= most * params->rows && adc_time <= most * adcs));
}

/* Index of the first candidate that maybe() allows, or `count` when none.
 * Without heavy blocks (next beyond every work) maybe() is monotone in b and
 * necessary for the full test, so a binary search skips to where it passes
 * before the candidates are tried one by one. */
static int64_t first_maybe(const PackParams *params, const ReplLayer *layers, int n_layers, int64_t tiles,
                           const int64_t *cand, int64_t count)
{
    int64_t lo = 0, hi = count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (maybe(params, layers, n_layers, tiles, cand[mid], INT64_MAX))     /* nothing heavy */
            hi = mid;
        else
            lo = mid + 1;
    }
    for (; lo < count; lo++)
        if (maybe(params, layers, n_layers, tiles, cand[lo], lo + 1 < count ? cand[lo + 1] : INT64_MAX))
            break;
    return lo;
}

int64_t repl_turn_bound(Arena *scratch, const PackParams *params, const ReplLayer *layers, int n_layers,
                        int64_t tiles)
{
    int64_t *cand, count = candidate_list(scratch, params, layers, n_layers, &cand);
    if (n_layers == 0 || count == 0)
        return 0;
    int64_t i = first_maybe(params, layers, n_layers, tiles, cand, count);
    return i < count ? cand[i] : -1;
}

/* ---- the search ---- */

int64_t repl_search(Arena *scratch, const PackParams *params, const ReplLayer *layers, int n_layers,
                    int64_t tiles, int64_t *replicas)
{
    int64_t *cand, unique = candidate_list(scratch, params, layers, n_layers, &cand);
    if (n_layers == 0 || unique == 0)
        return 0;

    /* The largest candidate is one copy each: if that does not fit, nothing does. */
    if (!fits(params, layers, n_layers, tiles, cand[unique - 1], replicas))
        return -1;
    int64_t lo = 0, hi = unique - 1;        /* cand[hi] fits */
    if (params->mode == PACK_BALANCED) {
        /* Not monotone: fewer copies of more work may share tiles less (see
         * docs/mapping.md), so try the candidates in order, from the first
         * that the bound with turns allows (no placement does better).  After
         * LINEAR_TRIES failures the steps double (each try packs the whole
         * graph), and the binary search below ends between the last failure
         * and the first fit. */
        enum { LINEAR_TRIES = 8 };
        lo = first_maybe(params, layers, n_layers, tiles, cand, unique);
        lo = lo < hi ? lo : hi;
        for (int64_t tries = 0, step = 1; lo < hi; tries++) {
            int64_t next = tries < LINEAR_TRIES ? lo : lo + step - 1 < hi ? lo + step - 1 : hi;
            if (fits(params, layers, n_layers, tiles, cand[next], replicas)) {
                hi = next;
                break;
            }
            lo = next + 1;
            step = tries < LINEAR_TRIES ? 1 : 2 * step;
        }
    }
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (fits(params, layers, n_layers, tiles, cand[mid], replicas))
            hi = mid;
        else
            lo = mid + 1;
    }
    int64_t bottleneck = params->stage_floor;
    for (int l = 0; l < n_layers; l++) {
        replicas[l] = copies_for(&layers[l], cand[hi]);     /* r(cand[hi]), which fits */
        int64_t t = repl_stage_time(&layers[l], replicas[l]);
        bottleneck = t > bottleneck ? t : bottleneck;
    }
    return bottleneck;
}

/* ---- the pass ---- */

/* Sets layer l's copies; true when that changed anything. */
static bool set_replicas(Graph *g, Op *op, int64_t r)
{
    const Attr *old = ir_attr(op, "replicas");
    if (r <= 1) {
        if (!old)
            return false;
        static const char *const name[] = {"replicas", NULL};
        mapping_drop(op, name);
        return true;
    }
    return mapping_set_int(g, op, "replicas", r);
}

/* layers=NAME:R;NAME:R (or NAME=R): copies per named layer (its name in
 * reports, ir_layer_name, or its result's), others 1. */
static bool parse_layers(const Graph *g, const char *text, const MapBlocks *mb, int64_t *replicas, Diags *diags)
{
    bool ok = true;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        const char *sep = NULL;
        for (const char *q = p; q < end; q++)
            if (*q == ':' || *q == '=')
                sep = q;
        char *name = NULL, *stop = NULL;
        long long r = 0;
        if (sep) {
            name = arena_printf(diags->arena, "%.*s", (int)(sep - p), p);
            if (*name == '%')
                name++;
            r = strtoll(sep + 1, &stop, 10);
        }
        if (!sep || stop != end || r < 1 || r > 1000000) {
            diag_error(diags, NULL, "replicate: layers takes NAME:COPIES;NAME:COPIES..., not '%.*s'", (int)(end - p),
                       p);
            ok = false;
        } else {
            int found = -1;
            for (int l = 0; l < mb->n_layers && found < 0; l++)
                if (strcmp(ir_layer_name(g, mb->layers[l].op), name) == 0 ||
                    strcmp(mb->layers[l].op->result->name, name) == 0)
                    found = l;
            if (found < 0) {
                diag_error(diags, NULL, "replicate: no crossbar layer '%s' (layers=)", name);
                ok = false;
            } else {
                replicas[found] = r;
            }
        }
        p = *end ? end + 1 : end;
    }
    return ok;
}

bool pass_replicate(Graph *g, const PassArgs *args, Diags *diags)
{
    const char *mode = pass_arg(args, "mode"), *layers = pass_arg(args, "layers"), *packing = pass_arg(args, "packing");
    bool has_tiles = pass_arg(args, "tiles") != NULL;
    if (mode && strcmp(mode, "none") != 0 && strcmp(mode, "auto") != 0) {
        diag_error(diags, NULL, "replicate: mode must be none or auto, not '%s'", mode);
        return false;
    }
    PackMode pack = PACK_NONE;
    if (packing && !pack_mode_from_name(packing, &pack)) {
        diag_error(diags, NULL, "replicate: packing must be none, dense or balanced, not '%s'", packing);
        return false;
    }
    bool none = mode && strcmp(mode, "none") == 0, search = (mode && !none) || has_tiles;
    if (none && (layers || has_tiles)) {
        diag_error(diags, NULL, "replicate: mode=none takes neither tiles= nor layers=");
        return false;
    }
    if (search && layers) {
        diag_error(diags, NULL, "replicate: give either layers= (copies by hand) or a search (mode=auto, tiles=)");
        return false;
    }
    if (!none && !search && !layers)
        return true;                        /* no options: keep the graph's replicas */
    const Arch *arch = mapping_arch(g, "replicate", diags);
    double budget = 0;
    if (!arch || !pass_arg_number(args, "tiles", arch->tiles, 0, 1e9, &budget, diags))
        return false;

    Arena *scratch = arena_new();
    MapBlocks mb;
    bool ok = mapping_blocks(scratch, g, "replicate", &mb, diags);
    int64_t *replicas = arena_array(scratch, (size_t)mb.n_layers + 1, sizeof(int64_t));
    for (int l = 0; ok && l < mb.n_layers; l++)
        replicas[l] = 1;
    if (ok && layers)
        ok = parse_layers(g, layers, &mb, replicas, diags);
    if (ok && layers) {
        /* The program holds a byte for every cell of its tiles (a tile a
         * block without packing), the simulator a float for every cell of
         * every block: a program that cannot run is refused here, naming the
         * option, before place and emit try. */
        uint64_t cells = 0, blocks = 0, per_tile = (uint64_t)mb.arch->rows * (uint64_t)mb.arch->cols;
        for (int l = 0; l < mb.n_layers; l++) {
            cells += (uint64_t)replicas[l] * (uint64_t)mb.layers[l].cells;   /* <= 10^6 x 2^40 */
            blocks += (uint64_t)replicas[l] * (uint64_t)mb.layers[l].n_blocks;
        }
        uint64_t tiles = packing && pack == PACK_NONE ? blocks : (cells + per_tile - 1) / per_tile;
        const char *what = arena_printf(diags->arena, "replicate: layers=%s (xbarc compile --replicate), at least "
                                        "%llu tiles of %dx%d for %llu blocks,", layers, (unsigned long long)tiles,
                                        mb.arch->rows, mb.arch->cols, (unsigned long long)blocks);
        ok = memory_check(tiles * per_tile + cells * sizeof(float), 1, what, NULL, diags);
    }
    if (ok && search) {
        /* A search never uses more tiles than memory can hold. */
        uint64_t memory_tiles = memory_limit() / ((uint64_t)mb.arch->rows * (uint64_t)mb.arch->cols);
        if (budget > (double)memory_tiles)
            budget = (double)memory_tiles;
        if (budget < 1) {
            diag_error(diags, NULL, "replicate: the search needs a tile budget: give tiles=N (xbarc compile "
                       "--tiles N) or an architecture with tiles");
            ok = false;
        } else {
            ReplLayer *rl = mapping_repl_layers(scratch, &mb);
            PackParams params = {.rows = mb.arch->rows, .cols = mb.arch->cols,
                                 .cols_per_adc = mb.arch->cols_per_adc, .mode = pack, .stage_floor = mb.head_ps};
            if (repl_search(scratch, &params, rl, mb.n_layers, (int64_t)budget, replicas) < 0) {
                int64_t *ones = arena_array(scratch, (size_t)mb.n_layers + 1, sizeof(int64_t));
                for (int l = 0; l < mb.n_layers; l++)
                    ones[l] = 1;
                diag_error(diags, NULL, "replicate: graph @%s needs %lld tiles with one copy of each layer "
                           "(packing %s), more than the budget of %lld", ir_name_text(diags->arena, g->name),
                           (long long)repl_pack(scratch, &params, rl, mb.n_layers, ones, NULL),
                           pack_mode_name(pack), (long long)budget);
                ok = false;
            }
        }
    }
    for (int l = 0; ok && l < mb.n_layers; l++)
        if (set_replicas(g, mb.layers[l].op, replicas[l]))
            mapping_drop(mb.layers[l].op, derived);
    arena_free(scratch);
    return ok;
}
