/* pack.h: blocks as rectangles on tiles, the time their reads take, and the
 * replication search (passes/pack.c, passes/timing.c, passes/replicate.c).
 *
 * These work on plain block lists, not on the graph, so that the place and
 * replicate passes, the mapping report and the unit tests share one packer
 * and one timing model; docs/mapping.md explains the algorithms.  The graph
 * side (collecting an op's blocks, statistics of a placed graph) is in
 * passes/mapping.h. */
#ifndef XBARC_PASSES_PACK_H
#define XBARC_PASSES_PACK_H

#include "ir/ir.h"

typedef enum {
    PACK_NONE,          /* every block on a tile of its own, at (0, 0) */
    PACK_DENSE,         /* fewest tiles: any blocks may share a tile */
    PACK_BALANCED,      /* share tiles only where no stage gets slower than the slowest stage */
} PackMode;

bool pack_mode_from_name(const char *name, PackMode *mode);
const char *pack_mode_name(PackMode mode);

/* One block: rows x physical columns (reference columns included) of cells.
 * Blocks of the same layer and replica but of different groups may never
 * share a row or a column of a tile (groups are packed block-diagonally). */
typedef struct {
    int rows, cols;
    int layer, replica, group;
    int64_t work;               /* time its reads take per run (picoseconds for a graph's blocks,
                                   time_step_ps): its input vectors x the time of one vector */
} PackBlock;

/* Where a block went: tile, and the row and column of its top-left cell. */
typedef struct {
    int64_t tile;
    int row, col;
} PackSpot;

typedef struct {
    int rows, cols;             /* of a tile */
    int cols_per_adc;           /* columns sharing one ADC */
    PackMode mode;
    /* PACK_BALANCED: no block's period (timing below) may exceed this; 0 means
     * the largest `work` of all blocks, the period of the slowest stage when
     * no block shares a tile. */
    int64_t period_budget;
    /* The replication search: a stage no copy shortens (the digital ops
     * before the first crossbar layer), in the unit of `work`; 0 for none. */
    int64_t stage_floor;
} PackParams;

/* Places the n blocks (none larger than a tile), writing spots[i] for block i;
 * returns the number of tiles used, numbered 0 .. tiles - 1. */
int64_t pack_blocks(const PackParams *params, const PackBlock *blocks, int n, PackSpot *spots);

/* ---- timing (passes/timing.c; docs/mapping.md "Timing", docs/perf.md 3) ---- */

/* The one stage-time model: the replication search, the packer's budget, the
 * mapping report and the performance model (backend/perf.c) charge a read
 * step read_ns plus conv_ns for each conversion its block's busiest shared
 * ADC makes, one after another, and a layer's digital ops (quant, combine,
 * dequant, and the digital-only ops after it) at digital_gops ops per ns for
 * each copy of the layer.  These are the performance model's defaults
 * (docs/perf.md 1, `--perf` overrides them at run time only). */
#define TIME_READ_NS 100.0          /* ISAAC's crossbar read cycle */
#define TIME_ADC_RATE_GSPS 1.28     /* ISAAC's SAR ADC: a conversion takes 1 / 1.28 ns */
#define TIME_DIGITAL_GOPS 1.2       /* one digital op a cycle at ISAAC's 1.2 GHz, per copy of a layer */

typedef struct {
    double read_ns;             /* a read step's crossbar time */
    double conv_ns;             /* one conversion of a shared ADC */
    double digital_gops;        /* digital ops per ns of one copy's units */
} TimeModel;

TimeModel time_model_default(void);

/* Conversions the busiest ADC of a block makes in one read: the ADC of
 * physical columns [k cols_per_adc, (k + 1) cols_per_adc) converts the
 * block's conversions whose first column lies there (one per analog pair,
 * one per column otherwise), one after another. */
int time_adc_turns(int phys_cols, int tile_col, bool pair_analog, int cols_per_adc);

/* One read step with `turns` conversions on the busiest ADC, in picoseconds. */
int64_t time_step_ps(const TimeModel *model, int turns);

/* `ops` digital ops on one copy's units, in picoseconds (rounded up); r
 * copies take ceil(that / r) (time_share). */
int64_t time_digital_ps(const TimeModel *model, double ops);
int64_t time_share(int64_t total, int64_t r);

/* Why a product op is left on the digital units, for the reports: "products
 * of two activations" when no operand is constant, else "left digital". */
const char *time_digital_reason(const Op *op);

/* The digital work of a graph op that is not a crossbar layer, per run: ops
 * (docs/perf.md 3: element-wise 1 an output, pooling its kernel an output,
 * global pooling 1 an input, softmax 3, batchnorm 2, a conv, gemm or matmul
 * left digital 2 a MAC (a multiply and an add), views nothing) and buffer bytes at `value_bytes` a
 * value (non-constant inputs and the result; concat, transpose and pad move
 * data only). */
void time_op_work(const Op *op, double value_bytes, double *ops, double *bytes);

/* Two placed blocks conflict, and so take turns, when they share a tile and a
 * row, or a group of cols_per_adc columns (one ADC). */
bool pack_conflict(const PackParams *params, const PackBlock *a, const PackSpot *sa, const PackBlock *b,
                   const PackSpot *sb);

/* Each block's period: read steps its tile spends per image on it and on the
 * blocks it conflicts with (its own work plus theirs). */
void pack_periods(const PackParams *params, const PackBlock *blocks, const PackSpot *spots, int n,
                  int64_t *period);

/* ---- replication (passes/replicate.c; docs/background.md 7) ---- */

/* One layer as the replication search sees it. */
typedef struct {
    int64_t vectors;            /* P: input vectors per run */
    int64_t vector_time;        /* the reads of one vector (a graph's: picoseconds) */
    int n_blocks;               /* blocks of one copy */
    const PackBlock *blocks;    /* those blocks (layer, replica and work are filled in per copy) */
    int64_t digital;            /* its slowest digital stage with one copy, same unit (0: none);
                                   r copies share it: ceil(digital / r) */
} ReplLayer;

/* Stage time of a layer with r copies: the busiest copy's ceil(P / r) vectors
 * x vector_time, or its digital share ceil(digital / r) when that is longer. */
int64_t repl_stage_time(const ReplLayer *layer, int64_t r);

/* Tiles the packer needs for the layers with replicas[l] copies each (copy j
 * of layer l processes its share of the P vectors); with `spots` non-NULL
 * (room for the total block count) it also returns the placement, blocks in
 * layer order, copy-major.  `scratch` holds the block list. */
int64_t repl_pack(Arena *scratch, const PackParams *params, const ReplLayer *layers, int n_layers,
                  const int64_t *replicas, PackSpot *spots);

/* The exact search of docs/background.md 7: the replication minimizing the
 * slowest stage, max(stage_floor, max_l repl_stage_time(l, r_l)), among those
 * the packer fits in `tiles` tiles (1 <= r_l <= P_l).  The candidate bottlenecks are the stage times a layer can
 * have; the cheapest replication meeting a bottleneck B is r_l = the fewest
 * copies with stage time <= B, and the smallest feasible B is found by binary
 * search with the packer as the test.  Writes replicas[l] and returns the
 * bottleneck, or -1 when even one copy of each layer does not fit. */
int64_t repl_search(Arena *scratch, const PackParams *params, const ReplLayer *layers, int n_layers,
                    int64_t tiles, int64_t *replicas);

/* A lower bound on the period (turns charged, pack_periods) of every
 * replication and every placement of these blocks in `tiles` tiles, or -1 when
 * none fits.  It is the smallest candidate b such that some placement could
 * have a period in [b, next candidate): the cheapest replication of b has no
 * more cells than the tiles, no more blocks that need a tile of their own
 * (full ones, and those spanning the tile's height or width or taking over
 * half of both whose work is at least half the period), and reads that fit
 * the tiles' row and ADC time (docs/mapping.md "The optimum with turns").
 * With balanced packing, repl_search reaching this value proves its
 * replication and placement optimal. */
int64_t repl_turn_bound(Arena *scratch, const PackParams *params, const ReplLayer *layers, int n_layers,
                        int64_t tiles);

#endif
