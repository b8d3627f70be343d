/* test_metrics.c: the metric functions of runtime/metrics.c.
 *
 * label_rank against a sort-based definition on random outputs with ties;
 * class_metrics on a hand-made case whose confusion matrix is written out,
 * and on random predictions against counts made by a plain loop (row sums,
 * trace, weighted per-class accuracy); out-of-range labels and predictions
 * refused with the image named; SNR and relative error on values whose
 * figures are known in closed form, and their edge cases; the JSON. */
#define TEST_FIXTURE
#include "test_support.h"

#include <math.h>

#include "runtime/metrics.h"
#include "runtime/runtime.h"

TestSuite(metrics, .init = test_setup, .fini = test_teardown);

Test(metrics, label_rank_follows_top_class_ties)
{
    float v[] = {1, 3, 3, 0, 2};
    cr_assert_eq(label_rank(v, 5, 1), 0);   /* top_class picks 1, the first of the two 3s */
    cr_assert_eq(top_class(v, 5), 1);
    cr_assert_eq(label_rank(v, 5, 2), 1);
    cr_assert_eq(label_rank(v, 5, 4), 2);
    cr_assert_eq(label_rank(v, 5, 0), 3);
    cr_assert_eq(label_rank(v, 5, 3), 4);
    cr_assert_eq(label_rank(v, 5, 5), 5);   /* not an output: ranked past all */
}

/* rank = the label's position when outputs are sorted by value descending,
 * index ascending: the rank of a random label must equal it. */
Test(metrics, label_rank_is_the_sorted_position)
{
    for (int trial = 0; trial < 500; trial++) {
        int n = (int)test_uniform(1, 20);
        float v[20];
        for (int i = 0; i < n; i++)
            v[i] = (float)test_uniform(0, 4);       /* many ties */
        int label = (int)test_uniform(0, n - 1);
        int order[20];
        for (int i = 0; i < n; i++)
            order[i] = i;
        for (int i = 1; i < n; i++)     /* insertion sort: descending value, ascending index */
            for (int j = i; j > 0 && (v[order[j]] > v[order[j - 1]] ||
                                      (v[order[j]] == v[order[j - 1]] && order[j] < order[j - 1])); j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        int pos = 0;
        while (order[pos] != label)
            pos++;
        cr_assert_eq(label_rank(v, n, label), pos, "trial %d", trial);
        cr_assert_eq(label_rank(v, n, order[0]), 0);
        cr_assert_eq(top_class(v, n), order[0]);
    }
}

Test(metrics, class_metrics_hand_made)
{
    /* 3 classes, 6 images */
    int32_t labels[] = {0, 0, 1, 1, 2, 2};
    int predictions[] = {0, 1, 1, 1, 0, 2};
    int ranks[] = {0, 1, 0, 0, 6, 0};
    ClassMetrics m;
    cr_assert(class_metrics(arena, predictions, ranks, labels, 6, 3, &m, &diags), "%s", test_messages());
    int want[3][3] = {{1, 1, 0}, {0, 2, 0}, {1, 0, 1}};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            cr_assert_eq(m.confusion[r * 3 + c], want[r][c], "confusion[%d][%d]", r, c);
    cr_assert_eq(m.correct1, 4);
    cr_assert_eq(m.correct5, 5);
    cr_assert_float_eq(m.top1, 4.0 / 6, 1e-15);
    cr_assert_float_eq(m.top5, 5.0 / 6, 1e-15);
    cr_assert_float_eq(class_accuracy(&m, 0), 0.5, 1e-15);
    cr_assert_float_eq(class_accuracy(&m, 1), 1.0, 1e-15);
    cr_assert_float_eq(class_accuracy(&m, 2), 0.5, 1e-15);
}

Test(metrics, class_metrics_random_invariants)
{
    enum { N = 2000, K = 7 };
    int32_t labels[N];
    int predictions[N], ranks[N], counts[K] = {0};
    for (int i = 0; i < N; i++) {
        labels[i] = (int32_t)test_uniform(0, K - 2);    /* class K-1 has no images */
        predictions[i] = (int)test_uniform(0, K - 1);
        ranks[i] = predictions[i] == labels[i] ? 0 : (int)test_uniform(1, K - 1);
        counts[labels[i]]++;
    }
    ClassMetrics m;
    cr_assert(class_metrics(arena, predictions, ranks, labels, N, K, &m, &diags));
    int trace = 0, total = 0;
    double weighted = 0;
    for (int c = 0; c < K; c++) {
        int row = 0;
        for (int p = 0; p < K; p++)
            row += m.confusion[c * K + p];
        cr_assert_eq(row, counts[c]);
        cr_assert_eq(m.class_count[c], counts[c]);
        trace += m.confusion[c * K + c];
        total += row;
        weighted += m.class_count[c] * class_accuracy(&m, c);
    }
    cr_assert_eq(class_accuracy(&m, K - 1), 0.0);
    cr_assert_eq(trace, m.correct1);
    cr_assert_eq(total, N);
    cr_assert_float_eq(weighted / N, m.top1, 1e-12);
    cr_assert_geq(m.top5, m.top1);
}

Test(metrics, class_metrics_refuses_what_is_not_a_class)
{
    int32_t labels[] = {0, 12};
    int predictions[] = {0, 1}, ranks[] = {0, 0};
    ClassMetrics m;
    cr_assert_not(class_metrics(arena, predictions, ranks, labels, 2, 10, &m, &diags));
    cr_assert(test_diags_contain(&diags, "image 1: label 12 is not a class of the model's 10 outputs"),
              "%s", test_messages());
    int32_t ok_labels[] = {0, 1};
    int bad[] = {0, 10};
    cr_assert_not(class_metrics(arena, bad, ranks, ok_labels, 2, 10, &m, &diags));
    cr_assert(test_diags_contain(&diags, "image 1: predicted class 10 out of range"), "%s", test_messages());
    cr_assert_not(class_metrics(arena, predictions, ranks, NULL, 2, 10, &m, &diags));
    cr_assert(test_diags_contain(&diags, "no labels"), "%s", test_messages());
}

Test(metrics, no_confusion_matrix_past_the_limit)
{
    int32_t labels[] = {3};
    int predictions[] = {3}, ranks[] = {0};
    ClassMetrics m;
    cr_assert(class_metrics(arena, predictions, ranks, labels, 1, METRICS_MAX_CONFUSION_CLASSES + 1, &m, &diags));
    cr_assert_null(m.confusion);
    cr_assert_eq(m.class_correct[3], 1);
}

/* out = ref * (1 + e): noise = e^2 * signal, so SNR = -20 log10(e), relerr = |e|. */
Test(metrics, snr_and_relerr_in_closed_form)
{
    float ref[64], out[64];
    for (int i = 0; i < 64; i++) {
        ref[i] = (float)test_uniform(-24, 24) / 8 + (i == 0);   /* few mantissa bits, not all zero */
        out[i] = ref[i] * 1.0625f;      /* exact in float */
    }
    OutputError e = {0};
    output_error_add(&e, out, ref, 32);     /* two images of 32 */
    output_error_add(&e, out + 32, ref + 32, 32);
    cr_assert_eq(e.values, 64);
    cr_assert_float_eq(output_relerr(&e), 0.0625, 1e-12);
    cr_assert_float_eq(output_snr_db(&e), -20 * log10(0.0625), 1e-9);
    /* a constant offset d on a reference of all ones: SNR = -20 log10 |d| */
    float ones[10], shifted[10];
    for (int i = 0; i < 10; i++) {
        ones[i] = 1;
        shifted[i] = 1.5f;
    }
    OutputError f = {0};
    output_error_add(&f, shifted, ones, 10);
    cr_assert_float_eq(output_snr_db(&f), -20 * log10(0.5), 1e-9);
}

Test(metrics, snr_edge_cases)
{
    float ref[3] = {1, 2, 3}, zero[3] = {0, 0, 0};
    OutputError same = {0}, from_zero = {0}, both_zero = {0};
    output_error_add(&same, ref, ref, 3);
    cr_assert(isinf(output_snr_db(&same)) && output_snr_db(&same) > 0);
    cr_assert_eq(output_relerr(&same), 0.0);
    output_error_add(&from_zero, ref, zero, 3);
    cr_assert(isinf(output_snr_db(&from_zero)) && output_snr_db(&from_zero) < 0);
    cr_assert(isinf(output_relerr(&from_zero)));
    output_error_add(&both_zero, zero, zero, 3);
    cr_assert_eq(output_relerr(&both_zero), 0.0);
}

Test(metrics, json_holds_the_figures)
{
    int32_t labels[] = {0, 1};
    int predictions[] = {0, 0}, ranks[] = {0, 1};
    ClassMetrics m;
    cr_assert(class_metrics(arena, predictions, ranks, labels, 2, 2, &m, &diags));
    float ref[2] = {1, 2};
    OutputError e = {0};
    output_error_add(&e, ref, ref, 2);
    MetricsReport r = {.model = "m.xbp", .dataset = "digits", .images = 2, .metric = "top1", .value = m.top1,
                       .classes = &m, .against = "m.onnx", .error = &e};
    const char *json = metrics_to_json(arena, &r);
    cr_assert(strstr(json, "\"confusion\":\t[[1, 0], [1, 0]]"), "%s", json);
    cr_assert(strstr(json, "\"top1\":\t0.5,"), "%s", json);
    cr_assert(strstr(json, "\"top5\":\t1,"), "%s", json);
    cr_assert(strstr(json, "\"snr_db\":\tnull,"), "%s", json);
}
