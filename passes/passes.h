/* passes.h: graph-to-graph passes and the pass manager.
 *
 * Every pass has one signature and one line in the registry (passes/registry.c),
 * and can be run alone on textual IR with `xbarc opt --passes=NAME file.xir`. */
#ifndef XBARC_PASSES_H
#define XBARC_PASSES_H

#include "ir/ir.h"

/* A pass rewrites the graph in place; it returns false (with diagnostics) only
 * when the graph cannot be handled. */
typedef bool (*PassFn)(Graph *g, Diags *diags);

typedef struct {
    const char *name;       /* as written in pipelines: "fold-batchnorm" */
    PassFn run;
    const char *summary;    /* one line for --help */
} Pass;

extern const Pass pass_registry[];
extern const int pass_registry_count;
const Pass *pass_find(const char *name);

/* The pipeline `xbarc compile` and `xbarc interp` run on an imported model. */
extern const char *const default_pipeline;
/* Conv, Gemm and MatMul with constant weights to xbar ops (needs Graph.arch set). */
extern const char *const lowering_pipeline;
/* Every xbar op to blocks on tiles: sign-map, bit-slice, split, place, adc-lossless
 * (after quantize, or on float-weight ops). */
extern const char *const mapping_pipeline;

typedef struct {
    bool print_after_all;       /* print the IR after every pass */
    const char *print_after;    /* or after the named pass only */
    bool time_passes;           /* a timing table on `log` at the end */
    FILE *log;                  /* where the above go (stderr if NULL) */
} PassOptions;

/* Runs a comma-separated pipeline, verifying the graph after every pass.  An
 * unknown pass name or a verifier failure stops it with diagnostics. */
bool pass_run_pipeline(Graph *g, const char *pipeline, const PassOptions *options, Diags *diags);

#endif
