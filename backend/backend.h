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
/* Reprograms every block (every replica) of crossbar layer `layer` of a
 * quantized program with new quantized weights w_q [groups, k, n] (integer
 * valued, within +-(2^(weight_bits-1) - 1)): the cells get the levels
 * emit_program gives a graph with these weights, where the layer's mvm and
 * combine instructions say its blocks are.  Instructions and other cells stay
 * as they are (hybrid fine-tuning, study/finetune.c). */
bool emit_reprogram_layer(Program *p, const char *layer, const float *w_q, int64_t groups, int64_t k, int64_t n,
                          Diags *diags);

typedef struct PerfReport PerfReport;   /* backend/perf.h */

/* The mapping report of a placed graph (backend/report.c): a per-layer table
 * (matrix, slices, blocks, tiles, replication, cell utilization, ADC bits, reads
 * per image, share of pipeline time) and totals (tiles against the lower bound,
 * utilization, bottleneck; images per second, energy and area from `perf`, the
 * performance model of the emitted program, when not NULL). */
bool report_print(const Graph *g, const PerfReport *perf, FILE *out, Diags *diags);
/* The same as JSON, as the output `path` of `outs` (ir/ir.h). */
bool report_write_json(const Graph *g, const PerfReport *perf, Outputs *outs, const char *path, Diags *diags);
/* An SVG picture of the tiles, every block a rectangle coloured by layer. */
bool report_write_tile_map(const Graph *g, Outputs *outs, const char *path, Diags *diags);

#endif
