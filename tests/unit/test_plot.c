/* test_plot.c: the Pareto front of `xbarc plot --pareto` (cli/plot.c) on
 * random tables, against the definition checked pair by pair: a point is on
 * the front when no other has x lower or equal and y higher or equal, one of
 * them strictly.  Small integer coordinates make ties and duplicates common. */
#define TEST_FIXTURE
#include "test_support.h"

#include "cli/cli.h"

#include <math.h>

TestSuite(plot, .init = test_setup, .fini = test_teardown);

static const char *columns[] = {"point", "i", "seed", "accuracy", "energy_pj"};

static bool dominated(const double *x, const double *y, int n, int i)
{
    for (int j = 0; j < n; j++)
        if (x[j] <= x[i] && y[j] >= y[i] && (x[j] < x[i] || y[j] > y[i]))
            return true;
    return false;
}

static int compare_pairs(const void *a, const void *b)
{
    const double *p = a, *q = b;
    return p[0] != q[0] ? (p[0] > q[0]) - (p[0] < q[0]) : (p[1] > q[1]) - (p[1] < q[1]);
}

Test(plot, pareto_front_is_the_undominated_points)
{
    for (int trial = 0; trial < 150; trial++) {
        int n = (int)test_log_uniform(1, 300), seeds = (int)test_uniform(1, 3), range = (int)test_uniform(2, 40);
        ResultTable t = {.n_axes = 1, .n_columns = 5, .columns = columns, .n_rows = n * seeds};
        t.cells = arena_array(arena, (size_t)(n * seeds * 5), sizeof *t.cells);
        double *x = arena_array(arena, (size_t)n, sizeof *x), *y = arena_array(arena, (size_t)n, sizeof *y);
        for (int p = 0; p < n; p++) {
            x[p] = (double)test_uniform(1, range), y[p] = (double)test_uniform(0, range) / 64;
            for (int s = 0; s < seeds; s++) {   /* the same on every seed: the mean is the value */
                ResultCell *row = &t.cells[(size_t)(p * seeds + s) * 5];
                row[0].number = p, row[1].number = p, row[2].number = s + 1;
                row[3].number = y[p], row[4].number = x[p];
            }
        }
        PlotSpec spec = {.pareto = true, .format = PLOT_SVG, .width = 200, .height = 150};
        PlotInfo info;
        Outputs *outs = outputs_new(arena, &diags);
        cr_assert(plot_write(&t, &spec, outs, "/dev/null", &info, arena, &diags), "%s", test_messages());
        cr_assert(outputs_commit(outs, true));
        int expected = 0;
        double *want = arena_array(arena, (size_t)n * 2, sizeof *want), *got = arena_array(arena, (size_t)n * 2 + 2, sizeof *got);
        for (int p = 0; p < n; p++)
            if (!dominated(x, y, n, p))
                want[2 * expected] = x[p], want[2 * expected++ + 1] = y[p];
        cr_assert_eq(info.n_front, expected, "trial %d: %d points, front of %d, wanted %d", trial, n, info.n_front,
                     expected);
        for (int f = 0; f < info.n_front; f++) {
            got[2 * f] = info.front_x[f], got[2 * f + 1] = info.front_y[f];
            cr_assert(f == 0 || info.front_x[f] >= info.front_x[f - 1], "the front is by increasing x");
            int row = info.front_rows[f];
            cr_assert_eq(t.cells[(size_t)row * 5 + 4].number, info.front_x[f], "the row of front point %d", f);
        }
        qsort(want, (size_t)expected, 2 * sizeof *want, compare_pairs);
        qsort(got, (size_t)expected, 2 * sizeof *got, compare_pairs);
        for (int f = 0; f < expected; f++)
            cr_assert(want[2 * f] == got[2 * f] && want[2 * f + 1] == got[2 * f + 1], "trial %d: front point %d", trial, f);
    }
}
