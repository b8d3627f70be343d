/* pool.h: a small pool of worker threads that runs one function on all of
 * them at once and waits (runtime/pool.c).  The Sim splits a layer's rows
 * over one (sim_set_threads); the caller's thread is worker 0, so a pool of
 * one thread starts none. */
#ifndef XBARC_POOL_H
#define XBARC_POOL_H

typedef struct Pool Pool;
typedef void (*PoolTask)(void *context, int worker, int n_workers);

/* NULL when a thread could not be started. */
Pool *pool_new(int threads);
void pool_free(Pool *pool);
int pool_size(const Pool *pool);
/* task(context, w, n) for every worker w in 0..n-1, w = 0 on the calling
 * thread; returns when all have. */
void pool_run(Pool *pool, PoolTask task, void *context);

#endif
