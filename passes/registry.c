/* registry.c: every pass by name, and the default pipeline.
 *
 * One table is the whole list: `xbarc opt --passes=NAME` looks names up here,
 * --help prints the summaries, and the pass manager names the known passes in
 * its "unknown pass" message.  A new pass is one prototype and one line. */
#include "passes/passes.h"

#include <string.h>

bool pass_remove_identity(Graph *g, const PassArgs *args, Diags *diags);
bool pass_fold_constants(Graph *g, const PassArgs *args, Diags *diags);
bool pass_fold_batchnorm(Graph *g, const PassArgs *args, Diags *diags);
bool pass_dce(Graph *g, const PassArgs *args, Diags *diags);
bool pass_lower_xbar(Graph *g, const PassArgs *args, Diags *diags);
bool pass_convtranspose_to_conv(Graph *g, const PassArgs *args, Diags *diags);
bool pass_quantize(Graph *g, const PassArgs *args, Diags *diags);
bool pass_sign_map(Graph *g, const PassArgs *args, Diags *diags);
bool pass_bit_slice(Graph *g, const PassArgs *args, Diags *diags);
bool pass_split(Graph *g, const PassArgs *args, Diags *diags);
bool pass_place(Graph *g, const PassArgs *args, Diags *diags);
bool pass_replicate(Graph *g, const PassArgs *args, Diags *diags);
bool pass_adc_lossless(Graph *g, const PassArgs *args, Diags *diags);
bool pass_adc_alloc(Graph *g, const PassArgs *args, Diags *diags);

const Pass pass_registry[] = {
    {"remove-identity", pass_remove_identity,
     "drop identity and dropout ops, and reshapes that do not change the type", NULL},
    {"fold-constants", pass_fold_constants,
     "evaluate ops whose inputs are all constants (results no larger than their inputs)", NULL},
    {"fold-batchnorm", pass_fold_batchnorm,
     "fold a batchnorm into the weights and bias of the conv or gemm before it", NULL},
    {"dce", pass_dce,
     "remove ops whose results are never used, and unused constants", NULL},
    {"convtranspose-to-conv", pass_convtranspose_to_conv,
     "turn convtranspose with constant weights into a conv of the zero-inserted input (docs/crossbar.md 2)", NULL},
    {"lower-xbar", pass_lower_xbar,
     "turn conv, gemm and matmul with constant weights into crossbar ops (docs/crossbar.md 2)", NULL},
    {"quantize", pass_quantize,
     "quantize crossbar weights and inputs from calibrated ranges (docs/crossbar.md 3)", NULL},
    {"sign-map", pass_sign_map,
     "give every crossbar op the architecture's sign mapping: pair-analog, pair-digital or offset", NULL},
    {"bit-slice", pass_bit_slice,
     "slice weight magnitudes over cells of cell_bits (docs/crossbar.md 5)", NULL},
    {"split", pass_split,
     "cut each crossbar matrix into the fewest tile-sized blocks, balanced or full (docs/mapping.md)",
     "mode=balanced|full"},
    {"replicate", pass_replicate,
     "copy layers' blocks so that copies share a layer's pixels: the fewest-bottleneck copies for a tile "
     "budget, or by hand (docs/mapping.md)",
     "mode=none|auto tiles=N layers=NAME:R;... packing=none|dense|balanced"},
    {"place", pass_place,
     "put blocks on tiles: one per tile, or packed densely or without slowing the pipeline (docs/mapping.md)",
     "packing=none|dense|balanced"},
    {"adc-lossless", pass_adc_lossless,
     "give every block the fewest ADC bits that lose no column sum (docs/crossbar.md 7)", NULL},
    {"adc-alloc", pass_adc_alloc,
     "ADC bits per layer and a full scale clipped from partial-sum statistics (docs/adc.md)",
     "bits=auto|arch|B clip=max|p99.99|p99.9|p99|full|reach|F"},
};
const int pass_registry_count = (int)(sizeof pass_registry / sizeof pass_registry[0]);

/* Why this order: identities go first so that a batchnorm sits right after its
 * conv (conv -> dropout -> batchnorm exports exist); constants are folded before
 * batchnorms because a weight computed from constants (transpose(w), w * mask)
 * must be a constant for fold-batchnorm to see it; dce last sweeps the old
 * weights that folding left unused. */
const char *const default_pipeline = "remove-identity,fold-constants,fold-batchnorm,dce";

/* Crossbar layers: lowering, then (after calibration and quantize, or without
 * them for a float-weight program) the mapping.  sign-map comes first because
 * the slice count depends on it (pairs store one magnitude bit fewer), split
 * needs the slices to know how wide a weight column is, place and adc-lossless
 * need the blocks; replicate comes before place because copies are blocks to
 * place too (without options it keeps the graph's replicas as they are). */
const char *const lowering_pipeline = "convtranspose-to-conv,lower-xbar";
const char *const mapping_pipeline = "sign-map,bit-slice,split,replicate,place,adc-lossless";

const char *mapping_pipeline_for(Arena *arena, const char *packing, const char *replicate)
{
    packing = packing ? packing : MAPPING_DEFAULT_PACKING;
    bool packed = strcmp(packing, "none") != 0;
    char *out = arena_strdup(arena, "");
    /* the stages of mapping_pipeline, in its order, each with its options */
    for (const char *stage = mapping_pipeline; *stage;) {
        size_t n = strcspn(stage, ",");
        char *name = arena_printf(arena, "%.*s", (int)n, stage);
        const char *options = "";
        if (strcmp(name, "split") == 0 && packed)
            options = "{mode=full}";        /* full blocks: the remainders pack together */
        else if (strcmp(name, "place") == 0 && packed)
            options = arena_printf(arena, "{packing=%s}", packing);
        else if (strcmp(name, "replicate") == 0 && replicate && strcmp(replicate, "none") == 0)
            options = "{mode=none}";
        else if (strcmp(name, "replicate") == 0 && replicate && strcmp(replicate, "auto") == 0)
            options = arena_printf(arena, "{mode=auto,packing=%s}", packing);
        else if (strcmp(name, "replicate") == 0 && replicate) {
            char *layers = arena_strdup(arena, replicate);     /* LAYER=R,... to layers=LAYER=R;... */
            for (char *c = layers; *c; c++)
                *c = *c == ',' ? ';' : *c;
            options = arena_printf(arena, "{layers=%s,packing=%s}", layers, packing);
        }
        out = arena_printf(arena, "%s%s%s%s", out, *out ? "," : "", name, options);
        stage += n + (stage[n] == ',');
    }
    return out;
}

const Pass *pass_find(const char *name)
{
    for (int i = 0; i < pass_registry_count; i++)
        if (strcmp(pass_registry[i].name, name) == 0)
            return &pass_registry[i];
    return NULL;
}
