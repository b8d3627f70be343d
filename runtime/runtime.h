/* runtime.h: executing graphs and programs.
 *
 * The reference interpreter runs the graph IR in float32: the software baseline
 * every later accuracy figure is compared against.  Its kernels (runtime/kernels.h)
 * take plain arrays and sizes, so the crossbar simulator reuses them. */
#ifndef XBARC_RUNTIME_H
#define XBARC_RUNTIME_H

#include "ir/ir.h"

typedef struct Interp Interp;

/* Plans one buffer per value of a verified graph (constants point at their data).
 * The Interp has its own memory; free it with interp_free(). */
Interp *interp_new(const Graph *g);
void interp_free(Interp *interp);
float *interp_input(Interp *interp, int index);         /* fill before interp_run() */
void interp_run(Interp *interp);
const float *interp_output(const Interp *interp, int index);
/* The buffer of any value after interp_run() (for debugging and calibration). */
const float *interp_value(const Interp *interp, const Value *value);
/* Runs one op on arrays shaped as its inputs' and result's types say (at most
 * 64 inputs): the digital units of the crossbar simulator use it too. */
void interp_exec_op(const Op *op, const float *const *inputs, float *result);

/* ---- the crossbar simulator (runtime/sim.c) ---- */

typedef struct Program Program;     /* runtime/program.h */
typedef struct Sim Sim;

/* Counters of one run, summed over instructions (per layer in reports). */
typedef struct {
    uint64_t reads;             /* crossbar reads: one per block, input vector and DAC cycle */
    uint64_t conversions;       /* ADC conversions */
    uint64_t saturated;         /* conversions clipped at the ADC range */
} SimCounters;

/* Executes a program read by read.  The Sim owns its buffers; the program must
 * outlive it. */
Sim *sim_new(const Program *program);
void sim_free(Sim *sim);
float *sim_input(Sim *sim, int index);
void sim_run(Sim *sim);
const float *sim_output(const Sim *sim, int index);
SimCounters sim_counters(const Sim *sim);

#endif
