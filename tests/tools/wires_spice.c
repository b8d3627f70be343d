/* wires-spice: the wire solver (runtime/wires.c) against ngspice.
 *
 *   wires-spice [--seeds N] [--keep DIR]
 *
 * For each seed: a random array of 4 to 64 rows by 4 to 64 columns, cells of
 * 1 to 100 uS, drives of 0 to 1 V (some rows at 0 V), segment resistances of
 * 0.1 to 20 ohms along rows and columns (drawn apart) and leads of 1 to 4
 * segments; every fourth seed is a stress case (30 to 60 ohms, cells of 50 to
 * 100 uS, where the far cells lose most of their current).  The array is
 * written as a SPICE netlist (a voltage source per row behind its lead, a
 * 0 V source per column as the sense amplifier's virtual ground and
 * ammeter), ngspice solves it in batch mode (`ngspice -b`, a direct sparse
 * solve: an independent reference), and every column current must agree
 * with wires_solve within 0.1% (relative).  Prints one line per failure and
 * a summary with the worst relative error; exit status 1 when any column
 * disagrees, when ngspice is not on PATH, or when its output cannot be read. */
#include "runtime/noise.h"
#include "runtime/wires.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOLERANCE 1e-3

typedef struct {
    uint64_t state;
} Rng;

static double uniform(Rng *rng, double lo, double hi)
{
    rng->state = noise_mix(rng->state + 0x9e3779b97f4a7c15u);
    return lo + (hi - lo) * noise_uniform(rng->state);
}

static int uniform_int(Rng *rng, int lo, int hi)
{
    int v = lo + (int)uniform(rng, 0, hi - lo + 1);
    return v > hi ? hi : v;
}

/* Whether a directory of PATH holds an executable `name`. */
static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    char dir[4096];
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len + strlen(name) + 2 < sizeof dir) {
            snprintf(dir, sizeof dir, "%.*s/%s", (int)len, path, name);
            if (access(dir, X_OK) == 0)
                return true;
        }
        path = end ? end + 1 : NULL;
    }
    return false;
}

static bool write_netlist(const char *file, const WireArray *a, const double *v)
{
    FILE *f = fopen(file, "w");
    if (!f)
        return false;
    int R = a->rows, P = a->cols;
    fprintf(f, "* wires-spice: %d x %d, r_row %.17g, r_col %.17g\n", R, P, a->r_row, a->r_col);
    fprintf(f, ".options reltol=1e-9 abstol=1e-18 vntol=1e-12\n");
    for (int i = 0; i < R; i++) {
        fprintf(f, "Vd%d d%d 0 DC %.17g\n", i, i, v[i]);
        fprintf(f, "Rl%d d%d r%d_0 %.17g\n", i, i, i, a->row_lead * a->r_row);
        for (int j = 1; j < P; j++)
            fprintf(f, "Rr%d_%d r%d_%d r%d_%d %.17g\n", i, j, i, j - 1, i, j, a->r_row);
        for (int j = 0; j < P; j++)
            fprintf(f, "Rx%d_%d r%d_%d c%d_%d %.17g\n", i, j, i, j, i, j, 1 / a->g[(size_t)i * P + j]);
    }
    for (int j = 0; j < P; j++) {
        fprintf(f, "Vs%d s%d 0 DC 0\n", j, j);
        fprintf(f, "Rs%d c0_%d s%d %.17g\n", j, j, j, a->col_lead * a->r_col);
        for (int i = 1; i < R; i++)
            fprintf(f, "Rc%d_%d c%d_%d c%d_%d %.17g\n", i, j, i - 1, j, i, j, a->r_col);
    }
    fprintf(f, ".control\nop\n");
    for (int j = 0; j < P; j++)
        fprintf(f, "print i(vs%d)\n", j);
    fprintf(f, "quit 0\n.endc\n.end\n");      /* else batch mode exits 1: no .print lines */
    return fclose(f) == 0;
}

/* The column currents ngspice printed ("i(vsJ) = X"), into out[P]. */
static bool read_currents(const char *file, int P, double *out)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return false;
    int found = 0;
    char line[512];
    for (int j = 0; j < P; j++)
        out[j] = NAN;
    while (fgets(line, sizeof line, f)) {
        int j;
        double x;
        if (sscanf(line, "i(vs%d) = %lf", &j, &x) == 2 && j >= 0 && j < P && isnan(out[j])) {
            out[j] = x;
            found++;
        }
    }
    fclose(f);
    return found == P;
}

int main(int argc, char **argv)
{
    int seeds = 40;
    const char *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc)
            seeds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
            keep = argv[++i];
        else {
            fprintf(stderr, "usage: wires-spice [--seeds N] [--keep DIR]\n");
            return 2;
        }
    }
    if (!on_path("ngspice")) {
        fprintf(stderr, "wires-spice: error: ngspice is not on PATH (scripts/setup installs it)\n");
        return 1;
    }
    char dir[] = "/tmp/wires-spice.XXXXXX";
    const char *work = keep ? keep : mkdtemp(dir);
    if (!work) {
        perror("wires-spice: mkdtemp");
        return 1;
    }
    double worst = 0, worst_stress = 0, largest_loss = 0;
    int failures = 0, columns = 0, max_sweeps = 0;
    for (int seed = 1; seed <= seeds; seed++) {
        Rng rng = {noise_mix((uint64_t)seed)};
        bool stress = seed % 4 == 0;
        int R = uniform_int(&rng, 4, 64), P = uniform_int(&rng, 4, 64);
        double *g = malloc((size_t)R * P * sizeof *g), *v = malloc((size_t)R * sizeof *v);
        double *mine = malloc((size_t)P * sizeof *mine), *spice = malloc((size_t)P * sizeof *spice);
        for (int e = 0; e < R * P; e++)
            g[e] = (stress ? uniform(&rng, 50, 100) : uniform(&rng, 1, 100)) * 1e-6;
        for (int i = 0; i < R; i++)
            v[i] = uniform(&rng, 0, 1) < 0.2 ? 0 : uniform(&rng, 0, 1);
        WireArray a = {.rows = R, .cols = P, .g = g,
                       .r_row = stress ? uniform(&rng, 30, 60) : uniform(&rng, 0.1, 20),
                       .r_col = stress ? uniform(&rng, 30, 60) : uniform(&rng, 0.1, 20),
                       .row_lead = uniform_int(&rng, 1, 4), .col_lead = uniform_int(&rng, 1, 4)};
        char cir[4200], out[4200], cmd[8600];
        snprintf(cir, sizeof cir, "%s/seed%d.cir", work, seed);
        snprintf(out, sizeof out, "%s/seed%d.out", work, seed);
        snprintf(cmd, sizeof cmd, "ngspice -b '%s' > '%s' 2>&1", cir, out);
        WireStats stats = {0};
        if (!write_netlist(cir, &a, v) || system(cmd) != 0 || !read_currents(out, P, spice)) {
            fprintf(stderr, "wires-spice: error: seed %d: ngspice failed or printed no currents (see %s)\n", seed, out);
            return 1;
        }
        const char *error = wires_solve(&a, v, mine, &stats);
        if (error) {
            fprintf(stderr, "wires-spice: seed %d: %s\n", seed, error);
            failures++;
        }
        max_sweeps = stats.max_sweeps > max_sweeps ? stats.max_sweeps : max_sweeps;
        for (int j = 0; j < P; j++, columns++) {
            double ideal = 0;
            for (int i = 0; i < R; i++)
                ideal += g[(size_t)i * P + j] * v[i];
            double err = spice[j] == mine[j] ? 0 : fabs(mine[j] - spice[j]) / fabs(spice[j]);
            if (ideal > 0)
                largest_loss = fmax(largest_loss, 1 - spice[j] / ideal);
            if (stress)
                worst_stress = fmax(worst_stress, err);
            worst = fmax(worst, err);
            if (!(err <= TOLERANCE)) {
                fprintf(stderr, "wires-spice: seed %d (%d x %d): column %d: solver %.9g A, ngspice %.9g A (%.3g)\n",
                        seed, R, P, j, mine[j], spice[j], err);
                failures++;
            }
        }
        if (!keep) {
            remove(cir);
            remove(out);
        }
        free(g), free(v), free(mine), free(spice);
    }
    if (!keep)
        rmdir(work);
    printf("wires-spice: %d arrays, %d columns: worst relative error %.3g (stress cases %.3g), most sweeps %d, "
           "largest loss to the wires %.1f%%: %s\n",
           seeds, columns, worst, worst_stress, max_sweeps, 100 * largest_loss, failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}
