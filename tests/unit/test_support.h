/* test_support.h: what the Criterion tests share: a seeded random generator,
 * random tensors and a monotonic clock.  Header-only (each test file is its
 * own binary). */
#ifndef XBARC_TEST_SUPPORT_H
#define XBARC_TEST_SUPPORT_H

#include <stdint.h>
#include <time.h>

#include "ir/ir.h"

/* xorshift64: fast, and the same sequence on every machine. */
static uint64_t test_rng = 0x2545f4914f6cdd1dull;

static inline void test_seed(uint64_t seed)
{
    test_rng = seed ? seed : 0x2545f4914f6cdd1dull;
}

static inline uint64_t test_random(void)
{
    test_rng ^= test_rng << 13;
    test_rng ^= test_rng >> 7;
    test_rng ^= test_rng << 17;
    return test_rng;
}

/* An integer in [lo, hi]. */
static inline int64_t test_uniform(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(test_random() % (uint64_t)(hi - lo + 1));
}

/* A float in [lo, hi), 24 random bits. */
static inline float test_uniform_float(float lo, float hi)
{
    return lo + (hi - lo) * (float)(test_random() >> 40) / (float)(1 << 24);
}

/* An integer in [lo, hi], uniform in log scale: small and large sizes alike. */
static inline int64_t test_log_uniform(int64_t lo, int64_t hi)
{
    double a = (double)lo, b = (double)hi + 1;
    double u = (double)(test_random() >> 11) / 9007199254740992.0;    /* [0, 1) */
    int64_t v = (int64_t)(a * __builtin_exp(u * __builtin_log(b / a)));
    return v < lo ? lo : v > hi ? hi : v;
}

static inline void test_fill(float *data, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        data[i] = test_uniform_float(lo, hi);
}

/* A constant of the given shape, uniform in [-1, 1). */
static inline Value *test_random_const(Graph *g, int rank, const int64_t *dims)
{
    Value *v = ir_add_const(g, NULL, type_make(rank, dims), NULL);
    test_fill(v->data, type_numel(&v->type), -1.0f, 1.0f);
    return v;
}

static inline double test_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
