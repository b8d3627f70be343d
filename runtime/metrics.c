/* metrics.c: top-k accuracy, per-class accuracy, the confusion matrix, and a
 * non-classifier's output SNR and relative error (runtime/metrics.h). */
#include "runtime/metrics.h"

#include <cJSON.h>
#include <math.h>
#include <string.h>

int label_rank(const float *v, int64_t n, int label)
{
    if (label < 0 || label >= n)
        return (int)(n < 0x7fffffff ? n : 0x7fffffff);
    float x = v[label];
    int rank = 0;
    for (int64_t j = 0; j < n; j++)
        rank += v[j] > x || (v[j] == x && j < label);
    return rank;
}

bool class_metrics(Arena *arena, const int *predictions, const int *ranks, const int32_t *labels, int count,
                   int n_classes, ClassMetrics *m, Diags *diags)
{
    memset(m, 0, sizeof *m);
    if (n_classes < 1) {
        diag_error(diags, NULL, "the model has no output to take a class from");
        return false;
    }
    if (count > 0 && (!labels || !ranks)) {
        diag_error(diags, NULL, "the data set has no labels to measure accuracy with (see --metric snr|relerr)");
        return false;
    }
    m->count = count;
    m->n_classes = n_classes;
    m->class_count = arena_array(arena, (size_t)n_classes, sizeof(int));
    m->class_correct = arena_array(arena, (size_t)n_classes, sizeof(int));
    if (n_classes <= METRICS_MAX_CONFUSION_CLASSES)
        m->confusion = arena_array(arena, (size_t)n_classes * (size_t)n_classes, sizeof(int));
    for (int i = 0; i < count; i++) {
        int y = labels[i], p = predictions[i];
        if (y >= n_classes) {
            diag_error(diags, NULL, "image %d: label %d is not a class of the model's %d outputs (not a "
                       "classifier? see --metric snr|relerr)", i, y, n_classes);
            return false;
        }
        if (p < 0 || p >= n_classes) {
            diag_error(diags, NULL, "image %d: predicted class %d out of range [0, %d)", i, p, n_classes);
            return false;
        }
        m->class_count[y]++;
        if (p == y) {
            m->class_correct[y]++;
            m->correct1++;
        }
        m->correct5 += ranks[i] < 5;
        if (m->confusion)
            m->confusion[(size_t)y * (size_t)n_classes + (size_t)p]++;
    }
    m->top1 = count ? (double)m->correct1 / count : 0.0;
    m->top5 = count ? (double)m->correct5 / count : 0.0;
    return true;
}

double class_accuracy(const ClassMetrics *m, int c)
{
    return m->class_count[c] ? (double)m->class_correct[c] / m->class_count[c] : 0.0;
}

void output_error_add(OutputError *e, const float *out, const float *ref, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        double r = ref[j], d = (double)out[j] - r;
        e->signal += r * r;
        e->noise += d * d;
    }
    e->values += n;
}

double output_snr_db(const OutputError *e)
{
    if (e->noise == 0)
        return INFINITY;
    if (e->signal == 0)
        return -INFINITY;
    return 10.0 * log10(e->signal / e->noise);
}

double output_relerr(const OutputError *e)
{
    if (e->noise == 0)
        return 0.0;
    if (e->signal == 0)
        return INFINITY;
    return sqrt(e->noise / e->signal);
}

static cJSON *int_array(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* cJSON writes non-finite numbers as null, which is what we want said. */
char *metrics_to_json(Arena *arena, const MetricsReport *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "eval");
    cJSON_AddStringToObject(root, "model", r->model ? r->model : "");
    cJSON_AddStringToObject(root, "dataset", r->dataset ? r->dataset : "");
    cJSON_AddNumberToObject(root, "images", r->images);
    cJSON_AddNumberToObject(root, "seed", (double)r->seed);
    cJSON_AddStringToObject(root, "metric", r->metric);
    cJSON_AddNumberToObject(root, "value", r->value);
    const ClassMetrics *m = r->classes;
    if (m) {
        cJSON_AddNumberToObject(root, "top1", m->top1);
        cJSON_AddNumberToObject(root, "top5", m->top5);
        cJSON_AddNumberToObject(root, "correct", m->correct1);
        cJSON_AddNumberToObject(root, "correct_top5", m->correct5);
        cJSON_AddNumberToObject(root, "classes", m->n_classes);
        cJSON *per = cJSON_AddArrayToObject(root, "per_class");
        for (int c = 0; c < m->n_classes; c++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "class", c);
            cJSON_AddNumberToObject(o, "count", m->class_count[c]);
            cJSON_AddNumberToObject(o, "correct", m->class_correct[c]);
            cJSON_AddNumberToObject(o, "accuracy", class_accuracy(m, c));
            cJSON_AddItemToArray(per, o);
        }
        if (m->confusion) {
            cJSON *rows = cJSON_AddArrayToObject(root, "confusion");
            for (int c = 0; c < m->n_classes; c++)
                cJSON_AddItemToArray(rows, int_array(m->confusion + (size_t)c * (size_t)m->n_classes, m->n_classes));
        } else {
            cJSON_AddNullToObject(root, "confusion");
        }
    }
    if (r->against && r->error) {
        cJSON *a = cJSON_AddObjectToObject(root, "against");
        cJSON_AddStringToObject(a, "model", r->against);
        cJSON_AddNumberToObject(a, "snr_db", output_snr_db(r->error));
        cJSON_AddNumberToObject(a, "relerr", output_relerr(r->error));
        cJSON_AddNumberToObject(a, "signal", r->error->signal);
        cJSON_AddNumberToObject(a, "noise", r->error->noise);
        cJSON_AddNumberToObject(a, "values", (double)r->error->values);
        if (m) {
            cJSON_AddNumberToObject(a, "reference_accuracy", r->reference_accuracy);
            cJSON_AddNumberToObject(a, "top1_agreement", r->agreement);
        }
        cJSON_AddNumberToObject(a, "largest_difference", r->largest_difference);
        cJSON_AddNumberToObject(a, "identical_outputs", r->identical);
    }
    char *text = cJSON_Print(root);
    char *copy = arena_printf(arena, "%s\n", text ? text : "{}");
    cJSON_free(text);
    cJSON_Delete(root);
    return copy;
}
