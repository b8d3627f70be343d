/* mapping.h: what the crossbar mapping passes share (passes/mapping.c,
 * passes/timing.c).
 *
 * The mapping pipeline (sign-map, bit-slice, split, replicate, place,
 * adc-lossless) adds attributes to every xbar op step by step
 * (docs/crossbar.md sections 5 to 7, docs/mapping.md).
 * Each pass reads what the passes before it wrote; when that is missing the
 * error names the op, the attribute and the pass that makes it.  Each pass
 * recomputes its attributes from scratch when run again; when the new values
 * differ from the old ones, it drops the attributes later passes derived from
 * them, so that a stale block count never reaches the verifier or the emitter. */
#ifndef XBARC_PASSES_MAPPING_H
#define XBARC_PASSES_MAPPING_H

#include "ir/ir.h"
#include "passes/pack.h"

/* The graph's architecture, or NULL after an error naming `pass`. */
const Arch *mapping_arch(const Graph *g, const char *pass, Diags *diags);

/* Runs fn on every live xbar op with the graph's architecture (false after an
 * error naming `pass` when there is none); true when every call was. */
bool mapping_each_xbar(Graph *g, const char *pass, bool (*fn)(Graph *g, Op *op, const Arch *arch, Diags *diags),
                       Diags *diags);

/* Attribute `name` of `op` with the given kind, or NULL after an error that
 * names the op, the attribute and the pass that produces it. */
const Attr *mapping_need(const Op *op, const char *pass, const char *name, AttrKind kind, Diags *diags);

/* The op's `sign` attribute as a SignMapping (false after an error). */
bool mapping_sign(const Op *op, const char *pass, SignMapping *sign, Diags *diags);

/* A quantized op carries in_scale (with the other quantization attributes);
 * a float-weight op has none of them. */
bool mapping_quantized(const Op *op);

/* Cuts [0, total) into the fewest parts of at most max_part, sizes differing by
 * at most one, larger parts first.  Returns the number of parts; *splits gets
 * the parts + 1 boundaries (0 first, total last) in `arena`. */
int mapping_balanced_splits(Arena *arena, int64_t total, int64_t max_part, int64_t **splits);

/* Cuts [0, total) into parts of max_part and one smaller remainder last (if
 * max_part does not divide total): 128+128+4. */
int mapping_full_splits(Arena *arena, int64_t total, int64_t max_part, int64_t **splits);

/* Set an attribute; true when its value changed (or it was absent). */
bool mapping_set_int(Graph *g, Op *op, const char *name, int64_t v);
bool mapping_set_string(Graph *g, Op *op, const char *name, const char *v);
bool mapping_set_ints(Graph *g, Op *op, const char *name, const int64_t *v, int count);
bool mapping_set_floats(Graph *g, Op *op, const char *name, const float *v, int count);

/* Removes the attributes named in the NULL-terminated list (absent ones are fine). */
void mapping_drop(Op *op, const char *const *names);

/* ---- blocks, placements and their timing (mapping.c, timing.c; docs/mapping.md) ---- */

/* One xbar op as blocks (docs/crossbar.md 6). */
typedef struct {
    Op *op;
    int64_t vectors;            /* P: input vectors (batch x output pixels, or matmul rows) */
    int64_t cycles;             /* read steps per vector: DAC cycles x input passes */
    int64_t replicas;           /* r, 1 when the op has no `replicas` */
    int first_block;            /* its first block in MapBlocks.blocks */
    int n_blocks;               /* blocks of one copy: G x row blocks x column blocks */
    int64_t cells;              /* cells of one copy: rows x physical columns, reference columns too */
} MapLayer;

typedef struct {
    const Arch *arch;
    int n_layers;
    MapLayer *layers;           /* every live xbar op, in op order */
    int n_blocks;
    PackBlock *blocks;          /* layer by layer, each in the `place` order: replica, group, row block,
                                   column block; work = the copy's share of the vectors x cycles */
} MapBlocks;

/* Read steps per input vector of a layer: ceil(magnitude bits / dac_bits)
 * cycles, times two passes for signed codes (docs/crossbar.md 4); 1 for a
 * float-weight op. */
int64_t mapping_cycles(const Op *op, const Arch *arch);

/* The blocks of every live xbar op (needs sign, slices and the splits; the
 * copies from `replicas`), false after an error naming `pass`. */
bool mapping_blocks(Arena *arena, const Graph *g, const char *pass, MapBlocks *out, Diags *diags);

/* ceil(cells of all blocks, copies included / cells of a tile): no placement
 * can use fewer tiles.  0 when the graph has no blocks yet. */
int64_t mapping_lower_bound(const Graph *g);

/* What a placed graph costs in tiles and time (docs/mapping.md "Timing"; one
 * step = one read of a tile with one DAC cycle of inputs).  The period is the
 * read steps per run (one batch, usually one image) of the slowest pipeline
 * stage, so the pipeline's throughput is 1 / period runs per step; the latency
 * adds all stages. */
typedef struct {
    int64_t tiles;              /* tiles holding at least one block */
    int64_t lower_bound;        /* mapping_lower_bound */
    int64_t blocks;             /* blocks, copies included: the tiles of one block per tile */
    int64_t cells;              /* cells of all blocks */
    double utilization;         /* cells / (tiles x rows x cols) */
    int64_t period, latency;    /* of this placement, blocks that conflict taking turns */
    int64_t period_free, latency_free;  /* the same copies with no turns (as PACK_NONE would give) */
    int64_t period_single;      /* one copy of each layer, no turns */
    double speedup;             /* period_single / period_free: what replication buys */
    double speedup_placed;      /* period_single / period */
    /* With a tile budget (the architecture's `tiles`): repl_turn_bound, no
     * replication and placement of these blocks in the budget has a shorter
     * period, turns charged; 0 without a budget.  period == period_bound
     * proves the placement's throughput optimal. */
    int64_t period_bound;
    double speedup_bound;       /* period_single / period_bound */
    int n_layers;               /* per layer, as in MapBlocks: */
    const Op **ops;
    int64_t *replicas, *stage, *stage_free, *layer_tiles, *layer_cells;
} MappingStats;

/* Statistics of a graph after `place`; false after an error. */
bool mapping_stats(Arena *arena, const Graph *g, MappingStats *stats, Diags *diags);

#endif
