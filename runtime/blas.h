/* blas.h: the one place xbarc includes CBLAS (Debian's OpenBLAS).
 *
 * OpenBLAS would start its own thread pool; xbarc threads over images itself
 * (runtime/evaluate.c) and promises one core per worker, so every caller
 * asks for a single BLAS thread first (once per process: simulators made on
 * several worker threads may all ask).  Products of small integers held in
 * floats are exact below 2^24 whatever order sgemm sums them in. */
#ifndef XBARC_BLAS_H
#define XBARC_BLAS_H

#include <cblas.h>
#include <pthread.h>

static inline void blas_set_single_thread(void)
{
    openblas_set_num_threads(1);
}

static inline void blas_single_thread(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, blas_set_single_thread);
}

#endif
