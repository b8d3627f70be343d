/* mapping.h: what the crossbar mapping passes share (passes/mapping.c).
 *
 * The mapping pipeline (sign-map, bit-slice, split, place, adc-lossless) adds
 * attributes to every xbar op step by step (docs/crossbar.md sections 5 to 7).
 * Each pass reads what the passes before it wrote; when that is missing the
 * error names the op, the attribute and the pass that makes it.  Each pass
 * recomputes its attributes from scratch when run again; when the new values
 * differ from the old ones, it drops the attributes later passes derived from
 * them, so that a stale block count never reaches the verifier or the emitter. */
#ifndef XBARC_PASSES_MAPPING_H
#define XBARC_PASSES_MAPPING_H

#include "ir/ir.h"

/* The graph's architecture, or NULL after an error naming `pass`. */
const Arch *mapping_arch(const Graph *g, const char *pass, Diags *diags);

/* Attribute `name` of `op` with the given kind, or NULL after an error that
 * names the op, the attribute and the pass that produces it. */
const Attr *mapping_need(const Op *op, const char *pass, const char *name, AttrKind kind, Diags *diags);

/* The op's `sign` attribute as a SignMapping (false after an error). */
bool mapping_sign(const Op *op, const char *pass, SignMapping *sign, Diags *diags);

/* A quantized op carries in_scale (with the other quantization attributes);
 * a float-weight op has none of them. */
bool mapping_quantized(const Op *op);

/* Physical columns of one weight column per slice (2 for pairs, 1 for offset),
 * and reference columns per block (S for offset, 0 for pairs). */
int mapping_polarities(SignMapping sign);
int mapping_ref_cols(SignMapping sign, int slices);

/* Cuts [0, total) into the fewest parts of at most max_part, sizes differing by
 * at most one, larger parts first.  Returns the number of parts; *splits gets
 * the parts + 1 boundaries (0 first, total last) in `arena`. */
int mapping_balanced_splits(Arena *arena, int64_t total, int64_t max_part, int64_t **splits);

/* Set an attribute; true when its value changed (or it was absent). */
bool mapping_set_int(Graph *g, Op *op, const char *name, int64_t v);
bool mapping_set_string(Graph *g, Op *op, const char *name, const char *v);
bool mapping_set_ints(Graph *g, Op *op, const char *name, const int64_t *v, int count);
bool mapping_set_floats(Graph *g, Op *op, const char *name, const float *v, int count);

/* Removes the attributes named in the NULL-terminated list (absent ones are fine). */
void mapping_drop(Op *op, const char *const *names);

#endif
