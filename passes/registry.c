/* registry.c: every pass by name, and the default pipeline.
 *
 * One table is the whole list: `xbarc opt --passes=NAME` looks names up here,
 * --help prints the summaries, and the pass manager names the known passes in
 * its "unknown pass" message.  A new pass is one prototype and one line. */
#include "passes/passes.h"

#include <string.h>

bool pass_remove_identity(Graph *g, Diags *diags);
bool pass_fold_constants(Graph *g, Diags *diags);
bool pass_fold_batchnorm(Graph *g, Diags *diags);
bool pass_dce(Graph *g, Diags *diags);

const Pass pass_registry[] = {
    {"remove-identity", pass_remove_identity,
     "drop identity and dropout ops, and reshapes that do not change the type"},
    {"fold-constants", pass_fold_constants,
     "evaluate ops whose inputs are all constants (results no larger than their inputs)"},
    {"fold-batchnorm", pass_fold_batchnorm,
     "fold a batchnorm into the weights and bias of the conv or gemm before it"},
    {"dce", pass_dce,
     "remove ops whose results are never used, and unused constants"},
};
const int pass_registry_count = (int)(sizeof pass_registry / sizeof pass_registry[0]);

/* Why this order: identities go first so that a batchnorm sits right after its
 * conv (conv -> dropout -> batchnorm exports exist); constants are folded before
 * batchnorms because a weight computed from constants (transpose(w), w * mask)
 * must be a constant for fold-batchnorm to see it; dce last sweeps the old
 * weights that folding left unused. */
const char *const default_pipeline = "remove-identity,fold-constants,fold-batchnorm,dce";

const Pass *pass_find(const char *name)
{
    for (int i = 0; i < pass_registry_count; i++)
        if (strcmp(pass_registry[i].name, name) == 0)
            return &pass_registry[i];
    return NULL;
}
