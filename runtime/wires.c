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
 * omega = 2 / (1 + sqrt(1 - rho)); the first solve measures rho over its
 * first sweeps (the ratio of successive updates) and later solves of the same
 * array reuse omega.  SOR converges for any omega in (0, 2) on an SPD system,
 * so a poor estimate costs sweeps, never the answer.
 *
 * The lines' tridiagonal factors depend only on the conductances: computed
 * once per array.  The row wires are stored column by column (node (i, j) at
 * j * R + i) and the column wires row by row (i * P + j), so that each
 * Thomas step runs over all R rows (or P columns) at once, in loops compilers
 * vectorize; a transpose of R x P values per half sweep connects the two. */
#include "runtime/wires.h"
#include "runtime/sim_mvm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Gauss-Seidel sweeps the first solve makes before it fixes omega. */
enum { ESTIMATE_SWEEPS = 8 };

typedef struct {
    int R, P;
    double gr, gc;              /* one segment's conductance along a row, a column (0 for an ideal wire) */
    double row_lead, col_lead;  /* the leads' conductances */
    const double *g;            /* [R x P] */
    double *g_t;                /* [P x R]: g transposed, the row wires' order */
    double *row_inv, *row_up;   /* [P x R]: Thomas 1 / pivot and upper factor of the row wires */
    double *col_inv, *col_up;   /* [R x P]: the same for the column wires */
    double *u, *u_t;            /* row-wire voltages [P x R], and transposed [R x P] */
    double *w, *w_t;            /* column-wire voltages [R x P], and transposed [P x R] */
    double *line;               /* [R x P]: a half sweep's exact line solutions */
    double omega;               /* 0 until measured */
} Solver;

/* t [m x n] = a [n x m] transposed, in tiles that stay in cache (the
 * arrays' power-of-two strides would otherwise thrash it). */
static void transpose(const double *restrict a, int n, int m, double *restrict t)
{
    enum { TILE = 16 };
    for (int i0 = 0; i0 < n; i0 += TILE)
        for (int j0 = 0; j0 < m; j0 += TILE) {
            int i1 = i0 + TILE < n ? i0 + TILE : n, j1 = j0 + TILE < m ? j0 + TILE : m;
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++)
                    t[(size_t)j * n + i] = a[(size_t)i * m + j];
        }
}

/* The Thomas factors of `lines` parallel wires of `len` nodes stored node by
 * node (node k of wire l at k * lines + l): segment conductance gs, the lead
 * gl before node 0, the cells' g. */
static void factor_lines(int lines, int len, double gs, double gl, const double *restrict g, double *restrict inv,
                         double *restrict up)
{
    for (int k = 0; k < len; k++) {
        double wire = (k == 0 ? gl : gs) + (k + 1 < len ? gs : 0);
        const double *gk = g + (size_t)k * lines;
        double *ik = inv + (size_t)k * lines, *uk = up + (size_t)k * lines;
        const double *up_prev = k > 0 ? up + (size_t)(k - 1) * lines : NULL;
        for (int l = 0; l < lines; l++) {
            double pivot = wire + gk[l] + (up_prev ? gs * up_prev[l] : 0);
            ik[l] = 1 / pivot;
            uk[l] = -gs / pivot;
        }
    }
}

/* Exact solves of the wires (as factor_lines lays them out) whose cells
 * connect to the known voltages `other` (same layout) and whose lead starts
 * at drive[l] (NULL: 0 V); then x += omega (solution - x).  Returns the
 * largest |solution - x|. */
static double solve_lines(int lines, int len, double gs, double gl, const double *restrict g,
                          const double *restrict inv, const double *restrict up, const double *restrict other,
                          const double *restrict drive, double omega, double *restrict line, double *restrict x)
{
    for (int k = 0; k < len; k++) {
        size_t at = (size_t)k * lines;
        if (k == 0)
            for (int l = 0; l < lines; l++)
                line[l] = (g[l] * other[l] + (drive ? gl * drive[l] : 0)) * inv[l];
        else
            for (int l = 0; l < lines; l++)
                line[at + l] = (g[at + l] * other[at + l] + gs * line[at - lines + l]) * inv[at + l];
    }
    for (int k = len - 2; k >= 0; k--) {
        size_t at = (size_t)k * lines;
        for (int l = 0; l < lines; l++)
            line[at + l] -= up[at + l] * line[at + lines + l];
    }
    double largest = 0;
    size_t n = (size_t)lines * len;
    for (size_t e = 0; e < n; e++) {
        double step = line[e] - x[e];
        largest = fabs(step) > largest ? fabs(step) : largest;
        x[e] += omega * step;
    }
    return largest;
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
    double *all = malloc(10 * n * sizeof *all);
    if (!all)
        return false;
    s->g_t = all, s->row_inv = all + n, s->row_up = all + 2 * n, s->col_inv = all + 3 * n;
    s->col_up = all + 4 * n, s->u = all + 5 * n, s->u_t = all + 6 * n, s->w = all + 7 * n;
    s->w_t = all + 8 * n, s->line = all + 9 * n;
    transpose(a->g, R, P, s->g_t);
    if (s->gr > 0)
        factor_lines(R, P, s->gr, s->row_lead, s->g_t, s->row_inv, s->row_up);
    if (s->gc > 0)
        factor_lines(P, R, s->gc, s->col_lead, s->g, s->col_inv, s->col_up);
    return true;
}

/* One solve for drives v[R]: column currents out[P]; the number of sweeps,
 * or -1 when WIRES_MAX_SWEEPS did not reach the tolerance. */
static int solve(Solver *s, const double *v, double *out)
{
    int R = s->R, P = s->P;
    size_t n = (size_t)R * P;
    double largest_drive = 0;
    for (int i = 0; i < R; i++)
        largest_drive = fabs(v[i]) > largest_drive ? fabs(v[i]) : largest_drive;
    /* start from the ideal wires: every row node at its drive, columns at 0 */
    for (int j = 0; j < P; j++)
        memcpy(s->u + (size_t)j * R, v, (size_t)R * sizeof *v);
    memset(s->w, 0, n * sizeof *s->w);
    int sweeps = 0;
    bool converged = largest_drive == 0 || (s->gr == 0 && s->gc == 0);
    double previous = 0, tolerance = WIRES_TOLERANCE * largest_drive;
    while (!converged && sweeps < WIRES_MAX_SWEEPS) {
        double omega = s->omega > 0 ? s->omega : 1;
        double moved = 0;
        if (s->gr > 0) {
            transpose(s->w, R, P, s->w_t);
            moved = solve_lines(R, P, s->gr, s->row_lead, s->g_t, s->row_inv, s->row_up, s->w_t, v, omega, s->line,
                                s->u);
        }
        if (s->gc > 0) {
            transpose(s->u, P, R, s->u_t);
            double m = solve_lines(P, R, s->gc, s->col_lead, s->g, s->col_inv, s->col_up, s->u_t, NULL, omega,
                                   s->line, s->w);
            moved = m > moved ? m : moved;
        }
        sweeps++;
        /* one ideal wire: the other half is exact after one pass */
        converged = moved <= tolerance || s->gr == 0 || s->gc == 0;
        if (s->omega == 0 && sweeps == ESTIMATE_SWEEPS && previous > 0) {
            double rho = moved / previous;
            s->omega = rho < 1 ? 2 / (1 + sqrt(1 - rho)) : 1.9;
        }
        previous = moved;
    }
    /* each column's current is the sum of its cells' currents */
    transpose(s->u, P, R, s->u_t);
    for (int j = 0; j < P; j++)
        out[j] = 0;
    for (int i = 0; i < R; i++) {
        const double *g = s->g + (size_t)i * P, *u = s->u_t + (size_t)i * P, *w = s->w + (size_t)i * P;
        for (int j = 0; j < P; j++)
            out[j] += g[j] * (u[j] - w[j]);
    }
    return converged ? sweeps : -1;
}

static void count(WireStats *stats, const Solver *s, int sweeps)
{
    if (!stats)
        return;
    stats->solves++;
    stats->sweeps += sweeps;
    stats->max_sweeps = sweeps > stats->max_sweeps ? sweeps : stats->max_sweeps;
    stats->omega = s->omega > 0 ? s->omega : 1;
}

bool wires_solve(const WireArray *array, const double *v, double *out, WireStats *stats)
{
    Solver s;
    if (!solver_init(&s, array))
        return false;
    int sweeps = solve(&s, v, out);
    count(stats, &s, sweeps < 0 ? WIRES_MAX_SWEEPS : sweeps);
    free(s.g_t);
    return sweeps >= 0;
}

bool wires_transfer(const WireArray *array, double *m, WireStats *stats)
{
    int R = array->rows, P = array->cols;
    Solver s;
    double *v = calloc((size_t)(R > 0 ? R : 1), sizeof *v);
    if (!v || !solver_init(&s, array)) {
        free(v);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < R && ok; i++) {
        v[i] = 1;
        int sweeps = solve(&s, v, m + (size_t)i * P);
        count(stats, &s, sweeps < 0 ? WIRES_MAX_SWEEPS : sweeps);
        ok = sweeps >= 0;
        v[i] = 0;
    }
    free(s.g_t);
    free(v);
    return ok;
}

/* ---- a block of the simulator ---- */

static const char NOT_CONVERGED[] =
    "the wire solve did not converge in 20000 sweeps (wire resistance too high for the cells?)";

/* Geometry (docs/noise.md 7): the drivers sit at the tile's column-0 edge
 * and the sense amplifiers at its row-0 edge, so the block at (tile_row,
 * tile_col) reaches them through tile_col + 1 row segments and tile_row + 1
 * column segments (the edge's own segment and those that cross the cells of
 * the blocks in between).  During the block's read the lines of the other
 * blocks are disconnected (their drivers and sense amplifiers idle): the
 * leads are plain wire, and the current that a floating line could pass
 * between two of the block's lines through two cells in series is neglected. */
const char *wires_program_block(const MvmParams *mp, const Noise *nz, const double *g_us, float *cells, int ld)
{
    int R = mp->rows, P = mp->phys_cols, cols = mp->out_cols;
    bool pair = mp->sign == SIGN_PAIR_ANALOG;
    size_t n = (size_t)R * P;
    if (n == 0)
        return NULL;
    double *g = malloc(2 * n * sizeof *g), *m = g ? g + n : NULL;
    if (!g)
        return "out of memory for the wire solve";
    for (size_t e = 0; e < n; e++)
        g[e] = g_us[e] * 1e-6;
    WireArray array = {.rows = R, .cols = P, .g = g, .r_row = wires_row_ohm(&nz->arch),
                       .r_col = wires_col_ohm(&nz->arch), .row_lead = mp->tile_col + 1, .col_lead = mp->tile_row + 1};
    const char *error = wires_transfer(&array, m, NULL) ? NULL : NOT_CONVERGED;
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
    free(g);
    return error;
}
