/* backend.h: from a mapped graph to a crossbar program.
 *
 * The input is a graph whose crossbar layers (`xbar` ops) carry every mapping
 * decision as attributes (docs/crossbar.md); the emitter only translates: it
 * programs the tiles' cells and writes the instruction stream. */
#ifndef XBARC_BACKEND_H
#define XBARC_BACKEND_H

#include "ir/ir.h"
#include "runtime/program.h"

/* Builds the program in `arena`.  Every xbar op must have been through the
 * mapping pipeline (sign-map, bit-slice, split, place, adc-lossless; quantize
 * unless it is a float-weight program); otherwise an error names the op and the
 * missing attribute. */
Program *emit_program(Arena *arena, const Graph *g, Diags *diags);

#endif
