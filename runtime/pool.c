/* pool.c: worker threads that wait for the next task (pool.h).  A task is
 * numbered (generation); a worker runs each generation once, then counts
 * itself done.
 *
 * Waiting spins a while, then sleeps on a condition variable.  A sleeping
 * worker takes a futex wake-up, and on a VM an idle virtual CPU is halted and
 * must be rescheduled by the host before it runs: tens of microseconds, about
 * 60 times a ResNet-18 image (a parallel region per layer, quant, dequant and
 * pooling).  A worker that finished a task may therefore watch the
 * generation for `spins` pauses before it sleeps, and the caller the pending
 * count.  On a loaded machine that costs more than it saves (the spinner
 * takes the core the thread it waits for needs): measured on the 2-core VM
 * under load, a region cost 40 us with no spin, 60 us with 1024 pauses and
 * 145 us with 2048 (docs/benchmarks.md, "Threads within one image"), so the
 * default is none and XBARC_POOL_SPINS sets it for a quiet machine. */
#include "runtime/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_PAUSE() _mm_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif

struct Pool {
    int n;                      /* workers, the caller's thread included */
    int spins;                  /* pauses before a wait sleeps (XBARC_POOL_SPINS) */
    pthread_t *ids;             /* [n]: ids[0] unused */
    pthread_mutex_t lock;
    pthread_cond_t start, finished;
    atomic_ulong generation;    /* of the current task; written under the lock */
    atomic_int pending;         /* workers still running it; written under the lock */
    atomic_bool stop;
    PoolTask task;
    void *context;
};

typedef struct {
    Pool *pool;
    int index;
} Seat;

static void *worker_main(void *arg)
{
    Seat *seat = arg;
    Pool *p = seat->pool;
    int index = seat->index;
    free(seat);
    unsigned long seen = 0;
    for (;;) {
        for (int i = 0; i < p->spins && atomic_load(&p->generation) == seen && !atomic_load(&p->stop); i++)
            POOL_PAUSE();
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
    const char *spins = getenv("XBARC_POOL_SPINS");
    p->spins = spins ? atoi(spins) : 0;
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
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    task(context, 0, p->n);
    for (int i = 0; i < p->spins && atomic_load(&p->pending) > 0; i++)
        POOL_PAUSE();
    pthread_mutex_lock(&p->lock);
    while (atomic_load(&p->pending) > 0)
        pthread_cond_wait(&p->finished, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
