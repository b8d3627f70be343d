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

typedef struct PerfReport PerfReport;   /* runtime/perf.h */

/* The mapping report of a placed graph (backend/report.c): a per-layer table
 * (matrix, slices, blocks, tiles, replication, cell utilization, ADC bits, reads
 * per image, share of pipeline time) and totals (tiles against the lower bound,
 * utilization, bottleneck; images per second, energy and area from `perf`, the
 * performance model of the emitted program, when not NULL). */
bool report_print(const Graph *g, const PerfReport *perf, FILE *out, Diags *diags);
/* The same as JSON, written atomically. */
bool report_write_json(const Graph *g, const PerfReport *perf, const char *path, Diags *diags);
/* An SVG picture of the tiles, every block a rectangle coloured by layer. */
bool report_write_tile_map(const Graph *g, const char *path, Diags *diags);

#endif
