/* pool.c: worker threads that wait on a condition variable for the next
 * task (pool.h).  A task is numbered (generation); a worker runs each
 * generation once, then counts itself done.  Waking takes a few microseconds,
 * so callers give the pool work in pieces of a millisecond or more (the Sim:
 * a whole layer, not a block). */
#include "runtime/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct Pool {
    int n;                      /* workers, the caller's thread included */
    pthread_t *ids;             /* [n]: ids[0] unused */
    pthread_mutex_t lock;
    pthread_cond_t start, finished;
    unsigned long generation;   /* of the current task */
    int pending;                /* workers still running it */
    bool stop;
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
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->start, &p->lock);
        if (p->stop)
            break;
        seen = p->generation;
        PoolTask task = p->task;
        void *context = p->context;
        pthread_mutex_unlock(&p->lock);
        task(context, index, p->n);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_signal(&p->finished);
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
    p->stop = true;
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
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    task(context, 0, p->n);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->finished, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
