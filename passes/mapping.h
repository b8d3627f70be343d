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

/* One xbar op as blocks (docs/crossbar.md 6), with its time (timing.c). */
typedef struct {
    Op *op;
    int64_t vectors;            /* P: input vectors per run (batch x output pixels, or matmul rows) */
    int64_t cycles;             /* read steps per vector: DAC cycles x input passes */
    int64_t vector_ps;          /* the time of one vector's reads: cycles x the step of its
                                   blocks' busiest ADC (the slowest block's, blocks aligned) */
    int64_t replicas;           /* r, 1 when the op has no `replicas` */
    int first_block;            /* its first block in MapBlocks.blocks */
    int n_blocks;               /* blocks of one copy: G x row blocks x column blocks */
    int64_t cells;              /* cells of one copy: rows x physical columns, reference columns too */
    /* Digital time with one copy (ps per run; r copies take ceil(t / r)):
     * its own quant, combine and dequant; the slowest and the sum of the
     * digital-only ops after it, before the next xbar op, which run on its
     * copies' units (tail_op NULL when there are none). */
    int64_t digital_ps;
    const Op *tail_op;
    int64_t tail_ps, tail_sum_ps;
} MapLayer;

typedef struct {
    const Arch *arch;
    TimeModel time;             /* the default figures (passes/pack.h) */
    int64_t images_per_run;     /* the first input's leading dimension (rank >= 2), else 1 */
    int n_layers;
    MapLayer *layers;           /* every live xbar op, in op order */
    int n_blocks;
    PackBlock *blocks;          /* layer by layer, each in the `place` order: replica, group, row block,
                                   column block; work = the copy's share of the vectors x vector_ps */
    /* Digital-only ops before the first xbar op: one set of units, no copies. */
    const Op *head_op;          /* the slowest, or NULL */
    int64_t head_ps, head_sum_ps;
} MapBlocks;

/* Read steps per input vector of a layer: ceil(magnitude bits / dac_bits)
 * cycles, times two passes for signed codes (docs/crossbar.md 4); 1 for a
 * float-weight op. */
int64_t mapping_cycles(const Op *op, const Arch *arch);

/* The blocks of every live xbar op (needs sign, slices and the splits; the
 * copies from `replicas`), false after an error naming `pass`. */
bool mapping_blocks(Arena *arena, const Graph *g, const char *pass, MapBlocks *out, Diags *diags);

/* The layers as the replication search sees them (passes/pack.h), in `arena`. */
ReplLayer *mapping_repl_layers(Arena *arena, const MapBlocks *mb);

/* The pipeline's period with the blocks' copies and no turns (ps per run):
 * what balanced packing may not exceed. */
int64_t mapping_period_free(const MapBlocks *mb);

/* ceil(cells of all blocks, copies included / cells of a tile): no placement
 * can use fewer tiles.  0 when the graph has no blocks yet. */
int64_t mapping_lower_bound(const Graph *g);

/* What a placed graph costs in tiles and time (docs/mapping.md "Timing",
 * docs/perf.md 3; times in picoseconds per run, one batch, usually one
 * image).  The period is the time of the slowest pipeline stage, so the
 * pipeline's throughput is images_per_run / period; the latency adds the
 * crossbar and digital time of every layer. */
typedef struct {
    int64_t tiles;              /* tiles holding at least one block */
    int64_t lower_bound;        /* mapping_lower_bound */
    int64_t blocks;             /* blocks, copies included: the tiles of one block per tile */
    int64_t cells;              /* cells of all blocks */
    double utilization;         /* cells / (tiles x rows x cols) */
    int64_t images_per_run;
    int64_t period, latency;    /* of this placement, blocks that conflict taking turns */
    int64_t period_free, latency_free;  /* the same copies with no turns (as PACK_NONE would give) */
    int64_t period_single;      /* one copy of each layer, no turns */
    double speedup;             /* period_single / period_free: what replication buys */
    double speedup_placed;      /* period_single / period */
    double images_per_s;        /* images_per_run / period */
    /* The slowest stage (the first of equals in program order): a crossbar
     * layer or a digital-only op, and whether digital ops (rather than the
     * crossbar's reads) set its time. */
    const Op *bottleneck;
    bool bottleneck_digital;
    /* With a tile budget (the architecture's `tiles`): repl_turn_bound, no
     * replication and placement of these blocks in the budget has a shorter
     * period, turns charged; 0 without a budget.  period == period_bound
     * proves the placement's throughput optimal. */
    int64_t period_bound;
    double speedup_bound;       /* period_single / period_bound */
    int n_layers;               /* per layer, as in MapBlocks: */
    const Op **ops;
    /* stage: max(crossbar time with turns, its own digital time), stage_free
     * the same without turns; xbar: the crossbar time alone */
    int64_t *replicas, *stage, *stage_free, *xbar, *layer_tiles, *layer_cells;
} MappingStats;

/* Where a graph's multiply-accumulates run, per image (ir_op_macs of
 * every live op, over the first input's batch): on crossbars (xbar ops) or
 * on the digital units (products left digital, named in op order). */
typedef struct {
    double crossbar, digital;
    double share;               /* crossbar / (crossbar + digital); 1 with no MACs */
    int n_digital;
    const Op **digital_ops;
} MacStats;
void mapping_macs(Arena *arena, const Graph *g, MacStats *macs);

/* Statistics of a graph after `place`; false after an error. */
bool mapping_stats(Arena *arena, const Graph *g, MappingStats *stats, Diags *diags);

#endif
