/* cmd_plot.c: `xbarc plot`: a sweep's results file (docs/results.md) as a
 * PNG, PDF or SVG figure (cli/plot.c), or the table again as CSV or JSON
 * lines (--table). */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

const char plot_usage[] =
    "usage: xbarc plot RESULTS.jsonl -o FILE [--y METRIC] [--x AXIS] [--series AXIS]\n"
    "                  [--where AXIS=VALUE ...] [--log-x] [--log-y] [--pareto] [--print-front]\n"
    "                  [--title TEXT] [--size WxH] [--format png|pdf|svg] [--table OUT]\n"
    "\n"
    "Draws a sweep's results (the JSON lines 'xbarc sweep' writes, docs/results.md):\n"
    "a metric against one axis of the sweep, one line per value of another, each\n"
    "point the mean over the seeds with a band from their min to their max.  The\n"
    "other axes must be fixed (--where) or have one value.  When the metric is\n"
    "accuracy or top5 and the float model's accuracy was measured, a dashed line\n"
    "shows it.  Prints what it drew.\n"
    "\n"
    "  -o FILE              the figure: .png, .pdf or .svg ('-' is stdout, with\n"
    "                       --format; the text then goes to stderr)\n"
    "  --y METRIC           the column on the y axis (default accuracy; any numeric\n"
    "                       column: energy_pj, latency_ns, tops_per_w, ...)\n"
    "  --x AXIS             the axis on the x axis (default: the first numeric axis);\n"
    "                       an axis of names (model, adc) is drawn evenly spaced\n"
    "  --series AXIS        one line per value of AXIS, in a legend\n"
    "  --where AXIS=VALUE   keep the rows where AXIS is VALUE (repeatable)\n"
    "  --log-x, --log-y     logarithmic axes, ticks at the decades (every value\n"
    "                       must be > 0)\n"
    "  --pareto             every grid point (mean over seeds) as a dot, y against x\n"
    "                       (default: accuracy against energy_pj; any two numeric\n"
    "                       columns), and the Pareto front joined and circled: the\n"
    "                       points no other has both a lower x and a higher y;\n"
    "                       --series colours the dots\n"
    "  --print-front        with --pareto: print the front's points, by increasing\n"
    "                       x, with their axes ('front: x=... y=... AXIS=VALUE ...')\n"
    "  --title TEXT         a title (shrunk, then wrapped, to fit the width)\n"
    "  --size WxH           the figure's size: pixels for PNG, points for PDF and\n"
    "                       SVG (default 640x480; 100 to 10000 each)\n"
    "  --format png|pdf|svg the format, when FILE has no such extension\n"
    "  --table OUT          also (or instead of -o) write the table read: OUT.csv\n"
    "                       or OUT.jsonl (the same bytes as the input for a file\n"
    "                       xbarc wrote)\n";

enum { MAX_TITLE = 1000 };

static bool parse_size(const char *text, int *width, int *height)
{
    char *end;
    long w = strtol(text, &end, 10);
    if (end == text || *end != 'x')
        return false;
    const char *h_text = end + 1;
    long h = strtol(h_text, &end, 10);
    if (end == h_text || *end || w < 100 || w > 10000 || h < 100 || h > 10000)
        return false;
    *width = (int)w, *height = (int)h;
    return true;
}

static void print_front(FILE *out, const ResultTable *t, const PlotSpec *spec, const PlotInfo *info)
{
    const char *x = spec->x ? spec->x : "energy_pj", *y = spec->y ? spec->y : "accuracy";
    for (int i = 0; i < info->n_front; i++) {
        char bx[40], by[40];
        results_format_number(bx, sizeof bx, info->front_x[i]);
        results_format_number(by, sizeof by, info->front_y[i]);
        fprintf(out, "front: %s=%s %s=%s", x, bx, y, by);
        for (int c = 1; c <= t->n_axes; c++) {
            const ResultCell *cell = &t->cells[(size_t)info->front_rows[i] * (size_t)t->n_columns + (size_t)c];
            char buf[40];
            results_format_number(buf, sizeof buf, cell->number);
            fprintf(out, " %s=%s", t->columns[c], cell->text ? cell->text : buf);
        }
        fputc('\n', out);
    }
}

bool plot_option(Args *a, PlotArgs *p, Arena *arena)
{
    const char *value;
    if (opt_value(a, "--where", &value)) {
        ARENA_GROW(arena, p->spec.where, p->spec.n_where, p->where_cap);
        p->spec.where[p->spec.n_where++] = value;
    } else if (opt_flag(a, "--log-x")) {
        p->spec.log_x = true;
    } else if (opt_flag(a, "--log-y")) {
        p->spec.log_y = true;
    } else if (opt_flag(a, "--pareto")) {
        p->spec.pareto = true;
    } else if (opt_flag(a, "--print-front")) {
        p->print_front = true;
    } else if (!opt_value(a, "--x", &p->spec.x) && !opt_value(a, "--y", &p->spec.y) &&
               !opt_value(a, "--series", &p->spec.series) && !opt_value(a, "--title", &p->spec.title) &&
               !opt_value(a, "--size", &p->size_text) && !opt_value(a, "--format", &p->format_text)) {
        return false;
    }
    return true;
}

static const char *const formats[] = {"png", "pdf", "svg"};

void plot_args_check(Args *a, PlotArgs *p, const char *out)
{
    PlotSpec *spec = &p->spec;
    bool format_given = false;
    for (int i = 0; i < 3 && p->format_text; i++)
        if (strcmp(p->format_text, formats[i]) == 0)
            spec->format = (PlotFormat)i, format_given = true;
    PlotFormat by_name;
    if (!a->failed && p->format_text && !format_given)
        usage_error(a, "--format takes png, pdf or svg, not '%s'", p->format_text);
    if (!a->failed && out && plot_format_of(out, &by_name)) {
        if (format_given && by_name != spec->format)
            usage_error(a, "--format %s disagrees with the name of the output", p->format_text);
        spec->format = by_name;
    } else if (!a->failed && out && !format_given)
        usage_error(a, "cannot tell the format of '%s': name it .png, .pdf or .svg, or give --format", out);
    if (!a->failed && p->size_text && !parse_size(p->size_text, &spec->width, &spec->height))
        usage_error(a, "--size takes WxH, each from 100 to 10000, not '%s'", p->size_text);
    if (!a->failed && spec->title && strlen(spec->title) > MAX_TITLE)
        usage_error(a, "--title: at most 1000 bytes%s", "");
    if (!a->failed && p->print_front && !spec->pareto)
        usage_error(a, "--print-front needs --pareto%s", "");
    if (!a->failed && p->print_front && !out)
        usage_error(a, "--print-front needs -o FILE%s", "");
    for (int i = 0; !a->failed && i < spec->n_where; i++)
        if (!strchr(spec->where[i], '=') || spec->where[i][0] == '=')
            usage_error(a, "--where takes AXIS=VALUE, not '%s'", spec->where[i]);
}

void plot_print_summary(FILE *text, const char *out, const ResultTable *t, const PlotArgs *p, const PlotInfo *info)
{
    const PlotSpec *spec = &p->spec;
    fprintf(text, "%s: %dx%d %s, %d series, %d points (mean over %d seed%s)", out, spec->width ? spec->width : 640,
            spec->height ? spec->height : 480, formats[spec->format], info->n_series, info->n_points, info->n_seeds,
            info->n_seeds == 1 ? "" : "s");
    if (info->title_lines)
        fprintf(text, "; title %.3g pt on %d line%s", info->title_size, info->title_lines,
                info->title_lines == 1 ? "" : "s");
    fprintf(text, "\nx: %s; y: %s\n", info->x_label, info->y_label);
    if (p->print_front)
        print_front(text, t, spec, info);
}

int cmd_plot(Args *a)
{
    const char *path = NULL, *out = NULL, *table_out = NULL;
    Arena *arena = arena_new();
    PlotArgs p = {0};
    while (a->i < a->argc && !a->failed) {
        if (!plot_option(a, &p, arena) && !opt_value(a, "-o", &out) && !opt_value(a, "--table", &table_out) &&
            !a->failed)
            opt_positional(a, &path);
    }
    if (!a->failed && !path)
        usage_error(a, "%s", "missing RESULTS.jsonl");
    if (!a->failed && !out && !table_out)
        usage_error(a, "%s", "missing -o FILE (or --table OUT)");
    plot_args_check(a, &p, out);
    if (!a->failed && table_out && !has_suffix(table_out, ".csv") && !has_suffix(table_out, ".jsonl"))
        usage_error(a, "--table writes OUT.csv or OUT.jsonl, not '%s'", table_out);
    if (a->failed) {
        arena_free(arena);
        return EXIT_USAGE;
    }

    Diags diags;
    diags_init(&diags, arena);
    Outputs *outs = outputs_new(arena, &diags);
    ResultTable table;
    PlotInfo info = {0};
    bool ok = (!out || outputs_add(outs, out)) && (!table_out || outputs_add(outs, table_out)) &&
              results_read(arena, path, &table, &diags) &&
              (!out || plot_write(&table, &p.spec, outs, out, &info, arena, &diags));
    FILE *f = ok && table_out ? outputs_open(outs, table_out) : NULL;
    if (f && has_suffix(table_out, ".csv"))
        results_write_csv(f, &table);
    else if (f)
        results_write_jsonl(f, &table);
    ok = outputs_commit(outs, ok && (f || !table_out));
    if (ok && out)
        plot_print_summary(outputs_to_stdout(outs) ? stderr : stdout, out, &table, &p, &info);
    return finish(arena, &diags, ok);
}
