/* eval_report.c: what `xbarc eval` shows while it runs and prints at the end
 * (cmd_run.c holds the command): the progress line, the headline metric and
 * the text summary.  The metrics themselves are runtime/metrics.c's. */
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const metric_names[] = {"top1", "top5", "snr", "relerr"};

bool eval_metric_parse(const char *text, EvalMetric *metric)
{
    for (int m = 0; m < 4; m++)
        if (strcmp(text, metric_names[m]) == 0) {
            *metric = (EvalMetric)m;
            return true;
        }
    return false;
}

const char *eval_metric_name(EvalMetric metric)
{
    return metric_names[metric];
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void eval_progress_start(EvalProgressLine *p, const char *label, bool tty)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->tty = tty;
    p->interval = 5.0;
    const char *every = getenv("XBARC_PROGRESS_SECONDS");     /* tests: 0 writes a line per image */
    if (every && *every) {
        char *end;
        double s = strtod(every, &end);
        if (*end == 0 && s >= 0 && s < 1e6)
            p->interval = s;
    }
    p->start = p->last = now_seconds();
}

/* "1h02m", "3m05s", "12s" */
static void format_eta(char *buf, size_t size, double seconds)
{
    long s = seconds < 0 ? 0 : seconds > 3.6e6 ? 3600000 : (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, size, "%lds", s);
}

void eval_progress_show(void *context, int done, int count, int correct)
{
    EvalProgressLine *p = context;
    bool last = done == count;
    double t = now_seconds();
    if (p->tty ? done % 256 != 0 && !last : t - p->last < p->interval && !(last && p->lines))
        return;
    p->last = t;
    double elapsed = t - p->start, rate = elapsed > 0 ? done / elapsed : 0.0;
    char when[32];
    format_eta(when, sizeof when, last ? elapsed : rate > 0 ? (count - done) / rate : 0.0);
    fprintf(stderr, "%s%s: %d/%d images, %.0f images/s, %s %s, accuracy so far %.4f%s", p->tty ? "\r" : "",
            p->label, done, count, rate, last ? "took" : "ETA", when, (double)correct / done,
            p->tty ? "\033[K" : "\n");
    p->lines++;
}

void eval_progress_end(EvalProgressLine *p)
{
    if (p->tty && p->lines)
        fprintf(stderr, "\n");
}

/* The figure --metric names: a fraction for top1 and top5, dB for snr. */
double eval_headline(EvalMetric metric, const ClassMetrics *classes, const OutputError *error)
{
    switch (metric) {
    case METRIC_TOP1: return classes->top1;
    case METRIC_TOP5: return classes->top5;
    case METRIC_SNR: return output_snr_db(error);
    case METRIC_RELERR: return output_relerr(error);
    }
    return 0.0;
}

/* The summary's lines after the --against ones: the metrics that are not the
 * headline, then the headline, last, with the image count.  Top-1 keeps the
 * line every script reads: 'accuracy: 0.xxxx (N images)'. */
void eval_print_summary(FILE *out, EvalMetric metric, const ClassMetrics *classes, const OutputError *error,
                        int count)
{
    if (error && metric != METRIC_SNR)
        fprintf(out, "output SNR: %.2f dB\n", output_snr_db(error));
    if (error && metric != METRIC_RELERR)
        fprintf(out, "relative error: %.6g\n", output_relerr(error));
    if (classes && metric != METRIC_TOP1)
        fprintf(out, "top-1 accuracy: %.4f\n", classes->top1);
    if (classes && metric != METRIC_TOP5)
        fprintf(out, "top-5 accuracy: %.4f\n", classes->top5);
    switch (metric) {
    case METRIC_TOP1: fprintf(out, "accuracy: %.4f (%d images)\n", classes->top1, count); break;
    case METRIC_TOP5: fprintf(out, "top-5 accuracy: %.4f (%d images)\n", classes->top5, count); break;
    case METRIC_SNR: fprintf(out, "output SNR: %.2f dB (%d images)\n", output_snr_db(error), count); break;
    case METRIC_RELERR: fprintf(out, "relative error: %.6g (%d images)\n", output_relerr(error), count); break;
    }
}
