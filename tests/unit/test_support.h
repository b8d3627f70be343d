/* test_support.h: what the Criterion tests share.  Header-only (each test file
 * is its own binary); two options are set before the include:
 *
 *   #define TEST_SEED 0x853c49e6748fea9bull   the file's own seed (default below)
 *   #define TEST_FIXTURE                      the arena + diagnostics fixture
 *   #include "test_support.h"
 *
 *  - a seeded random generator (xorshift64) and what draws from it: integers,
 *    floats, log-uniform sizes, random tensors and constants;
 *  - test_source_path: a file of the source tree ($XBARC_SOURCE_DIR, which
 *    ctest sets);
 *  - the fixture (with TEST_FIXTURE): `arena` and `diags`, fresh for every
 *    test through TestSuite(name, .init = test_setup, .fini = test_teardown)
 *    or a suite's own set-up that calls test_setup() first;
 *  - test_messages, test_diags_contain: diagnostics for assertions;
 *  - test_seconds: a monotonic clock for time budgets.
 *
 * Criterion runs every test in a process of its own, so each test starts from
 * TEST_SEED unless it calls test_seed itself. */
#ifndef XBARC_TEST_SUPPORT_H
#define XBARC_TEST_SUPPORT_H

#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/ir.h"

/* ---- random numbers ---- */

#define TEST_DEFAULT_SEED 0x2545f4914f6cdd1dull
#ifndef TEST_SEED
#define TEST_SEED TEST_DEFAULT_SEED
#endif

/* xorshift64 (Marsaglia's 13, 7, 17): fast, and the same sequence on every
 * machine.  The state is the seed itself, so a file that had its own copy of
 * this generator keeps its sequence. */
static uint64_t test_rng = TEST_SEED;

static inline void test_seed(uint64_t seed)
{
    test_rng = seed ? seed : TEST_DEFAULT_SEED;     /* 0 would stay 0 */
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

/* ---- the source tree ---- */

/* `relative` (say "models/lenet5.onnx") under $XBARC_SOURCE_DIR. */
static inline const char *test_source_path(Arena *arena, const char *relative)
{
    const char *root = getenv("XBARC_SOURCE_DIR");
    cr_assert(root && *root, "XBARC_SOURCE_DIR must name the source tree (ctest sets it)");
    return arena_printf(arena, "%s/%s", root, relative);
}

/* ---- diagnostics ---- */

static inline bool test_diags_contain(const Diags *d, const char *text)
{
    for (const DiagMsg *m = d->first; m; m = m->next)
        if (strstr(m->text, text))
            return true;
    return false;
}

/* ---- the arena + diagnostics fixture ---- */

#ifdef TEST_FIXTURE
static Arena *arena;
static Diags diags;

static inline void test_setup(void)
{
    arena = arena_new();
    diags_init(&diags, arena);
}

static inline void test_teardown(void)
{
    arena_free(arena);
}

/* Every diagnostic so far, one a line (for cr_assert(strstr(...)) and
 * failure messages). */
static inline const char *test_messages(void)
{
    char *all = arena_strdup(arena, "");
    for (const DiagMsg *m = diags.first; m; m = m->next)
        all = arena_printf(arena, "%s%s\n", all, m->text);
    return all;
}
#endif

/* ---- time ---- */

static inline double test_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- sample statistics ---- */

/* Mean and standard deviation of n samples (statistical checks). */
typedef struct {
    double sum, sum_sq;
    long n;
} Moments;

static inline void moments_add(Moments *m, double x)
{
    m->sum += x;
    m->sum_sq += x * x;
    m->n++;
}

static inline double moments_mean(const Moments *m)
{
    return m->sum / (double)m->n;
}

/* The sample standard deviation (n - 1). */
static inline double moments_sd(const Moments *m)
{
    double mu = moments_mean(m);
    double var = (m->sum_sq - (double)m->n * mu * mu) / (double)(m->n - 1);
    return var > 0 ? __builtin_sqrt(var) : 0;
}

#endif
