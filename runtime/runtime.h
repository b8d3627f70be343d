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
/* An xbar op (docs/crossbar.md): the integer reference when it is quantized
 * (it has in_scale), else the float product.  `scratch` holds
 * interp_xbar_scratch(op) bytes, 16-byte aligned (interp_exec_op allocates it). */
size_t interp_xbar_scratch(const Op *op);
void interp_exec_xbar(const Op *op, const float *const *inputs, float *result, void *scratch);

/* Runs the reference interpreter on `count` images (each numel of the graph's
 * one input, back to back) and records on every xbar op the range of its input
 * over all of them as `act_min` / `act_max` (runtime/calibrate.c). */
bool calibrate_xbar(Graph *g, const float *images, int count, Diags *diags);

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
/* The counters of one instruction of the last run (per-layer reports). */
SimCounters sim_instr_counters(const Sim *sim, int instr);
/* On by default: an mvm whose ADC is lossless and whose reads are ideal is
 * computed as one product of its codes, provably the same result as its reads
 * one by one (runtime/sim_mvm.c).  Off forces every read through the DAC
 * cycles and the ADC (tests; counters are the same either way). */
void sim_set_fast_path(Sim *sim, bool enabled);

#endif
