/* plot.c: a results table (cli/results.c) as a figure: which rows (--where),
 * which columns, the mean, min and max over seeds, the Pareto front, then a
 * cairo surface of the format asked for (plot_draw.c draws on it).
 *
 * Line plots: y against one axis, one series per value of another; every
 * other axis must have one value among the rows kept, or the plot would
 * average over it silently.  Pareto plots: every grid point (the "point"
 * column: one per combination of the axes) as its mean over seeds, and the
 * points no other beats in both (lower or equal x and higher or equal y, one
 * of them strictly). */
#include "cli/plot.h"

#include <cairo-pdf.h>
#include <fontconfig/fontconfig.h>
#include <cairo-svg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Column -> axis label, with the unit where it has one (docs/results.md). */
static const struct {
    const char *column, *label;
} column_labels[] = {
    {"accuracy", "top-1 accuracy"},
    {"top5", "top-5 accuracy"},
    {"float_accuracy", "float model top-1 accuracy"},
    {"energy_pj", "energy per image (pJ)"},
    {"latency_ns", "latency per image (ns)"},
    {"images_per_s", "throughput (images/s)"},
    {"tops_per_w", "efficiency (TOPS/W)"},
    {"area_mm2", "area (mm\xc2\xb2)"},
    {"tiles", "tiles"},
    {"utilization", "cell utilization"},
    {"max_adc_bits", "ADC bits (most over the blocks)"},
    {"images", "images"},
    {"compile_s", "compile time (s)"},
    {"run_s", "simulation time (s)"},
    {"rows", "crossbar rows"},
    {"adc_bits", "ADC bits of the architecture"},
    {"cols", "crossbar columns"},
    {"time", "time after programming (s)"},
    {"drift_time_s", "drift time (s)"},
    {"read_sigma", "read noise \xcf\x83 (relative)"},
    {"prog_sigma", "programming noise \xcf\x83 (relative)"},
    {"wire_r_ohm", "wire resistance per cell (\xce\xa9)"},
    {"g_min_us", "G min (\xc2\xb5S)"},
    {"g_max_us", "G max (\xc2\xb5S)"},
};

static const char *column_label(const char *column)
{
    for (size_t i = 0; i < sizeof column_labels / sizeof column_labels[0]; i++)
        if (strcmp(column_labels[i].column, column) == 0)
            return column_labels[i].label;
    return column;
}

static const ResultCell *cell(const ResultTable *t, int row, int column)
{
    return &t->cells[(size_t)row * (size_t)t->n_columns + (size_t)column];
}

static bool cells_equal(const ResultCell *a, const ResultCell *b)
{
    if (a->text || b->text)
        return a->text && b->text && strcmp(a->text, b->text) == 0;
    return a->number == b->number || (isnan(a->number) && isnan(b->number));
}

static char *cell_text(Arena *arena, const ResultCell *c)
{
    if (c->text)
        return arena_strdup(arena, c->text);
    char buf[40];
    results_format_number(buf, sizeof buf, c->number);
    return arena_strdup(arena, buf);
}

typedef struct {
    double key;
    int row;
} KeyedRow;

static int compare_keyed_rows(const void *a, const void *b)
{
    const KeyedRow *p = a, *q = b;
    if (p->key != q->key)
        return (p->key > q->key) - (p->key < q->key);
    return (p->row > q->row) - (p->row < q->row);   /* ties by row: the same order always */
}

/* rows[0..n) by their number in column c, ascending. */
static void sort_rows(Arena *arena, const ResultTable *t, int *rows, int n, int c)
{
    KeyedRow *keyed = arena_array(arena, (size_t)n + 1, sizeof *keyed);
    for (int i = 0; i < n; i++)
        keyed[i] = (KeyedRow){cell(t, rows[i], c)->number, rows[i]};
    qsort(keyed, (size_t)n, sizeof *keyed, compare_keyed_rows);
    for (int i = 0; i < n; i++)
        rows[i] = keyed[i].row;
}

/* A grid point's means; by x ascending, ties by y descending. */
typedef struct {
    double x, y;
    int row;
} Point;

static int compare_points(const void *a, const void *b)
{
    const Point *p = a, *q = b;
    if (p->x != q->x)
        return (p->x > q->x) - (p->x < q->x);
    if (p->y != q->y)
        return (p->y < q->y) - (p->y > q->y);
    return (p->row > q->row) - (p->row < q->row);
}

/* The distinct values of column c over the kept rows, as the index of a row
 * holding each: in order of first appearance (strings, the grid's order) or
 * ascending (numbers).  Returns their count. */
static int distinct(Arena *arena, const ResultTable *t, const bool *kept, int c, int **rows_out)
{
    int *rows = arena_array(arena, (size_t)t->n_rows + 1, sizeof *rows), n = 0;
    bool numeric = true;
    for (int r = 0; r < t->n_rows; r++) {
        if (!kept[r])
            continue;
        int i = 0;
        while (i < n && !cells_equal(cell(t, rows[i], c), cell(t, r, c)))
            i++;
        if (i == n)
            rows[n++] = r;
        numeric = numeric && !cell(t, r, c)->text;
    }
    if (numeric)
        sort_rows(arena, t, rows, n, c);
    *rows_out = rows;
    return n;
}

static int index_of(const ResultTable *t, const int *values, int n, int c, int row)
{
    for (int i = 0; i < n; i++)
        if (cells_equal(cell(t, values[i], c), cell(t, row, c)))
            return i;
    return -1;
}

static char *list_columns(Arena *arena, const ResultTable *t, int from, int to)
{
    char *s = "";
    for (int c = from; c < to; c++)
        s = arena_printf(arena, "%s%s%s", s, c > from ? ", " : "", t->columns[c]);
    return *s ? s : "none";
}

static char *list_values(Arena *arena, const ResultTable *t, const int *rows, int n, int c)
{
    char *s = "";
    for (int i = 0; i < n && i < 12; i++)
        s = arena_printf(arena, "%s%s%s", s, i ? ", " : "", cell_text(arena, cell(t, rows[i], c)));
    return n > 12 ? arena_printf(arena, "%s, ... (%d values)", s, n) : s;
}

/* A column by name: any (numeric) column, or an axis alone. */
static int find_column(const ResultTable *t, const char *option, const char *name, bool axis, Arena *arena,
                       Diags *diags)
{
    int c = results_column(t, name);
    if (c < 0)
        diag_error(diags, NULL, "%s: no column '%s' (the columns: %s)", option, name,
                   list_columns(arena, t, 0, t->n_columns));
    else if (axis && (c < 1 || c > t->n_axes))
        diag_error(diags, NULL, "%s: '%s' is not an axis of the sweep (the axes: %s)", option, name,
                   list_columns(arena, t, 1, t->n_axes + 1));
    else
        return c;
    return -1;
}

static bool column_numeric(const ResultTable *t, int c)
{
    for (int r = 0; r < t->n_rows; r++)
        if (cell(t, r, c)->text)
            return false;
    return true;
}

/* --where AXIS=VALUE: the rows whose AXIS cell is VALUE (numbers compared as numbers). */
static bool apply_where(const ResultTable *t, const char *spec, bool *kept, bool *fixed, Arena *arena,
                        Diags *diags)
{
    const char *eq = strchr(spec, '=');
    char *name = arena_strdup(arena, spec);
    if (!eq) {
        diag_error(diags, NULL, "--where: '%s' is not AXIS=VALUE", spec);
        return false;
    }
    name[eq - spec] = 0;
    int c = find_column(t, "--where", name, true, arena, diags);
    if (c < 0)
        return false;
    char *end;
    double number = strtod(eq + 1, &end);
    bool is_number = eq[1] && !*end;
    bool any = false;
    for (int r = 0; r < t->n_rows; r++) {
        const ResultCell *x = cell(t, r, c);
        bool match = x->text ? strcmp(x->text, eq + 1) == 0 : is_number && x->number == number;
        any = any || (match && kept[r]);
        kept[r] = kept[r] && match;
    }
    fixed[c] = true;
    if (!any) {
        bool *all = arena_array(arena, (size_t)t->n_rows + 1, sizeof *all);
        memset(all, 1, (size_t)t->n_rows);
        int *values, n = distinct(arena, t, all, c, &values);
        diag_error(diags, NULL, "--where %s: no row has %s = %s (its values: %s)", spec, name, eq + 1,
                   list_values(arena, t, values, n, c));
    }
    return any;
}

/* Names on the x axis without what they all share: a directory ("models/")
 * and an extension (".onnx"), which the axis label then shows once. */
static void shorten_categories(Arena *arena, PlotData *d)
{
    const char *first = d->categories[0];
    size_t n = strlen(first), prefix = n, suffix = n;
    for (int i = 1; i < d->n_categories; i++) {
        const char *c = d->categories[i];
        size_t m = strlen(c), p = 0, q = 0;
        while (p < prefix && p < m && c[p] == first[p])
            p++;
        while (q < suffix && q < m && c[m - 1 - q] == first[n - 1 - q])
            q++;
        prefix = p, suffix = q;
    }
    while (prefix > 0 && first[prefix - 1] != '/')
        prefix--;
    while (suffix > 0 && first[n - suffix] != '.')
        suffix--;
    for (int i = 0; i < d->n_categories && (prefix || suffix); i++)
        if (strlen(d->categories[i]) <= prefix + suffix || d->n_categories == 1)
            prefix = suffix = 0;   /* a name would be left empty: keep them whole */
    if (!prefix && !suffix)
        return;
    d->x_shared = arena_printf(arena, "%.*s*%s", (int)prefix, first, first + n - suffix);
    for (int i = 0; i < d->n_categories; i++) {
        char *c = arena_strdup(arena, d->categories[i] + prefix);
        c[strlen(c) - suffix] = 0;
        d->categories[i] = c;
    }
}

/* Line plots: each series' points by x, the mean, min and max of y over
 * seeds (each row's series and x found once: rows x (series + x values)). */
static void group_lines(Arena *arena, const ResultTable *t, const bool *kept, int xc, int yc, int sc, int fc,
                        PlotData *d)
{
    int *xs, nx = distinct(arena, t, kept, xc, &xs);
    int *ss = NULL, ns = sc >= 0 ? distinct(arena, t, kept, sc, &ss) : 1;
    size_t cells = (size_t)ns * (size_t)nx;
    double *sum = arena_array(arena, cells, sizeof *sum), *lo = arena_array(arena, cells, sizeof *lo);
    double *hi = arena_array(arena, cells, sizeof *hi), *float_sum = arena_array(arena, cells, sizeof *float_sum);
    int *count = arena_array(arena, cells, sizeof *count), *float_n = arena_array(arena, cells, sizeof *float_n);
    for (int r = 0; r < t->n_rows; r++) {
        if (!kept[r])
            continue;
        int s = sc >= 0 ? index_of(t, ss, ns, sc, r) : 0;
        size_t k = (size_t)s * (size_t)nx + (size_t)index_of(t, xs, nx, xc, r);
        if (fc >= 0 && !isnan(cell(t, r, fc)->number))
            float_sum[k] += cell(t, r, fc)->number, float_n[k]++;
        double y = cell(t, r, yc)->number;
        if (isnan(y))
            continue;
        lo[k] = count[k] ? fmin(lo[k], y) : y;
        hi[k] = count[k] ? fmax(hi[k], y) : y;
        sum[k] += y, count[k]++;
    }
    d->series = arena_array(arena, (size_t)ns, sizeof *d->series);
    d->n_series = ns;
    if (d->x_categorical) {
        d->n_categories = nx;
        d->categories = arena_array(arena, (size_t)nx, sizeof *d->categories);
        for (int i = 0; i < nx; i++)
            d->categories[i] = cell_text(arena, cell(t, xs[i], xc));
        shorten_categories(arena, d);
    }
    for (int s = 0; s < ns; s++) {
        PlotSeries *line = &d->series[s];
        line->label = sc >= 0 ? cell_text(arena, cell(t, ss[s], sc)) : NULL;
        line->x = arena_array(arena, (size_t)nx, sizeof(double));
        line->mean = arena_array(arena, (size_t)nx, sizeof(double));
        line->lo = arena_array(arena, (size_t)nx, sizeof(double));
        line->hi = arena_array(arena, (size_t)nx, sizeof(double));
        line->float_at = arena_array(arena, (size_t)nx, sizeof(double));
        for (int i = 0; i < nx; i++) {
            size_t k = (size_t)s * (size_t)nx + (size_t)i;
            if (count[k] == 0)
                continue;   /* not measured: a gap */
            d->n_seeds = count[k] > d->n_seeds ? count[k] : d->n_seeds;
            line->x[line->n] = d->x_categorical ? i : cell(t, xs[i], xc)->number;
            line->mean[line->n] = sum[k] / count[k];
            line->lo[line->n] = lo[k];
            line->hi[line->n] = hi[k];
            line->float_at[line->n++] = float_n[k] ? float_sum[k] / float_n[k] : NAN;
        }
    }
    /* the float line: flat, the same in every series (at each x), or one per series */
    d->float_flat = d->float_shared = true;
    for (int i = 0; i < nx; i++)
        for (int s = 0, first = -1; s < ns; s++) {
            size_t k = (size_t)s * (size_t)nx + (size_t)i;
            if (!float_n[k])
                continue;
            double f = float_sum[k] / float_n[k];
            if (!d->has_float)
                d->float_value = f, d->has_float = true;
            d->float_flat = d->float_flat && f == d->float_value;
            if (first < 0)
                first = s;
            size_t k0 = (size_t)first * (size_t)nx + (size_t)i;
            d->float_shared = d->float_shared && f == float_sum[k0] / float_n[k0];
        }
}

/* Pareto plots: every grid point's means; the front by increasing x. */
static void group_points(Arena *arena, const ResultTable *t, const bool *kept, int xc, int yc, int sc,
                         PlotData *d, PlotInfo *info)
{
    int *rows = arena_array(arena, (size_t)t->n_rows + 1, sizeof *rows), nr = 0, np = 0;
    for (int r = 0; r < t->n_rows; r++)
        if (kept[r])
            rows[nr++] = r;
    sort_rows(arena, t, rows, nr, 0);   /* the seeds of a point side by side */
    for (int i = 0; i < nr; i++)
        np += i == 0 || cell(t, rows[i], 0)->number != cell(t, rows[i - 1], 0)->number;
    int *ss = NULL, ns = sc >= 0 ? distinct(arena, t, kept, sc, &ss) : 1;
    d->series = arena_array(arena, (size_t)ns, sizeof *d->series);
    d->n_series = ns;
    Point *points = arena_array(arena, (size_t)np + 1, sizeof *points);
    int n = 0;
    for (int s = 0; s < ns; s++) {
        PlotSeries *group = &d->series[s];
        group->label = sc >= 0 ? cell_text(arena, cell(t, ss[s], sc)) : NULL;
        group->x = arena_array(arena, (size_t)np + 1, sizeof(double));
        group->mean = arena_array(arena, (size_t)np + 1, sizeof(double));
    }
    for (int first = 0, end; first < nr; first = end) {
        double sx = 0, sy = 0;
        int k = 0;
        for (end = first; end < nr && cell(t, rows[end], 0)->number == cell(t, rows[first], 0)->number; end++) {
            double x = cell(t, rows[end], xc)->number, y = cell(t, rows[end], yc)->number;
            if (!isnan(x) && !isnan(y))
                sx += x, sy += y, k++;
        }
        if (k == 0)
            continue;
        d->n_seeds = k > d->n_seeds ? k : d->n_seeds;
        PlotSeries *group = &d->series[sc >= 0 ? index_of(t, ss, ns, sc, rows[first]) : 0];
        group->x[group->n] = sx / k;
        group->mean[group->n++] = sy / k;
        points[n++] = (Point){sx / k, sy / k, rows[first]};
    }
    /* The front: by x ascending (ties: higher y first), each point whose y
     * beats every earlier one, or equals the last front point in both. */
    qsort(points, (size_t)n, sizeof *points, compare_points);
    d->front_x = arena_array(arena, (size_t)n + 1, sizeof(double));
    d->front_y = arena_array(arena, (size_t)n + 1, sizeof(double));
    int *front_rows = arena_array(arena, (size_t)n + 1, sizeof *front_rows);
    double best = -INFINITY;
    for (int i = 0; i < n; i++) {
        const Point *p = &points[i];
        int f = d->n_front;
        bool same = f > 0 && d->front_x[f - 1] == p->x && d->front_y[f - 1] == p->y;
        if (p->y > best || same) {
            d->front_x[f] = p->x, d->front_y[f] = p->y, front_rows[f] = p->row;
            d->n_front++;
            best = p->y;
        }
    }
    if (info) {
        info->n_front = d->n_front;
        info->front_x = d->front_x, info->front_y = d->front_y, info->front_rows = front_rows;
    }
}

/* Every value a logarithmic axis would show must be > 0. */
static bool check_log(const PlotData *d, bool y, const char *column, Diags *diags)
{
    for (int s = 0; s < d->n_series; s++)
        for (int i = 0; i < d->series[s].n; i++) {
            const PlotSeries *l = &d->series[s];
            double v = !y ? l->x[i] : l->lo ? l->lo[i] : l->mean[i];
            if (!(v > 0)) {
                char buf[40];
                results_format_number(buf, sizeof buf, v);
                diag_error(diags, NULL, "--log-%c: column '%s' has the value %s (a logarithmic axis needs values > 0)",
                           y ? 'y' : 'x', column, buf);
                return false;
            }
        }
    return true;
}

/* The columns, rows and means of the plot; false after an error. */
static bool plot_select(const ResultTable *t, const PlotSpec *spec, Arena *arena, PlotData *d, PlotInfo *info,
                        Diags *diags)
{
    *d = (PlotData){.spec = spec, .arena = arena};
    const char *y_name = spec->y ? spec->y : "accuracy";
    int yc = find_column(t, "--y", y_name, false, arena, diags), xc = -1, sc = -1;
    if (yc < 0)
        return false;
    if (spec->series && (sc = find_column(t, "--series", spec->series, true, arena, diags)) < 0)
        return false;
    bool *kept = arena_array(arena, (size_t)t->n_rows + 1, sizeof *kept);
    bool *fixed = arena_array(arena, (size_t)t->n_columns, sizeof *fixed);
    memset(kept, 1, (size_t)t->n_rows);
    for (int w = 0; w < spec->n_where; w++)
        if (!apply_where(t, spec->where[w], kept, fixed, arena, diags))
            return false;
    if (spec->x)
        xc = find_column(t, "--x", spec->x, !spec->pareto, arena, diags);
    else if (spec->pareto)
        xc = find_column(t, "--x", "energy_pj", false, arena, diags);
    else {   /* the first numeric axis neither fixed nor the series, else the first such axis */
        for (int c = t->n_axes; c >= 1; c--)
            if (!fixed[c] && c != sc && (xc < 0 || column_numeric(t, c) || !column_numeric(t, xc)))
                xc = c;
        if (xc < 0)
            diag_error(diags, NULL, "no axis is left to plot against (--x AXIS; --pareto plots two metrics)");
    }
    if (xc < 0)
        return false;
    if (sc == xc && !spec->pareto) {
        diag_error(diags, NULL, "--series: '%s' is already the x axis", spec->series);
        return false;
    }
    if (!column_numeric(t, yc) || (spec->pareto && !column_numeric(t, xc))) {
        diag_error(diags, NULL, "%s: column '%s' holds names, not numbers", column_numeric(t, yc) ? "--x" : "--y",
                   t->columns[column_numeric(t, yc) ? xc : yc]);
        return false;
    }
    d->x_categorical = !column_numeric(t, xc);
    if (d->x_categorical && spec->log_x) {
        diag_error(diags, NULL, "--log-x: axis '%s' holds names, not numbers", t->columns[xc]);
        return false;
    }
    for (int c = 1; c <= t->n_axes && !spec->pareto; c++) {
        int *values, n = c == xc || c == sc || fixed[c] ? 1 : distinct(arena, t, kept, c, &values);
        if (n > 1) {
            diag_error(diags, NULL,
                       "axis '%s' has %d values (%s): fix one with --where %s=VALUE, or plot it with --x or "
                       "--series", t->columns[c], n, list_values(arena, t, values, n, c), t->columns[c]);
            return false;
        }
    }
    bool measured = false;
    for (int r = 0; r < t->n_rows && !measured; r++)
        measured = kept[r] && !isnan(cell(t, r, yc)->number);
    if (!measured) {
        diag_error(diags, NULL, "column '%s' has no value in the rows plotted (null: not measured)", y_name);
        return false;
    }
    bool accuracy = strcmp(y_name, "accuracy") == 0 || strcmp(y_name, "top5") == 0;
    int fc = accuracy && !spec->pareto ? results_column(t, "float_accuracy") : -1;
    if (spec->pareto)
        group_points(arena, t, kept, xc, yc, sc, d, info);
    else
        group_lines(arena, t, kept, xc, yc, sc, fc, d);
    d->float_label = strcmp(y_name, "top5") == 0 ? "float model (top-1)" : "float model";
    d->x_label = d->x_shared ? arena_printf(arena, "%s (%s)", column_label(t->columns[xc]), d->x_shared)
                             : column_label(t->columns[xc]);
    d->y_label = column_label(y_name);
    d->series_name = sc >= 0 ? t->columns[sc] : NULL;
    return (!spec->log_x || check_log(d, false, t->columns[xc], diags)) &&
           (!spec->log_y || check_log(d, true, y_name, diags));
}

/* ---- surfaces ------------------------------------------------------------------ */

bool plot_format_of(const char *path, PlotFormat *format)
{
    static const char *const suffixes[] = {".png", ".pdf", ".svg"};
    for (int i = 0; i < 3; i++)
        if (has_suffix(path, suffixes[i])) {
            *format = (PlotFormat)i;
            return true;
        }
    return false;
}

static cairo_status_t write_to_file(void *closure, const unsigned char *data, unsigned int length)
{
    return fwrite(data, 1, length, closure) == length ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

bool plot_write(const ResultTable *t, const PlotSpec *spec, Outputs *outs, const char *path, PlotInfo *info,
                Arena *arena, Diags *diags)
{
    PlotData d;
    PlotInfo local;
    info = info ? info : &local;
    *info = (PlotInfo){0};
    if (!plot_select(t, spec, arena, &d, info, diags))
        return false;
    info->x_label = d.x_label, info->y_label = d.y_label;
    info->n_series = d.n_series;
    info->n_seeds = d.n_seeds;
    for (int s = 0; s < d.n_series; s++)
        info->n_points += d.series[s].n;
    FILE *f = outputs_open(outs, path);
    if (!f)
        return false;
    PlotFormat format = spec->format;
    plot_format_of(path, &format);
    double width = spec->width > 0 ? spec->width : 640, height = spec->height > 0 ? spec->height : 480;
    width = fmin(fmax(width, 100), 10000), height = fmin(fmax(height, 100), 10000);   /* room for the axes */
    cairo_surface_t *surface =
        format == PLOT_PDF ? cairo_pdf_surface_create_for_stream(write_to_file, f, width, height)
        : format == PLOT_SVG ? cairo_svg_surface_create_for_stream(write_to_file, f, width, height)
                                   : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)width, (int)height);
    if (format == PLOT_PDF)   /* the same bytes for the same plot: no date */
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, "");
    cairo_t *cr = cairo_create(surface);
    plot_draw(cr, &d, width, height, info);
    cairo_status_t status = cairo_status(cr);
    cairo_destroy(cr);
    if (status == CAIRO_STATUS_SUCCESS && format == PLOT_PNG)
        status = cairo_surface_write_to_png_stream(surface, write_to_file, f);
    cairo_surface_finish(surface);
    if (status == CAIRO_STATUS_SUCCESS)
        status = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    /* cairo's font caches and fontconfig's configuration, released (made
     * again by the next plot) so that a leak checker sees nothing left */
    cairo_debug_reset_static_data();
    FcFini();
    if (status != CAIRO_STATUS_SUCCESS) {
        Loc loc = {.file = path};
        diag_error(diags, &loc, "cannot write the plot: %s", cairo_status_to_string(status));
        return false;
    }
    return true;
}
