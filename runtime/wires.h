/* wires.h: the crossbar as a resistive circuit (runtime/wires.c,
 * docs/noise.md 7).  Private to the runtime (runtime/sim_mvm.c) and its tests.
 *
 * R rows by P columns of cells.  Row i is driven by a voltage source at its
 * column-0 end, `row_lead` wire segments of r_row ohms before the node of
 * column 0, then one segment between adjacent nodes; column j is held at 0 V
 * (virtual ground) by its sense amplifier at its row-0 end, `col_lead`
 * segments of r_col before the node of row 0.  Cell (i, j) is a conductance
 * between the row node (i, j) and the column node (i, j).  A row whose input
 * is 0 is driven at 0 V. */
#ifndef XBARC_WIRES_H
#define XBARC_WIRES_H

#include "ir/ir.h"

/* Convergence: the solve stops when the error left in the node voltages,
 * estimated from a sweep's largest update d and the ratio q of successive
 * updates as d q / (1 - q), is at most WIRES_TOLERANCE times the largest
 * drive; WIRES_MAX_SWEEPS is the cap, past which it fails. */
#define WIRES_TOLERANCE 1e-9
enum { WIRES_MAX_SWEEPS = 20000 };

typedef struct {
    int rows, cols;             /* R, P */
    const double *g;            /* [R x P] cell conductances, siemens */
    double r_row, r_col;        /* ohms of one segment along a row / a column; 0: an ideal wire */
    int row_lead, col_lead;     /* segments from the driver to column 0, from row 0 to the sense amplifier (>= 1) */
} WireArray;

typedef struct {
    int solves;                 /* right-hand sides solved */
    int max_sweeps;             /* the most sweeps one took */
    long long sweeps;           /* all of them */
    double omega;               /* the over-relaxation factor used */
} WireStats;

/* The segment resistances of an architecture (wire_r_row_ohm and
 * wire_r_col_ohm override wire_r_ohm when positive). */
static inline double wires_row_ohm(const Arch *a)
{
    return a->wire_r_row_ohm > 0 ? a->wire_r_row_ohm : a->wire_r_ohm;
}
static inline double wires_col_ohm(const Arch *a)
{
    return a->wire_r_col_ohm > 0 ? a->wire_r_col_ohm : a->wire_r_ohm;
}
static inline bool wires_enabled(const Arch *a)
{
    return wires_row_ohm(a) > 0 || wires_col_ohm(a) > 0;
}

/* The column currents out[P] (amperes, into the sense amplifiers) for the
 * row drives v[R] (volts).  NULL, or why not: the solve did not converge
 * within WIRES_MAX_SWEEPS (stats says how far it got), or no memory for it
 * (28 doubles a cell: the factors and 8 drives' voltages).  stats may be NULL. */
const char *wires_solve(const WireArray *array, const double *v, double *out, WireStats *stats);
/* The array's conductance matrix m[R x P]: out_j = sum_i m[i][j] v_i for
 * every drive v (the circuit is linear), one solve per row (8 at a time),
 * or by reciprocity one per column when there are fewer columns.
 * NULL, or why not, as wires_solve. */
const char *wires_transfer(const WireArray *array, double *m, WireStats *stats);

#endif
