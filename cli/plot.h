/* plot.h: between cli/plot.c (which rows, which columns, the means over seeds,
 * the Pareto front) and cli/plot_draw.c (cairo: layout, ticks, text that
 * fits).  What is public is in cli.h (PlotSpec, plot_write). */
#ifndef XBARC_PLOT_H
#define XBARC_PLOT_H

#include "cli/cli.h"

#include <cairo.h>

/* One line (or, for --pareto, one colour of points). */
typedef struct {
    const char *label;          /* the series axis's value; NULL: the only series */
    int n;
    double *x, *mean, *lo, *hi; /* [n]: by x; lo, hi: min and max over seeds (NULL for pareto) */
    double *float_at;           /* [n]: the float model's accuracy on the rows of each x, or NaN (NULL: none) */
} PlotSeries;

typedef struct {
    const PlotSpec *spec;
    Arena *arena;               /* for the texts of the layout */
    const char *x_label, *y_label, *series_name;
    bool x_categorical;         /* x is 0 .. n_categories-1, labelled with categories */
    int n_categories;
    const char **categories;
    const char *x_shared;       /* the part every name shares, a star for the rest, or NULL */
    int n_series;
    PlotSeries *series;
    int n_seeds;                /* the most seeds over one point */
    bool has_float;             /* float_at has a value somewhere */
    bool float_flat;            /* one value everywhere: one horizontal line (float_value) */
    bool float_shared;          /* the same at each x in every series: grey, not the series' colours */
    double float_value;
    const char *float_label;
    int n_front;                /* pareto: the front, by increasing x */
    double *front_x, *front_y;
} PlotData;

/* Draws d on cr, a surface of width x height; fills info's title fields. */
void plot_draw(cairo_t *cr, const PlotData *d, double width, double height, PlotInfo *info);

#endif
