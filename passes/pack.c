/* pack.c: blocks as rectangles on tiles (passes/pack.h, docs/mapping.md).
 *
 * A two-dimensional bin packing: rectangles of rows x physical columns go into
 * tiles of rows x cols, no two sharing a cell, in as few tiles as possible.
 * The heuristic is MaxRects (Jylanki, "A thousand ways to pack the bin"):
 * each open tile keeps the list of its maximal free rectangles; blocks go in
 * order of decreasing height (then width), each into the first open tile with
 * a position for it.  For blocks that all span a tile's width (the remainder
 * row blocks of most CNN layers) this is first-fit decreasing bin packing of
 * heights, within 11/9 of the optimum and in practice at it; full blocks get
 * a tile of their own at once.
 *
 * Groups of one layer and copy never share a row or a column of a tile
 * (block-diagonal, so that they read in one step).  Candidate positions in a
 * free rectangle are its top-left corner, the position below and right of the
 * layer's other groups already there, and (balanced) the first position on
 * rows and ADC column groups no block of the tile uses.  Dense mode takes the
 * bottom-left one and packs grouped layers first, so that the groups of
 * different layers fill bands side by side; balanced mode takes the least
 * added waiting (pack_periods), then the best short-side fit, and refuses
 * positions that would push a block's period past the budget, so packing
 * never slows the pipeline's slowest stage.  Tiles close when no remaining
 * block fits any of their free rectangles, and a block like the previous one
 * starts after the tiles that refused it, which keeps the search linear in
 * practice. */
#include "passes/pack.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int y, x, h, w;
} Rect;

typedef struct {
    Rect *free;
    int n_free, cap_free;
    int *blocks;                /* placed here, by block index */
    int n_blocks, cap_blocks;
    int *row_use, *adc_use;     /* blocks using each row, each ADC group */
    int64_t free_area;
    bool closed;
} Tile;

typedef struct {
    Arena *arena;
    const PackParams *params;
    const PackBlock *blocks;
    PackSpot *spots;
    int64_t *period;            /* of placed blocks */
    int adc_groups, cols_per_adc;
    int64_t budget;             /* 0: none */
    Tile **tiles;               /* by tile number; NULL for a tile one full block fills */
    int64_t n_tiles, cap_tiles;
    int64_t *open;              /* tiles that may still take blocks, oldest first */
    int64_t n_open, cap_open;
    Rect *scratch;              /* for splitting free rectangles */
    bool *gone;
    int cap_scratch;
    bool *grouped;              /* by layer: blocks of several groups */
    int *kin;                   /* room for best_position's list */
} Packer;

bool pack_mode_from_name(const char *name, PackMode *mode)
{
    static const char *const names[] = {"none", "dense", "balanced"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, names[i]) == 0) {
            *mode = (PackMode)i;
            return true;
        }
    }
    return false;
}

const char *pack_mode_name(PackMode mode)
{
    return mode == PACK_DENSE ? "dense" : mode == PACK_BALANCED ? "balanced" : "none";
}

static int64_t new_tile(Packer *p, bool full)
{
    ARENA_GROW(p->arena, p->tiles, p->n_tiles, p->cap_tiles);
    Tile *t = NULL;
    if (!full) {
        t = arena_alloc(p->arena, sizeof *t);
        t->row_use = arena_array(p->arena, (size_t)p->params->rows, sizeof(int));
        t->adc_use = arena_array(p->arena, (size_t)p->adc_groups, sizeof(int));
        t->free = arena_array(p->arena, 16, sizeof(Rect));
        t->cap_free = 16;
        t->free[t->n_free++] = (Rect){0, 0, p->params->rows, p->params->cols};
        t->free_area = (int64_t)p->params->rows * p->params->cols;
        ARENA_GROW(p->arena, p->open, p->n_open, p->cap_open);
        p->open[p->n_open++] = p->n_tiles;
    }
    p->tiles[p->n_tiles] = t;
    return p->n_tiles++;
}

static bool overlap(int a0, int a1, int b0, int b1)
{
    return a0 < b1 && b0 < a1;
}

/* ---- judging a position ---- */

/* What best_position knows about one block and one tile. */
typedef struct {
    const Packer *p;
    const Tile *t;
    const PackBlock *blk;
    int *kin, n_kin;            /* blocks of the same layer and copy, other groups, on the tile */
    int low, right;             /* below and right of all of them */
} Ask;

typedef struct {
    int y, x;
    int64_t cost;               /* added waiting; -1: no position yet */
    int fit;                    /* short side left over in the free rectangle */
} Choice;

/* Block-diagonal: no row and no column shared with another group. */
static bool diagonal(const Ask *a, int y, int x)
{
    for (int i = 0; i < a->n_kin; i++) {
        const PackBlock *o = &a->p->blocks[a->kin[i]];
        const PackSpot *s = &a->p->spots[a->kin[i]];
        if (overlap(y, y + a->blk->rows, s->row, s->row + o->rows) ||
            overlap(x, x + a->blk->cols, s->col, s->col + o->cols))
            return false;
    }
    return true;
}

/* Does a block at (y, x) share a row or an ADC with any block of the tile? */
static bool busy(const Ask *a, int y, int x)
{
    for (int r = y; r < y + a->blk->rows; r++)
        if (a->t->row_use[r] > 0)
            return true;
    int per_adc = a->p->cols_per_adc;
    for (int g = x / per_adc; g <= (x + a->blk->cols - 1) / per_adc; g++)
        if (a->t->adc_use[g] > 0)
            return true;
    return false;
}

/* The waiting a position adds (the sum of the periods' increases), or -1 when
 * it pushes a period past the budget. */
static int64_t waiting(const Ask *a, int y, int x)
{
    const Packer *p = a->p;
    PackSpot here = {0, y, x};
    int64_t cost = 0, own = a->blk->work;
    for (int i = 0; i < a->t->n_blocks; i++) {
        int c = a->t->blocks[i];
        PackSpot there = p->spots[c];
        there.tile = 0;
        if (!pack_conflict(p->params, a->blk, &here, &p->blocks[c], &there))
            continue;
        if (p->budget && p->period[c] + a->blk->work > p->budget)
            return -1;
        own += p->blocks[c].work;
        cost += a->blk->work + p->blocks[c].work;
    }
    return p->budget && own > p->budget ? -1 : cost;
}

/* The first start in [lo, hi] of `len` consecutive unused entries of use[];
 * -1 when there is none. */
static int first_unused_run(const int *use, int lo, int hi, int len)
{
    for (int s = lo; s <= hi; s++) {
        int bad = -1;
        for (int i = s + len - 1; i >= s && bad < 0; i--)
            if (use[i] > 0)
                bad = i;
        if (bad < 0)
            return s;
        s = bad;                    /* the next start is past the used entry */
    }
    return -1;
}

/* Dense: bottom-left (the lowest row, then the leftmost column), which
 * keeps free space in one piece and lays groups of different layers side by
 * side in bands.  Balanced: the least waiting, then the best short-side fit. */
static bool better(const Packer *p, const Choice *a, const Choice *b)
{
    if (b->cost < 0)
        return true;
    if (p->params->mode == PACK_DENSE)
        return a->y != b->y ? a->y < b->y : a->x < b->x;
    if (a->cost != b->cost)
        return a->cost < b->cost;
    if (a->fit != b->fit)
        return a->fit < b->fit;
    return a->y != b->y ? a->y < b->y : a->x < b->x;
}

/* Candidate (y, x) in free rectangle f; in balanced mode positions that
 * share rows or ADCs are judged (slowly) only when `shared` is set. */
static void consider(const Ask *a, const Rect *f, int y, int x, bool shared, Choice *best)
{
    if (y < f->y || x < f->x || y + a->blk->rows > f->y + f->h || x + a->blk->cols > f->x + f->w ||
        !diagonal(a, y, x))
        return;
    Choice c = {y, x, 0, 0};
    int dh = f->h - a->blk->rows, dw = f->w - a->blk->cols;
    c.fit = dh < dw ? dh : dw;
    if (a->p->params->mode == PACK_BALANCED && busy(a, y, x)) {
        if (!shared)
            return;
        c.cost = waiting(a, y, x);
        if (c.cost < 0)
            return;
    }
    if (better(a->p, &c, best))
        *best = c;
}

static void candidates(const Ask *a, bool shared, Choice *best)
{
    const Packer *p = a->p;
    for (int i = 0; i < a->t->n_free; i++) {
        const Rect *f = &a->t->free[i];
        if (f->h < a->blk->rows || f->w < a->blk->cols)
            continue;
        consider(a, f, f->y, f->x, shared, best);
        if (a->n_kin)
            consider(a, f, a->low > f->y ? a->low : f->y, a->right > f->x ? a->right : f->x, shared, best);
        if (p->params->mode != PACK_BALANCED || shared)
            continue;
        int y = first_unused_run(a->t->row_use, f->y, f->y + f->h - a->blk->rows, a->blk->rows);
        int x = first_unused_run(a->t->adc_use, (f->x + p->cols_per_adc - 1) / p->cols_per_adc,
                                 (f->x + f->w - a->blk->cols) / p->cols_per_adc,
                                 (a->blk->cols + p->cols_per_adc - 1) / p->cols_per_adc);
        if (y >= 0 && x >= 0)
            consider(a, f, y, x * p->cols_per_adc, shared, best);
    }
}

/* The best position for block b in tile t (cost -1: none).  Balanced mode
 * looks for a position on free rows and ADCs first, and weighs waiting only
 * when there is none. */
static Choice best_position(Packer *p, const Tile *t, int b)
{
    Ask a = {.p = p, .t = t, .blk = &p->blocks[b], .kin = p->kin};
    if (p->grouped[a.blk->layer]) {
        for (int i = 0; i < t->n_blocks; i++) {
            int c = t->blocks[i];
            const PackBlock *o = &p->blocks[c];
            if (o->layer != a.blk->layer || o->replica != a.blk->replica || o->group == a.blk->group)
                continue;
            a.kin[a.n_kin++] = c;
            a.low = p->spots[c].row + o->rows > a.low ? p->spots[c].row + o->rows : a.low;
            a.right = p->spots[c].col + o->cols > a.right ? p->spots[c].col + o->cols : a.right;
        }
    }
    Choice best = {0, 0, -1, 0};
    candidates(&a, false, &best);
    if (best.cost < 0 && p->params->mode == PACK_BALANCED)
        candidates(&a, true, &best);
    return best;
}

/* ---- placing ---- */

static bool contains(const Rect *a, const Rect *b)
{
    return b->y >= a->y && b->x >= a->x && b->y + b->h <= a->y + a->h && b->x + b->w <= a->x + a->w;
}

static bool same(const Rect *a, const Rect *b)
{
    return a->y == b->y && a->x == b->x && a->h == b->h && a->w == b->w;
}

static bool cut(const Rect *f, const Rect *used)
{
    return overlap(f->y, f->y + f->h, used->y, used->y + used->h) &&
           overlap(f->x, f->x + f->w, used->x, used->x + used->w);
}

/* MaxRects update: every free rectangle the block cuts is replaced by its
 * (up to four) maximal parts outside the block; then rectangles inside
 * others go.  Untouched rectangles never contain one another, so only the new
 * parts need checking against all (of two equal ones the later goes). */
static void cut_free(Packer *p, Tile *t, const Rect *used)
{
    if (p->cap_scratch < 4 * t->n_free + 4) {
        p->cap_scratch = 2 * (4 * t->n_free + 4);
        p->scratch = arena_array(p->arena, (size_t)p->cap_scratch, sizeof(Rect));
        p->gone = arena_array(p->arena, (size_t)p->cap_scratch, sizeof(bool));
    }
    Rect *out = p->scratch;
    int n = 0;
    for (int i = 0; i < t->n_free; i++)
        if (!cut(&t->free[i], used))
            out[n++] = t->free[i];
    int kept = n;
    for (int i = 0; i < t->n_free; i++) {
        const Rect *f = &t->free[i];
        if (!cut(f, used))
            continue;
        if (used->y > f->y)
            out[n++] = (Rect){f->y, f->x, used->y - f->y, f->w};
        if (used->y + used->h < f->y + f->h)
            out[n++] = (Rect){used->y + used->h, f->x, f->y + f->h - used->y - used->h, f->w};
        if (used->x > f->x)
            out[n++] = (Rect){f->y, f->x, f->h, used->x - f->x};
        if (used->x + used->w < f->x + f->w)
            out[n++] = (Rect){f->y, used->x + used->w, f->h, f->x + f->w - used->x - used->w};
    }
    bool *gone = p->gone;
    memset(gone, 0, (size_t)n * sizeof(bool));
    for (int i = kept; i < n; i++)
        for (int j = 0; j < n && !gone[i]; j++)
            if (j != i && !gone[j] && contains(&out[j], &out[i]) && (j < i || !same(&out[i], &out[j])))
                gone[i] = true;
    for (int i = 0; i < kept; i++)
        for (int j = kept; j < n && !gone[i]; j++)
            if (!gone[j] && contains(&out[j], &out[i]))
                gone[i] = true;
    t->n_free = 0;
    for (int i = 0; i < n; i++) {
        if (gone[i])
            continue;
        ARENA_GROW(p->arena, t->free, t->n_free, t->cap_free);
        t->free[t->n_free++] = out[i];
    }
}

static void place(Packer *p, int64_t tile, int b, int y, int x)
{
    const PackBlock *blk = &p->blocks[b];
    p->spots[b] = (PackSpot){tile, y, x};
    p->period[b] = blk->work;
    Tile *t = p->tiles[tile];
    if (!t)
        return;
    for (int i = 0; i < t->n_blocks; i++) {
        int c = t->blocks[i];
        if (pack_conflict(p->params, blk, &p->spots[b], &p->blocks[c], &p->spots[c])) {
            p->period[c] += blk->work;
            p->period[b] += p->blocks[c].work;
        }
    }
    ARENA_GROW(p->arena, t->blocks, t->n_blocks, t->cap_blocks);
    t->blocks[t->n_blocks++] = b;
    for (int r = y; r < y + blk->rows; r++)
        t->row_use[r]++;
    for (int g = x / p->cols_per_adc; g <= (x + blk->cols - 1) / p->cols_per_adc; g++)
        t->adc_use[g]++;
    t->free_area -= (int64_t)blk->rows * blk->cols;
    cut_free(p, t, &(Rect){y, x, blk->rows, blk->cols});
}

/* ---- order and driver ---- */

static const PackBlock *sort_blocks;
static const int *sort_groups;          /* by layer: groups, 0 when packed by size alone */

/* Grouped layers first in dense mode, the layers with most groups first: their
 * groups, side by side in bands, fill tiles that the other blocks could not
 * share anyway; then by decreasing height and width. */
static int by_order(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    const PackBlock *u = &sort_blocks[i], *v = &sort_blocks[j];
    int gu = sort_groups[u->layer], gv = sort_groups[v->layer];
    if (gu != gv)
        return gv - gu;
    if (gu && u->layer != v->layer)
        return u->layer - v->layer;
    if (u->rows != v->rows)
        return v->rows - u->rows;
    if (u->cols != v->cols)
        return v->cols - u->cols;
    if (u->layer != v->layer)
        return u->layer - v->layer;
    if (u->replica != v->replica)
        return u->replica - v->replica;
    return i - j;
}

/* A tile closes when none of its free rectangles can take a block of at
 * least the smallest remaining height and width. */
static bool can_take(const Tile *t, int min_rows, int min_cols)
{
    for (int i = 0; i < t->n_free; i++)
        if (t->free[i].h >= min_rows && t->free[i].w >= min_cols)
            return true;
    return false;
}

/* Blocks b and c are alike when c can go nowhere b could not: the same
 * shape and, where more than the shape matters, the same layer, copy and work. */
static bool alike(const Packer *p, int b, int c)
{
    const PackBlock *u = &p->blocks[b], *v = &p->blocks[c];
    if (u->rows != v->rows || u->cols != v->cols)
        return false;
    if (p->params->mode == PACK_DENSE && !p->grouped[u->layer] && !p->grouped[v->layer])
        return true;
    return u->layer == v->layer && u->replica == v->replica && u->work == v->work;
}

int64_t pack_blocks(const PackParams *params, const PackBlock *blocks, int n, PackSpot *spots)
{
    if (params->mode == PACK_NONE) {
        for (int i = 0; i < n; i++)
            spots[i] = (PackSpot){i, 0, 0};
        return n;
    }
    Packer p = {.arena = arena_new(), .params = params, .blocks = blocks, .spots = spots};
    p.cols_per_adc = params->cols_per_adc > 0 ? params->cols_per_adc : 1;
    p.adc_groups = (params->cols + p.cols_per_adc - 1) / p.cols_per_adc;
    p.period = arena_array(p.arena, (size_t)(n ? n : 1), sizeof(int64_t));
    p.kin = arena_array(p.arena, (size_t)(n ? n : 1), sizeof(int));
    int layers = 0;
    for (int i = 0; i < n; i++)
        layers = blocks[i].layer + 1 > layers ? blocks[i].layer + 1 : layers;
    p.grouped = arena_array(p.arena, (size_t)layers + 1, sizeof(bool));
    int *groups = arena_array(p.arena, (size_t)layers + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        p.grouped[blocks[i].layer] |= blocks[i].group != 0;
        if (params->mode == PACK_DENSE && blocks[i].group + 1 > groups[blocks[i].layer])
            groups[blocks[i].layer] = blocks[i].group + 1;
        if (params->mode == PACK_BALANCED && !params->period_budget && blocks[i].work > p.budget)
            p.budget = blocks[i].work;
    }
    for (int l = 0; l < layers; l++)
        groups[l] = p.grouped[l] ? groups[l] : 0;
    if (params->mode == PACK_BALANCED && params->period_budget)
        p.budget = params->period_budget;

    int *order = arena_array(p.arena, (size_t)(n ? n : 1), sizeof(int));
    for (int i = 0; i < n; i++)
        order[i] = i;
    sort_blocks = blocks;
    sort_groups = groups;
    qsort(order, (size_t)n, sizeof(int), by_order);
    int *min_rows = arena_array(p.arena, (size_t)n + 1, sizeof(int));    /* over order[i..] */
    int *min_cols = arena_array(p.arena, (size_t)n + 1, sizeof(int));
    min_rows[n] = params->rows + 1;
    min_cols[n] = params->cols + 1;
    for (int i = n - 1; i >= 0; i--) {
        const PackBlock *blk = &blocks[order[i]];
        min_rows[i] = blk->rows < min_rows[i + 1] ? blk->rows : min_rows[i + 1];
        min_cols[i] = blk->cols < min_cols[i + 1] ? blk->cols : min_cols[i + 1];
    }

    /* A block alike to the one before it cannot go into a tile that one could
     * not take (tiles only fill up and periods only grow), so the search
     * starts at the tile after the last refusal. */
    int64_t skip_below = 0;
    for (int k = 0; k < n; k++) {
        int b = order[k];
        const PackBlock *blk = &blocks[b];
        if (k == 0 || !alike(&p, order[k - 1], b))
            skip_below = 0;
        if (blk->rows >= params->rows && blk->cols >= params->cols) {
            place(&p, new_tile(&p, true), b, 0, 0);
            continue;
        }
        int64_t area = (int64_t)blk->rows * blk->cols, kept = 0;
        bool placed = false;
        for (int64_t i = 0; i < p.n_open; i++) {
            int64_t id = p.open[i];
            Tile *t = p.tiles[id];
            if (placed || id < skip_below) {            /* keep these as they are */
                p.open[kept++] = id;
                continue;
            }
            if (t->free_area >= area) {
                Choice c = best_position(&p, t, b);
                if (c.cost >= 0) {
                    place(&p, id, b, c.y, c.x);
                    placed = true;
                }
            }
            if (!placed)
                skip_below = id + 1;
            if (k + 1 < n && can_take(t, min_rows[k + 1], min_cols[k + 1]))
                p.open[kept++] = id;
        }
        p.n_open = kept;
        if (!placed) {
            int64_t id = new_tile(&p, false);
            Choice c = best_position(&p, p.tiles[id], b);
            place(&p, id, b, c.y, c.x);
            skip_below = id;
        }
    }
    int64_t tiles = p.n_tiles;
    arena_free(p.arena);
    return tiles;
}
