/* wires.c: node voltages of a crossbar with resistive wires (docs/noise.md 7).
 *
 * The unknowns are the voltage u(i, j) of every row-wire node and w(i, j) of
 * every column-wire node; Kirchhoff's current law at each node gives a
 * symmetric positive definite system.  Its two halves are easy alone: with
 * the column voltages fixed, each row wire is a tridiagonal system (its
 * segments, and its cells to the known column voltages), and the same for
 * each column wire with the row voltages fixed.  So the solver alternates
 * exact line solves (the Thomas algorithm): every row wire, then every column
 * wire, a block Gauss-Seidel sweep over the two halves, with successive
 * over-relaxation.  A matrix of two blocks is consistently ordered, so
 * Young's theory gives the best factor from the Gauss-Seidel rate rho:
 * omega = 2 / (1 + sqrt(1 - rho)); the first solve that takes 8 sweeps
 * measures rho there (the ratio of successive updates) and later solves of
 * the same array reuse omega.  SOR converges for any omega in (0, 2) on an SPD system,
 * so a poor estimate costs sweeps, never the answer.
 *
 * The lines' tridiagonal factors depend only on the conductances: computed
 * once per array.  Several right-hand sides (up to BATCH drives) are solved
 * together, the innermost index of every voltage (node (i, j), drive b at
 * (i * P + j) * B + b): a row's Thomas recurrence runs along its nodes with
 * the drives side by side, and the column wires are solved all at once,
 * sweeping the rows, with the columns and drives side by side; every loop
 * reads memory in order and vectorizes, and no transpose is needed. */
#include "runtime/wires.h"
#include "runtime/sim_mvm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Gauss-Seidel sweeps the first solve makes before it fixes omega;
 * right-hand sides solved together. */
enum { ESTIMATE_SWEEPS = 8, BATCH = 8 };

typedef struct {
    int R, P;
    double gr, gc;              /* one segment's conductance along a row, a column (0 for an ideal wire) */
    double row_lead, col_lead;  /* the leads' conductances */
    const double *g;            /* [R x P] */
    double *row_inv, *row_up;   /* [R x P]: Thomas 1 / pivot and upper factor, node j of row i at i P + j */
    double *col_inv, *col_up;   /* [R x P]: the same for the column wires, node i of column j at i P + j */
    double *u, *w;              /* [R x P x BATCH]: row-wire and column-wire voltages */
    double *line;               /* [R x P x BATCH]: the column wires' exact solutions (a row's, for the rows) */
    double omega;               /* 0 until measured */
} Solver;

/* The Thomas factors of a wire of `len` nodes, node k at k * step of g, inv
 * and up: segment conductance gs, the lead gl before node 0, the cells' g. */
static void factor_wire(int len, size_t step, double gs, double gl, const double *g, double *inv, double *up)
{
    for (int k = 0; k < len; k++) {
        double wire = (k == 0 ? gl : gs) + (k + 1 < len ? gs : 0);
        double pivot = wire + g[k * step] + (k > 0 ? gs * up[(k - 1) * step] : 0);
        inv[k * step] = 1 / pivot;
        up[k * step] = -gs / pivot;
    }
}

static bool solver_init(Solver *s, const WireArray *a)
{
    int R = a->rows, P = a->cols;
    size_t n = (size_t)R * P;
    *s = (Solver){.R = R, .P = P, .g = a->g};
    s->gr = a->r_row > 0 ? 1 / a->r_row : 0;
    s->gc = a->r_col > 0 ? 1 / a->r_col : 0;
    s->row_lead = a->r_row > 0 ? 1 / (a->r_row * (a->row_lead > 0 ? a->row_lead : 1)) : 0;
    s->col_lead = a->r_col > 0 ? 1 / (a->r_col * (a->col_lead > 0 ? a->col_lead : 1)) : 0;
    double *all = malloc((4 + 3 * (size_t)BATCH) * (n > 0 ? n : 1) * sizeof *all);
    if (!all)
        return false;
    s->row_inv = all, s->row_up = all + n, s->col_inv = all + 2 * n, s->col_up = all + 3 * n;
    s->u = all + 4 * n, s->w = s->u + n * BATCH, s->line = s->w + n * BATCH;
    for (int i = 0; i < R && s->gr > 0; i++)
        factor_wire(P, 1, s->gr, s->row_lead, a->g + (size_t)i * P, s->row_inv + (size_t)i * P,
                    s->row_up + (size_t)i * P);
    for (int j = 0; j < P && s->gc > 0; j++)
        factor_wire(R, (size_t)P, s->gc, s->col_lead, a->g + j, s->col_inv + j, s->col_up + j);
    return true;
}

/* Every row wire solved exactly with the column voltages w fixed, then
 * u += omega (solution - u); drive [R x BATCH].  Returns the largest
 * |solution - u|.  The recurrence carries the BATCH drives in registers. */
static double sweep_rows(Solver *s, const double *restrict drive, double omega)
{
    int P = s->P;
    double gr = s->gr, largest = 0;
    double *restrict x = s->line;     /* one row's forward pass, [P x BATCH] */
    for (int i = 0; i < s->R; i++) {
        const double *restrict g = s->g + (size_t)i * P, *restrict inv = s->row_inv + (size_t)i * P;
        const double *restrict up = s->row_up + (size_t)i * P, *restrict w = s->w + (size_t)i * P * BATCH;
        const double *restrict v = drive + (size_t)i * BATCH;
        double *restrict u = s->u + (size_t)i * P * BATCH;
        double c[BATCH], most[BATCH] = {0};
        for (int b = 0; b < BATCH; b++)
            x[b] = c[b] = (g[0] * w[b] + s->row_lead * v[b]) * inv[0];
        for (int j = 1; j < P; j++)
            for (int b = 0; b < BATCH; b++)
                x[j * BATCH + b] = c[b] = (g[j] * w[j * BATCH + b] + gr * c[b]) * inv[j];
        for (int j = P - 1; j >= 0; j--)
            for (int b = 0; b < BATCH; b++) {
                if (j < P - 1)
                    c[b] = x[j * BATCH + b] - up[j] * c[b];
                double step = c[b] - u[j * BATCH + b];
                most[b] = fabs(step) > most[b] ? fabs(step) : most[b];
                u[j * BATCH + b] += omega * step;
            }
        for (int b = 0; b < BATCH; b++)
            largest = most[b] > largest ? most[b] : largest;
    }
    return largest;
}

/* Every column wire solved exactly with the row voltages u fixed, all
 * columns at once, then w += omega (solution - w). */
static double sweep_columns(Solver *s, double omega)
{
    int R = s->R, B = BATCH;
    size_t width = (size_t)s->P * B;    /* one row of nodes, all drives */
    double gc = s->gc, largest = 0;
    for (int i = 0; i < R; i++) {
        const double *restrict g = s->g + (size_t)i * s->P, *restrict inv = s->col_inv + (size_t)i * s->P;
        const double *restrict u = s->u + i * width;
        double *restrict x = s->line + i * width;
        if (i == 0)
            for (int j = 0; j < s->P; j++)
                for (int b = 0; b < B; b++)
                    x[j * B + b] = g[j] * u[j * B + b] * inv[j];
        else
            for (int j = 0; j < s->P; j++)
                for (int b = 0; b < B; b++)
                    x[j * B + b] = (g[j] * u[j * B + b] + gc * (x - width)[j * B + b]) * inv[j];
    }
    for (int i = R - 1; i >= 0; i--) {
        const double *restrict up = s->col_up + (size_t)i * s->P;
        double *restrict x = s->line + i * width, *restrict w = s->w + i * width;
        if (i + 1 < R)
            for (int j = 0; j < s->P; j++)
                for (int b = 0; b < B; b++)
                    x[j * B + b] -= up[j] * (x + width)[j * B + b];
        double most[BATCH] = {0};    /* per lane: a reduction would not vectorize */
        for (int j = 0; j < s->P; j++)
            for (int b = 0; b < BATCH; b++) {
                double step = x[j * BATCH + b] - w[j * BATCH + b];
                most[b] = fabs(step) > most[b] ? fabs(step) : most[b];
                w[j * BATCH + b] += omega * step;
            }
        for (int b = 0; b < BATCH; b++)
            largest = most[b] > largest ? most[b] : largest;
    }
    return largest;
}

/* BATCH solves for drives [R x BATCH]: column currents out [BATCH x P];
 * the number of sweeps, or -1 when WIRES_MAX_SWEEPS did not reach the
 * tolerance. */
static int solve(Solver *s, const double *drive, double *out)
{
    int R = s->R, P = s->P, B = BATCH;
    size_t n = (size_t)R * P * B;
    double largest_drive = 0;
    for (int e = 0; e < R * B; e++)
        largest_drive = fabs(drive[e]) > largest_drive ? fabs(drive[e]) : largest_drive;
    /* start from the ideal wires: every row node at its drive, columns at 0 */
    for (int i = 0; i < R; i++)
        for (int j = 0; j < P; j++)
            memcpy(s->u + ((size_t)i * P + j) * B, drive + (size_t)i * B, (size_t)B * sizeof *drive);
    memset(s->w, 0, n * sizeof *s->w);
    int sweeps = 0;
    bool converged = largest_drive == 0 || (s->gr == 0 && s->gc == 0);
    double previous = 0, tolerance = WIRES_TOLERANCE * largest_drive;
    while (!converged && sweeps < WIRES_MAX_SWEEPS) {
        double omega = s->omega > 0 ? s->omega : 1;
        double moved = s->gr > 0 ? sweep_rows(s, drive, omega) : 0;
        if (s->gc > 0) {
            double m = sweep_columns(s, omega);
            moved = m > moved ? m : moved;
        }
        sweeps++;
        /* The error left is about moved rate / (1 - rate), the rate being the
         * ratio of successive updates (from the third sweep: the first
         * update is the start's transient): small updates of a slow
         * iteration do not mean convergence.  One ideal wire: the other half
         * is exact after one pass. */
        double rate = sweeps >= 3 && previous > 0 ? moved / previous : 1;
        converged = moved == 0 || (rate < 1 && moved * rate <= tolerance * (1 - rate)) || s->gr == 0 || s->gc == 0;
        if (s->omega == 0 && sweeps == ESTIMATE_SWEEPS)
            s->omega = rate < 1 ? 2 / (1 + sqrt(1 - rate)) : 1.9;
        previous = moved;
    }
    /* each column's current is the sum of its cells' currents */
    memset(out, 0, (size_t)B * P * sizeof *out);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < P; j++) {
            size_t at = ((size_t)i * P + j) * B;
            double g = s->g[(size_t)i * P + j];
            for (int b = 0; b < B; b++)
                out[(size_t)b * P + j] += g * (s->u[at + b] - s->w[at + b]);
        }
    return converged ? sweeps : -1;
}

static void count(WireStats *stats, const Solver *s, int solves, int sweeps)
{
    if (!stats)
        return;
    stats->solves += solves;
    stats->sweeps += (long long)solves * sweeps;
    stats->max_sweeps = sweeps > stats->max_sweeps ? sweeps : stats->max_sweeps;
    stats->omega = s->omega > 0 ? s->omega : 1;
}

/* `count` solves of the array (count <= BATCH): drive b is v[b * R .. + R)
 * (NULL: row first + b alone at one volt), its currents out[b * P .. + P). */
static bool solve_some(Solver *s, int n, const double *v, int first, double *drive, double *currents,
                       double *out, WireStats *stats)
{
    int R = s->R, P = s->P;
    memset(drive, 0, (size_t)R * BATCH * sizeof *drive);
    for (int b = 0; b < n; b++)
        for (int i = 0; i < R; i++)
            drive[(size_t)i * BATCH + b] = v ? v[(size_t)b * R + i] : i == first + b;
    int sweeps = solve(s, drive, currents);
    memcpy(out, currents, (size_t)n * P * sizeof *out);
    count(stats, s, n, sweeps < 0 ? WIRES_MAX_SWEEPS : sweeps);
    return sweeps >= 0;
}

static const char NOT_CONVERGED[] =
    "the wire solve did not converge in 20000 sweeps (wire resistance too high for the cells?)";

/* Runs solve_some over `total` drives, in batches: NULL, or why not. */
static const char *solve_all(const WireArray *array, int total, const double *v, double *out, WireStats *stats)
{
    int R = array->rows, P = array->cols;
    Solver s = {0};
    double *drive = malloc((size_t)(R > 0 ? R : 1) * BATCH * sizeof *drive);
    double *currents = malloc((size_t)(P > 0 ? P : 1) * BATCH * sizeof *currents);
    const char *error = drive && currents && solver_init(&s, array) ? NULL : "out of memory for the wire solve";
    for (int first = 0; first < total && !error; first += BATCH) {
        int n = total - first < BATCH ? total - first : BATCH;
        if (!solve_some(&s, n, v ? v + (size_t)first * R : NULL, first, drive, currents, out + (size_t)first * P,
                        stats))
            error = NOT_CONVERGED;
    }
    free(s.row_inv);
    free(drive);
    free(currents);
    return error;
}

const char *wires_solve(const WireArray *array, const double *v, double *out, WireStats *stats)
{
    return solve_all(array, 1, v, out, stats);
}

/* Reciprocity: the current into sense amplifier j from 1 V at driver i is
 * the current into driver i (held at 0 V) from 1 V at sense amplifier j.  So
 * M is also the transpose of the transposed array's M, whose rows are our
 * columns: P solves instead of R, whichever is fewer. */
const char *wires_transfer(const WireArray *array, double *m, WireStats *stats)
{
    int R = array->rows, P = array->cols;
    if (P >= R)
        return solve_all(array, R, NULL, m, stats);
    size_t n = (size_t)R * P;
    double *g_t = malloc(2 * n * sizeof *g_t), *m_t = g_t ? g_t + n : NULL;
    if (!g_t)
        return "out of memory for the wire solve";
    for (int i = 0; i < R; i++)
        for (int j = 0; j < P; j++)
            g_t[(size_t)j * R + i] = array->g[(size_t)i * P + j];
    WireArray t = {.rows = P, .cols = R, .g = g_t, .r_row = array->r_col, .r_col = array->r_row,
                   .row_lead = array->col_lead, .col_lead = array->row_lead};
    const char *error = solve_all(&t, P, NULL, m_t, stats);
    for (int i = 0; i < R && !error; i++)
        for (int j = 0; j < P; j++)
            m[(size_t)i * P + j] = m_t[(size_t)j * R + i];
    free(g_t);
    return error;
}

/* ---- a block of the simulator ---- */

/* Geometry (docs/noise.md 7): the drivers sit at the tile's column-0 edge
 * and the sense amplifiers at its row-0 edge, so the block at (tile_row,
 * tile_col) reaches them through tile_col + 1 row segments and tile_row + 1
 * column segments (the edge's own segment and those that cross the cells of
 * the blocks in between).  During the block's read the lines of the other
 * blocks are disconnected (their drivers and sense amplifiers idle): the
 * leads are plain wire, and the current that a floating line could pass
 * between two of the block's lines through two cells in series is neglected. */
/* One array of a block solved: the cells g_us[R x P] (microsiemens) of the
 * physical columns first, first + step, ... (width of them) form the array,
 * its transfer matrix is written to the same places of m[R x P] (siemens).
 * mirror: the sense amplifiers sit past the last row, so the array is solved
 * upside down (row r at R - 1 - r) with the usual row-0 solver.  scratch:
 * 2 R width doubles. */
static const char *solve_array(const WireArray *shape, const double *g_us, int P, int first, int step, bool mirror,
                               double *scratch, double *m)
{
    int R = shape->rows, width = shape->cols;
    double *g = scratch, *part = scratch + (size_t)R * width;
    for (int r = 0; r < R; r++)
        for (int k = 0; k < width; k++)
            g[(size_t)r * width + k] = g_us[(size_t)(mirror ? R - 1 - r : r) * P + first + k * step] * 1e-6;
    WireArray array = *shape;
    array.g = g;
    const char *error = wires_transfer(&array, part, NULL);
    for (int r = 0; r < R && !error; r++)
        for (int k = 0; k < width; k++)
            m[(size_t)(mirror ? R - 1 - r : r) * P + first + k * step] = part[(size_t)r * width + k];
    return error;
}

/* The cells of wires_program_block from one set of conductances. */
static const char *block_cells(const MvmParams *mp, const Noise *nz, const double *g_us, float *cells, int ld)
{
    int R = mp->rows, P = mp->phys_cols, cols = mp->out_cols;
    bool pair = mp->sign == SIGN_PAIR_ANALOG, split = pair && nz->arch.wire_split_pairs;
    bool far = nz->arch.wire_sense_far;
    size_t n = (size_t)R * P;
    if (n == 0)
        return NULL;
    double *m = malloc(3 * n * sizeof *m);
    if (!m)
        return "out of memory for the wire solve";
    /* The leads: tile_col + 1 row segments to the drivers (half the physical
     * columns before the block when each polarity has its own array), and
     * tile_row + 1 column segments to the sense amplifiers, which reach the
     * block at its row 0 or, wire_sense_far, at its last row (the block's
     * rows in the reverse order along the column wires). */
    WireArray shape = {.rows = R, .cols = split ? P / 2 : P, .r_row = wires_row_ohm(&nz->arch),
                       .r_col = wires_col_ohm(&nz->arch), .row_lead = (split ? mp->tile_col / 2 : mp->tile_col) + 1,
                       .col_lead = mp->tile_row + 1};
    const char *error = solve_array(&shape, g_us, P, 0, split ? 2 : 1, far, m + n, m);
    if (split && !error)
        error = solve_array(&shape, g_us, P, 1, 2, far, m + n, m);
    double g_min = nz->arch.g_min_us, per_level = 1 / nz->level_us;
    for (int r = 0; r < R && !error; r++) {
        const double *row = m + (size_t)r * P;
        float *out = cells + (size_t)r * ld;
        for (int j = 0; j < cols; j++) {
            int x = pair ? 2 * j : j;
            double level = (row[x] * 1e6 - g_min) * per_level;
            if (pair)
                level -= (row[x + 1] * 1e6 - g_min) * per_level;
            out[j] = (float)level;
        }
    }
    free(m);
    return error;
}

const char *wires_program_block(const MvmParams *mp, const Noise *nz, const double *g_now, const double *g_prog,
                                float *cells, int ld, float *programmed)
{
    if (!g_now)
        return "out of memory for the wire solve";
    const char *error = block_cells(mp, nz, g_now, cells, ld);
    return error || !programmed ? error : block_cells(mp, nz, g_prog, programmed, mp->out_cols);
}
