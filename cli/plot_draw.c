/* plot_draw.c: the figure of plot.c's data on a cairo surface.
 *
 * Everything is laid out from measured text (cairo_text_extents), so nothing
 * is clipped: the title shrinks (to 3/4 of its size) and then wraps (to three
 * lines, a word too long for a line cut with an ellipsis) to fit the width;
 * axis labels shrink, then are cut; the legend to the right takes at most 30%
 * of the width; tick labels are thinned (a larger step, or every k-th
 * category or decade) until they do not overlap.  The margins follow from
 * these sizes, the plot area is what is left.  Colours: Okabe and Ito's
 * palette, told apart in print by the marker shapes too. */
#include "cli/plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double pi = 3.14159265358979323846;

enum { MAX_TICKS = 64, MAX_TITLE_LINES = 3 };

static const double palette[][3] = {
    {0.000, 0.447, 0.698}, {0.835, 0.369, 0.000}, {0.000, 0.620, 0.451}, {0.902, 0.624, 0.000},
    {0.800, 0.475, 0.655}, {0.337, 0.706, 0.914}, {0.0, 0.0, 0.0},
};
enum { N_COLOURS = sizeof palette / sizeof palette[0], N_MARKERS = 5 };

typedef struct {
    double lo, hi;              /* the range shown (data units) */
    bool log, categorical;
    int n;
    double ticks[MAX_TICKS];
    char labels[MAX_TICKS][48];
    double start, length;       /* on the surface: where lo is, and hi - lo (negative for y) */
} Axis;

static void font(cairo_t *cr, double size)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *text)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, text, &e);
    return e.x_advance;
}

/* text, cut to fit max_width with an ellipsis (a UTF-8 character at a time). */
static char *ellipsize(cairo_t *cr, Arena *arena, const char *text, double max_width)
{
    if (text_width(cr, text) <= max_width)
        return arena_strdup(arena, text);
    size_t n = strlen(text);
    char *s = arena_alloc(arena, n + 4);
    while (n > 0) {
        do
            n--;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80);
        memcpy(s, text, n);
        memcpy(s + n, "\xe2\x80\xa6", 4);
        if (text_width(cr, s) <= max_width)
            return s;
    }
    return s;
}

/* Greedy word wrap of text at the current font into at most max lines of
 * max_width; false when it needs more lines (or a word is too wide). */
static bool wrap(cairo_t *cr, Arena *arena, const char *text, double max_width, int max, char **lines, int *n)
{
    *n = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (*n == max)
            return false;
        size_t len = 0, fit = 0;
        while (p[len]) {
            size_t next = len;
            while (p[next] == ' ')
                next++;
            while (p[next] && p[next] != ' ')
                next++;
            char *candidate = arena_strdup(arena, p);
            candidate[next] = 0;
            if (text_width(cr, candidate) > max_width)
                break;
            fit = len = next;
        }
        if (fit == 0) {   /* one word wider than the line: cut it */
            size_t word = strcspn(p, " ");
            char *w = arena_strdup(arena, p);
            w[word] = 0;
            lines[(*n)++] = ellipsize(cr, arena, w, max_width);
            p += word;
            continue;
        }
        lines[*n] = arena_strdup(arena, p);
        lines[(*n)++][fit] = 0;
        p += fit;
    }
    return true;
}

/* The title: the largest size from `size` down to 3/4 of it at which it fits
 * one line, else the largest at which it wraps into MAX_TITLE_LINES lines. */
static double fit_title(cairo_t *cr, Arena *arena, const char *title, double size, double max_width,
                        char **lines, int *n)
{
    for (double s = size; s >= 0.75 * size - 1e-9; s -= 0.05 * size) {
        font(cr, s);
        if (text_width(cr, title) <= max_width) {
            lines[0] = arena_strdup(arena, title);
            *n = 1;
            return s;
        }
    }
    for (double s = size; s >= 0.75 * size - 1e-9; s -= 0.05 * size) {
        font(cr, s);
        if (wrap(cr, arena, title, max_width, MAX_TITLE_LINES, lines, n) && *n > 0)
            return s;
    }
    double s = 0.75 * size;
    font(cr, s);
    if (!wrap(cr, arena, title, max_width, MAX_TITLE_LINES, lines, n))
        lines[MAX_TITLE_LINES - 1] = ellipsize(cr, arena, arena_printf(arena, "%s\xe2\x80\xa6", lines[MAX_TITLE_LINES - 1]),
                                               max_width);
    return s;
}

/* ---- axes ---------------------------------------------------------------------- */

static double axis_t(const Axis *a, double v)
{
    return a->log ? log10(v) : v;
}

static double axis_map(const Axis *a, double v)
{
    return a->start + (axis_t(a, v) - axis_t(a, a->lo)) / (axis_t(a, a->hi) - axis_t(a, a->lo)) * a->length;
}

static void range_add(double *lo, double *hi, double v)
{
    if (isfinite(v))
        *lo = fmin(*lo, v), *hi = fmax(*hi, v);
}

/* The data's range, padded by 5% (in decades for a log axis). */
static void axis_range(Axis *a, double lo, double hi)
{
    if (a->log) {
        double l = log10(lo), h = log10(hi), pad = h > l ? 0.05 * (h - l) : 0.5;
        a->lo = pow(10, l - pad), a->hi = pow(10, h + pad);
        return;
    }
    double pad = hi > lo ? 0.05 * (hi - lo) : lo != 0 ? 0.05 * fabs(lo) : 0.5;
    a->lo = lo - pad, a->hi = hi + pad;
}

/* Labels for the ticks: the fewest significant digits that tell them apart
 * and give each within a thousandth of the step. */
static void label_ticks(Axis *a, double step)
{
    double largest = 0;
    for (int i = 0; i < a->n; i++)
        largest = fmax(largest, fabs(a->ticks[i]));
    if (largest < 1e6 && step >= 1e-4) {   /* plain decimals, as many as the step has */
        int decimals = (int)fmax(0, -floor(log10(step) + 1e-9));
        for (int i = 0; i < a->n; i++)
            snprintf(a->labels[i], sizeof a->labels[i], "%.*f", decimals, a->ticks[i]);
        return;
    }
    for (int digits = 1; digits <= 15; digits++) {
        bool good = true;
        for (int i = 0; i < a->n && good; i++) {
            snprintf(a->labels[i], sizeof a->labels[i], "%.*g", digits, fabs(a->ticks[i]) < 1e-12 * step ? 0.0 : a->ticks[i]);
            good = fabs(strtod(a->labels[i], NULL) - a->ticks[i]) <= 1e-3 * step &&
                   (i == 0 || strcmp(a->labels[i], a->labels[i - 1]) != 0);
        }
        if (good)
            return;
    }
}

/* Whether the labels fit along the axis: side by side (x) or stacked (y). */
static bool ticks_fit(cairo_t *cr, const Axis *a, bool horizontal, double font_size)
{
    if (!horizontal)
        return a->n * font_size * 1.6 <= fabs(a->length) + font_size;
    double widest = 0;
    for (int i = 0; i < a->n; i++)
        widest = fmax(widest, text_width(cr, a->labels[i]));
    double spacing = a->n > 1 ? fabs(axis_map(a, a->ticks[1]) - axis_map(a, a->ticks[0])) : INFINITY;
    return widest + 0.8 * font_size <= spacing;
}

/* Linear: steps of 1, 2, 5 x 10^k, the smallest whose labels fit. */
static void linear_ticks(cairo_t *cr, Axis *a, bool horizontal, double font_size)
{
    double span = a->hi - a->lo, step = pow(10, floor(log10(span / 10)));
    static const double mult[] = {1, 2, 5};
    for (int k = 0;; k++) {
        double s = step * mult[k % 3] * pow(10, k / 3);
        a->n = 0;
        for (double v = ceil(a->lo / s) * s; v <= a->hi + 1e-9 * s && a->n < MAX_TICKS; v += s)
            a->ticks[a->n++] = fabs(v) < 1e-9 * s ? 0 : v;
        if (a->n > MAX_TICKS - 1 || a->n > 12)
            continue;
        label_ticks(a, s);
        if (a->n <= 2 || ticks_fit(cr, a, horizontal, font_size))
            return;
    }
}

/* Logarithmic: every decade, every 2nd, ... until the labels fit; within one
 * decade, 1, 2, 5 x 10^k. */
static void log_ticks(cairo_t *cr, Axis *a, bool horizontal, double font_size)
{
    int first = (int)ceil(log10(a->lo) - 1e-9), last = (int)floor(log10(a->hi) + 1e-9);
    for (int every = 1;; every++) {
        a->n = 0;
        if (last - first < 1) {   /* 1, 2, 5 x 10^k; 1 to 9 x 10^k if that gives fewer than 3 */
            for (int all = 0; all < 2 && a->n < 3; all++) {
                a->n = 0;
                for (int k = first - 1; k <= last; k++)
                    for (int m = 1; m <= 9; m++) {
                        double v = m * pow(10, k);
                        if ((all || m == 1 || m == 2 || m == 5) && v >= a->lo && v <= a->hi && a->n < MAX_TICKS)
                            a->ticks[a->n++] = v;
                    }
            }
            int kept = 0;   /* thinned: every `every`-th */
            for (int i = 0; i < a->n; i += every)
                a->ticks[kept++] = a->ticks[i];
            a->n = kept;
        } else
            for (int k = first; k <= last && a->n < MAX_TICKS; k += every)
                a->ticks[a->n++] = pow(10, k);
        for (int i = 0; i < a->n; i++) {
            int k = (int)floor(log10(a->ticks[i]) + 1e-9);
            double m = a->ticks[i] / pow(10, k);
            if (k >= -3 && k <= 4)
                snprintf(a->labels[i], sizeof a->labels[i], "%g", a->ticks[i]);
            else
                snprintf(a->labels[i], sizeof a->labels[i], "%.0fe%d", m, k);
        }
        if (a->n <= 2 || ticks_fit(cr, a, horizontal, font_size))
            return;
    }
}

/* Categories at 0 .. n-1, every k-th labelled: the smallest k at which each
 * label, cut to the room of k categories, is whole or keeps 5 characters. */
static void category_ticks(cairo_t *cr, Arena *arena, Axis *a, const PlotData *d, double font_size)
{
    double spacing = fabs(a->length) / d->n_categories;
    for (int every = 1;; every++) {
        bool readable = true;
        a->n = 0;
        for (int i = 0; i < d->n_categories && a->n < MAX_TICKS; i += every) {
            const char *whole = d->categories[i];
            char *label = ellipsize(cr, arena, whole, every * spacing - 0.8 * font_size);
            readable = readable && (strcmp(label, whole) == 0 || strlen(label) >= 5 + 3);
            a->ticks[a->n] = i;
            snprintf(a->labels[a->n++], sizeof a->labels[0], "%s", label);
        }
        if (a->n <= 1 || (readable && ticks_fit(cr, a, true, font_size)))
            return;
    }
}

static void make_ticks(cairo_t *cr, Arena *arena, Axis *a, const PlotData *d, bool horizontal, double font_size)
{
    if (a->categorical)
        category_ticks(cr, arena, a, d, font_size);
    else if (a->log)
        log_ticks(cr, a, horizontal, font_size);
    else
        linear_ticks(cr, a, horizontal, font_size);
}

/* ---- marks ----------------------------------------------------------------------- */

static void colour(cairo_t *cr, int s, double alpha)
{
    const double *c = palette[s % N_COLOURS];
    cairo_set_source_rgba(cr, c[0], c[1], c[2], alpha);
}

static void marker(cairo_t *cr, int kind, double x, double y, double r)
{
    switch (kind % N_MARKERS) {
    case 0:
        cairo_new_sub_path(cr);
        cairo_arc(cr, x, y, r, 0, 2 * pi);
        break;
    case 1:
        cairo_rectangle(cr, x - 0.85 * r, y - 0.85 * r, 1.7 * r, 1.7 * r);
        break;
    case 2:
    case 4: {
        double dir = kind % N_MARKERS == 2 ? 1 : -1;
        cairo_move_to(cr, x, y - dir * 1.15 * r);
        cairo_line_to(cr, x + r, y + dir * 0.75 * r);
        cairo_line_to(cr, x - r, y + dir * 0.75 * r);
        cairo_close_path(cr);
        break;
    }
    default:
        cairo_move_to(cr, x, y - 1.2 * r);
        cairo_line_to(cr, x + r, y);
        cairo_line_to(cr, x, y + 1.2 * r);
        cairo_line_to(cr, x - r, y);
        cairo_close_path(cr);
    }
    cairo_fill(cr);
}

static void show_text(cairo_t *cr, const char *text, double x, double y, double align)
{
    cairo_move_to(cr, x - align * text_width(cr, text), y);
    cairo_show_text(cr, text);
}

/* ---- the legend ------------------------------------------------------------------ */

typedef enum { ENTRY_NOTE, ENTRY_LINE, ENTRY_POINTS, ENTRY_BAND, ENTRY_FLOAT, ENTRY_FRONT } EntryKind;
typedef struct {
    EntryKind kind;
    int series;                 /* colour and marker; -1: grey */
    const char *text;
} Entry;

static int legend_entries(const PlotData *d, Arena *arena, Entry *e)
{
    int n = 0;
    bool pareto = d->spec->pareto;
    if (d->n_seeds > 1)
        e[n++] = (Entry){ENTRY_NOTE, -1, arena_printf(arena, "mean over %d seeds", d->n_seeds)};
    if (d->series_name)
        e[n++] = (Entry){ENTRY_NOTE, -1, d->series_name};
    for (int s = 0; s < d->n_series; s++)
        e[n++] = (Entry){pareto ? ENTRY_POINTS : ENTRY_LINE, s,
                         d->series[s].label ? d->series[s].label : pareto ? "grid points" : d->y_label};
    if (!pareto && d->n_seeds > 1)
        e[n++] = (Entry){ENTRY_BAND, -1, "band: min to max over seeds"};
    if (d->has_float)
        e[n++] = (Entry){ENTRY_FLOAT, -1,
                         d->float_shared ? d->float_label : arena_printf(arena, "%s (each series' colour)", d->float_label)};
    if (pareto)
        e[n++] = (Entry){ENTRY_FRONT, -1, "Pareto front"};
    return n;
}

static void draw_entry(cairo_t *cr, const Entry *e, double x, double y, double size, double swatch)
{
    double mid = y - 0.35 * size;
    if (e->series >= 0)
        colour(cr, e->series, 1);
    else
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    switch (e->kind) {
    case ENTRY_NOTE:
        break;
    case ENTRY_BAND:
        cairo_set_source_rgba(cr, 0.35, 0.35, 0.35, 0.25);
        cairo_rectangle(cr, x, mid - 0.4 * size, swatch, 0.8 * size);
        cairo_fill(cr);
        break;
    case ENTRY_LINE:
    case ENTRY_FLOAT:
    case ENTRY_FRONT: {
        double dash = 0.4 * size;
        cairo_set_dash(cr, &dash, e->kind == ENTRY_FLOAT, 0);
        cairo_set_line_width(cr, e->kind == ENTRY_FRONT ? 1.2 : 1.5);
        cairo_move_to(cr, x, mid);
        cairo_line_to(cr, x + swatch, mid);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (e->kind == ENTRY_LINE)
            marker(cr, e->series, x + swatch / 2, mid, 0.3 * size);
        if (e->kind == ENTRY_FRONT) {
            cairo_arc(cr, x + swatch / 2, mid, 0.45 * size, 0, 2 * pi);
            cairo_stroke(cr);
        }
        break;
    }
    case ENTRY_POINTS:
        marker(cr, e->series, x + swatch / 2, mid, 0.3 * size);
        break;
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    show_text(cr, e->text, x + (e->kind == ENTRY_NOTE ? 0 : swatch + 0.4 * size), y, 0);
}

/* ---- the figure ------------------------------------------------------------------- */

static void draw_data(cairo_t *cr, const PlotData *d, const Axis *ax, const Axis *ay, double size)
{
    for (int s = 0; s < d->n_series; s++) {
        const PlotSeries *l = &d->series[s];
        if (l->lo && l->n > 0 && d->n_seeds > 1) {   /* the band: lo forward, hi back */
            colour(cr, s, 0.18);
            for (int i = 0; i < l->n; i++)
                cairo_line_to(cr, axis_map(ax, l->x[i]), axis_map(ay, l->lo[i]));
            for (int i = l->n - 1; i >= 0; i--)
                cairo_line_to(cr, axis_map(ax, l->x[i]), axis_map(ay, l->hi[i]));
            cairo_close_path(cr);
            cairo_fill(cr);
        }
    }
    double dash = 0.4 * size;
    cairo_set_dash(cr, &dash, 1, 0);
    cairo_set_line_width(cr, 1.2);
    if (d->has_float && d->float_flat) {
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
        cairo_move_to(cr, ax->start, axis_map(ay, d->float_value));
        cairo_line_to(cr, ax->start + ax->length, axis_map(ay, d->float_value));
        cairo_stroke(cr);
    }
    for (int s = 0; s < d->n_series && d->has_float && !d->float_flat; s++) {   /* through each x */
        const PlotSeries *l = &d->series[s];
        if (d->float_shared)
            cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
        else
            colour(cr, s, 0.8);
        for (int i = 0; i < l->n; i++) {
            if (isnan(l->float_at[i]))
                cairo_new_sub_path(cr);
            else
                cairo_line_to(cr, axis_map(ax, l->x[i]), axis_map(ay, l->float_at[i]));
        }
        cairo_stroke(cr);
    }
    cairo_set_dash(cr, NULL, 0, 0);
    for (int s = 0; s < d->n_series; s++) {
        const PlotSeries *l = &d->series[s];
        colour(cr, s, d->spec->pareto ? 0.75 : 1);
        cairo_set_line_width(cr, 1.5);
        for (int i = 0; i < l->n && !d->spec->pareto; i++)
            cairo_line_to(cr, axis_map(ax, l->x[i]), axis_map(ay, l->mean[i]));
        cairo_stroke(cr);
        for (int i = 0; i < l->n; i++)
            marker(cr, s, axis_map(ax, l->x[i]), axis_map(ay, l->mean[i]), 0.3 * size);
    }
    if (d->n_front > 0) {
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_set_line_width(cr, 1.2);
        for (int i = 0; i < d->n_front; i++)
            cairo_line_to(cr, axis_map(ax, d->front_x[i]), axis_map(ay, d->front_y[i]));
        cairo_stroke(cr);
        for (int i = 0; i < d->n_front; i++) {
            cairo_new_sub_path(cr);
            cairo_arc(cr, axis_map(ax, d->front_x[i]), axis_map(ay, d->front_y[i]), 0.45 * size, 0, 2 * pi);
        }
        cairo_stroke(cr);
    }
}

void plot_draw(cairo_t *cr, const PlotData *d, double width, double height, PlotInfo *info)
{
    Arena *arena = d->arena;
    double size = fmax(7, fmin(14, fmin(height / 40, width / 53))), pad = 0.8 * size;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);

    /* the title, on top */
    char *title_lines[MAX_TITLE_LINES];
    int n_title = 0;
    double title_size = 0, top = pad;
    if (d->spec->title && *d->spec->title) {
        title_size = fit_title(cr, arena, d->spec->title, 1.35 * size, width - 2 * pad, title_lines, &n_title);
        font(cr, title_size);
        for (int i = 0; i < n_title; i++) {
            top += 1.2 * title_size;
            show_text(cr, title_lines[i], width / 2, top - 0.25 * title_size, 0.5);
        }
        top += 0.6 * size;
    }
    info->title_size = title_size;
    info->title_lines = n_title;

    /* the legend, to the right: at most 30% of the width */
    Entry entries[2 * 64 + 8];
    int n_entries = d->n_series <= 120 ? legend_entries(d, arena, entries) : 0;
    double legend_size = 0.9 * size, swatch = 2.2 * size, legend_width = 0;
    for (int pass = 0; pass < 2; pass++) {
        font(cr, legend_size);
        legend_width = 0;
        for (int i = 0; i < n_entries; i++)
            legend_width = fmax(legend_width, text_width(cr, entries[i].text) +
                                                  (entries[i].kind == ENTRY_NOTE ? 0 : swatch + 0.4 * legend_size));
        if (legend_width <= 0.3 * width - pad || pass == 1)
            break;
        legend_size = fmax(0.7 * size, legend_size * (0.3 * width - pad) / legend_width);
    }
    double text_room = 0.3 * width - pad - swatch - 0.4 * legend_size;
    for (int i = 0; i < n_entries; i++)
        entries[i].text = ellipsize(cr, arena, entries[i].text, entries[i].kind == ENTRY_NOTE ? 0.3 * width - pad : text_room);
    legend_width = fmin(legend_width, 0.3 * width - pad);

    /* margins: the x axis's labels below, the y axis's to the left */
    double tick = 0.4 * size;
    double bottom = height - pad - 1.3 * size - 1.3 * size - tick;
    double right = width - pad - (n_entries ? legend_width + pad : 0);
    Axis ax = {.log = d->spec->log_x, .categorical = d->x_categorical}, ay = {.log = d->spec->log_y};
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < d->n_series; s++)
        for (int i = 0; i < d->series[s].n; i++) {
            const PlotSeries *l = &d->series[s];
            range_add(&xlo, &xhi, l->x[i]);
            range_add(&ylo, &yhi, l->mean[i]);
            if (l->lo)
                range_add(&ylo, &yhi, l->lo[i]), range_add(&ylo, &yhi, l->hi[i]);
        }
    for (int s = 0; s < d->n_series && !d->spec->log_y; s++)
        for (int i = 0; d->series[s].float_at && i < d->series[s].n; i++)
            range_add(&ylo, &yhi, d->series[s].float_at[i]);
    if (!(xlo <= xhi))
        xlo = xhi = 1;
    if (!(ylo <= yhi))
        ylo = yhi = 1;
    if (ax.categorical)
        ax.lo = -0.5, ax.hi = d->n_categories - 0.5;
    else
        axis_range(&ax, xlo, xhi);
    axis_range(&ay, ylo, yhi);
    font(cr, size);
    ay.start = bottom, ay.length = top - bottom;
    make_ticks(cr, arena, &ay, d, false, size);
    double widest = 0;
    for (int i = 0; i < ay.n; i++)
        widest = fmax(widest, text_width(cr, ay.labels[i]));
    double left = pad + 1.4 * size + widest + tick + 0.3 * size;
    ax.start = left, ax.length = right - left;
    make_ticks(cr, arena, &ax, d, true, size);

    /* grid, frame, ticks */
    cairo_set_line_width(cr, 0.6);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    for (int i = 0; i < ax.n && !ax.categorical; i++)
        cairo_move_to(cr, axis_map(&ax, ax.ticks[i]), top), cairo_line_to(cr, axis_map(&ax, ax.ticks[i]), bottom);
    for (int i = 0; i < ay.n; i++)
        cairo_move_to(cr, left, axis_map(&ay, ay.ticks[i])), cairo_line_to(cr, right, axis_map(&ay, ay.ticks[i]));
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, left, top, right - left, bottom - top);
    for (int i = 0; i < ax.n; i++) {
        double x = axis_map(&ax, ax.ticks[i]);
        cairo_move_to(cr, x, bottom), cairo_line_to(cr, x, bottom + tick);
        show_text(cr, ax.labels[i], x, bottom + tick + 1.05 * size, 0.5);
    }
    for (int i = 0; i < ay.n; i++) {
        double y = axis_map(&ay, ay.ticks[i]);
        cairo_move_to(cr, left, y), cairo_line_to(cr, left - tick, y);
        show_text(cr, ay.labels[i], left - tick - 0.3 * size, y + 0.35 * size, 1);
    }
    cairo_stroke(cr);

    /* axis labels: shrunk to 3/4, then cut, to fit their axis */
    double label_size = size;
    font(cr, label_size);
    while (label_size > 0.75 * size && text_width(cr, d->x_label) > right - left)
        font(cr, label_size -= 0.05 * size);
    show_text(cr, ellipsize(cr, arena, d->x_label, right - left), (left + right) / 2, height - pad - 0.25 * size, 0.5);
    label_size = size;
    font(cr, label_size);
    while (label_size > 0.75 * size && text_width(cr, d->y_label) > bottom - top)
        font(cr, label_size -= 0.05 * size);
    cairo_save(cr);
    cairo_translate(cr, pad + size, (top + bottom) / 2);
    cairo_rotate(cr, -pi / 2);
    show_text(cr, ellipsize(cr, arena, d->y_label, bottom - top), 0, 0, 0.5);
    cairo_restore(cr);

    /* the data, clipped to the plot area */
    cairo_save(cr);
    cairo_rectangle(cr, left, top, right - left, bottom - top);
    cairo_clip(cr);
    draw_data(cr, d, &ax, &ay, size);
    cairo_restore(cr);

    font(cr, legend_size);
    double y = top + legend_size;
    for (int i = 0; i < n_entries && y < height - pad; i++, y += 1.45 * legend_size)
        draw_entry(cr, &entries[i], right + pad, y, legend_size, swatch);
}
