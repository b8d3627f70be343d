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

/* part(context, w, i, parts) once for each part i in 0..parts-1 (w the
 * worker, 0 the calling thread); returns when all have run.  Worker w of n
 * first takes the parts [parts w / n, parts (w + 1) / n) in order, then
 * what the others have not reached: equal cores each keep to their own
 * share (the same elements from one region to the next), and a faster core
 * also runs what a slower one (a virtual CPU that shares its core on the
 * host) has not (docs/benchmarks.md, "Threads within one image, second
 * round"). */
typedef void (*PoolPart)(void *context, int worker, int part, int parts);
void pool_run_parts(Pool *pool, int parts, PoolPart part, void *context);

#endif
