/* pool.c: worker threads that wait for the next task (pool.h).  A task is
 * numbered (generation); a worker runs each generation once, then counts
 * itself done.
 *
 * Waiting spins a while, then sleeps on a condition variable.  A sleeping
 * worker takes a futex wake-up, and on a VM an idle virtual CPU is halted and
 * must be rescheduled by the host before it runs: tens of microseconds, about
 * 80 times a ResNet-18 image (a parallel region per layer step: codes,
 * patches, dequant, ReLU, Add).  So a worker that finished a task watches
 * the generation, and the caller the pending count, for up to SPIN_NS before
 * sleeping.  The spin yields the core every few microseconds (sched_yield),
 * so on a loaded machine the thread it waits for, or another program, runs
 * instead (docs/benchmarks.md, "Threads within one image, second round"). */
#include "runtime/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_PAUSE() _mm_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif

enum {
    SPIN_NS = 200000,           /* longer than the gaps between a layer's regions */
    SPIN_PAUSES = 64,           /* pauses between looks at the clock (a few microseconds) */
};

struct Pool {
    int n;                      /* workers, the caller's thread included */
    pthread_t *ids;             /* [n]: ids[0] unused */
    pthread_mutex_t lock;
    pthread_cond_t start, finished;
    atomic_ulong generation;    /* of the current task; written under the lock */
    atomic_ulong pending;       /* workers still running it; written under the lock */
    atomic_bool stop;
    PoolTask task;
    void *context;
};

typedef struct {
    Pool *pool;
    int index;
} Seat;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Spins until (*word == value) == equal, for at most SPIN_NS (the caller
 * then sleeps, checking again under the lock). */
static void spin_until(const atomic_ulong *word, unsigned long value, bool equal)
{
    int64_t start = now_ns();
    for (;;) {
        for (int i = 0; i < SPIN_PAUSES; i++) {
            if ((atomic_load_explicit(word, memory_order_relaxed) == value) == equal)
                return;
            POOL_PAUSE();
        }
        if (now_ns() - start > SPIN_NS)
            return;
        sched_yield();
    }
}

static void *worker_main(void *arg)
{
    Seat *seat = arg;
    Pool *p = seat->pool;
    int index = seat->index;
    free(seat);
    unsigned long seen = 0;
    for (;;) {
        spin_until(&p->generation, seen, false);
        pthread_mutex_lock(&p->lock);
        while (!atomic_load(&p->stop) && atomic_load(&p->generation) == seen)
            pthread_cond_wait(&p->start, &p->lock);
        if (atomic_load(&p->stop))
            break;
        seen = atomic_load(&p->generation);
        PoolTask task = p->task;
        void *context = p->context;
        pthread_mutex_unlock(&p->lock);
        task(context, index, p->n);
        pthread_mutex_lock(&p->lock);
        if (atomic_fetch_sub(&p->pending, 1) == 1)
            pthread_cond_signal(&p->finished);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

Pool *pool_new(int threads)
{
    Pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = threads < 1 ? 1 : threads;
    p->ids = calloc((size_t)p->n, sizeof *p->ids);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->finished, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    int started = 1;
    for (; p->ids && started < p->n; started++) {
        Seat *seat = malloc(sizeof *seat);
        if (!seat)
            break;
        *seat = (Seat){p, started};
        if (pthread_create(&p->ids[started], NULL, worker_main, seat) != 0) {
            free(seat);
            break;
        }
    }
    if (!p->ids || started < p->n) {
        p->n = started;         /* stop the ones that did start */
        pool_free(p);
        return NULL;
    }
    return p;
}

void pool_free(Pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    for (int w = 1; p->ids && w < p->n; w++)
        pthread_join(p->ids[w], NULL);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->finished);
    pthread_mutex_destroy(&p->lock);
    free(p->ids);
    free(p);
}

int pool_size(const Pool *p)
{
    return p ? p->n : 1;
}

void pool_run(Pool *p, PoolTask task, void *context)
{
    if (!p || p->n == 1) {
        task(context, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->task = task;
    p->context = context;
    atomic_store(&p->pending, (unsigned long)(p->n - 1));
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    task(context, 0, p->n);
    spin_until(&p->pending, 0, true);
    pthread_mutex_lock(&p->lock);
    while (atomic_load(&p->pending) > 0)
        pthread_cond_wait(&p->finished, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

enum { POOL_RANGES = 64 };      /* workers with a range of their own; more share one counter */

typedef struct {
    PoolPart part;
    void *context;
    int parts, ranges;
    atomic_int next[POOL_RANGES];   /* range r's next part not yet taken: parts [parts r / ranges, ...) */
} Parts;

/* Worker w takes the parts of its own range in order, then helps the
 * others: the next part of each other range in turn.  With equal cores each
 * worker runs its own range, the same elements region after region (the
 * cache lines it wrote are in its cache); a faster one also runs what a
 * slower one has not reached. */
static void take_parts(void *context, int worker, int n_workers)
{
    Parts *t = context;
    (void)n_workers;
    for (int step = 0; step < t->ranges; step++) {
        int r = (worker + step) % t->ranges;
        int end = (int)((int64_t)t->parts * (r + 1) / t->ranges);
        for (int i; (i = atomic_fetch_add(&t->next[r], 1)) < end;)
            t->part(t->context, worker, i, t->parts);
    }
}

void pool_run_parts(Pool *p, int parts, PoolPart part, void *context)
{
    Parts t = {.part = part, .context = context, .parts = parts};
    int workers = pool_size(p);
    t.ranges = workers <= POOL_RANGES ? workers : 1;
    for (int r = 0; r < t.ranges; r++)
        atomic_init(&t.next[r], (int)((int64_t)parts * r / t.ranges));
    pool_run(p, take_parts, &t);
}
