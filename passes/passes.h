/* passes.h: graph-to-graph passes and the pass manager.
 *
 * Every pass has one signature and one line in the registry (passes/registry.c),
 * and can be run alone on textual IR with `xbarc opt --passes=NAME file.xir`. */
#ifndef XBARC_PASSES_H
#define XBARC_PASSES_H

#include "ir/ir.h"

/* Options of one pass run, written in a pipeline as `NAME{key=value,...}`
 * (`place{packing=dense}`).  The manager checks every key against the pass's
 * table entry before anything runs. */
typedef struct {
    const char *pass;       /* for messages */
    int count;
    const char **keys, **values;
} PassArgs;

/* The value of `key`, or NULL when absent (args may be NULL: no options). */
const char *pass_arg(const PassArgs *args, const char *key);
/* A number option: *out = dflt when absent; false, with an error naming the pass
 * and the key, when the value is not a number in [lo, hi]. */
bool pass_arg_number(const PassArgs *args, const char *key, double dflt, double lo, double hi, double *out,
                     Diags *diags);

/* A pass rewrites the graph in place; it returns false (with diagnostics) only
 * when the graph cannot be handled. */
typedef bool (*PassFn)(Graph *g, const PassArgs *args, Diags *diags);

typedef struct {
    const char *name;       /* as written in pipelines: "fold-batchnorm" */
    PassFn run;
    const char *summary;    /* one line for --help */
    const char *options;    /* accepted options, "key=VALUES key2=N", or NULL */
} Pass;

extern const Pass pass_registry[];
extern const int pass_registry_count;
const Pass *pass_find(const char *name);

/* The pipeline `xbarc compile` and `xbarc interp` run on an imported model. */
extern const char *const default_pipeline;
/* Conv, Gemm and MatMul with constant weights to xbar ops (needs Graph.arch set). */
extern const char *const lowering_pipeline;
/* Every xbar op to blocks on tiles: sign-map, bit-slice, split, replicate,
 * place, adc-lossless (after quantize, or on float-weight ops), each pass with
 * its own defaults: one block per tile, no copies. */
extern const char *const mapping_pipeline;
/* What `xbarc compile` packs with when not told: the fewest tiles that keep
 * the pipeline's throughput (docs/mapping.md 2). */
#define MAPPING_DEFAULT_PACKING "balanced"
/* mapping_pipeline with the options of a packing (none, dense, balanced; NULL:
 * MAPPING_DEFAULT_PACKING) and a replication (NULL: keep the graph's copies;
 * "none"; "auto": the fewest-bottleneck copies for the architecture's tile
 * budget; or "LAYER=R,...": by hand), in the same order (docs/mapping.md). */
const char *mapping_pipeline_for(Arena *arena, const char *packing, const char *replicate);

typedef struct {
    bool print_after_all;       /* print the IR after every pass */
    const char *print_after;    /* or after the named pass only */
    bool time_passes;           /* a timing table on `log` at the end */
    FILE *log;                  /* where the above go (stderr if NULL) */
} PassOptions;

/* Runs a comma-separated pipeline (each entry NAME or NAME{key=value,...}), verifying the graph after every pass.  An
 * unknown pass name or a verifier failure stops it with diagnostics. */
bool pass_run_pipeline(Graph *g, const char *pipeline, const PassOptions *options, Diags *diags);

#endif
