/* Pieces shared by the kernels of mosaic/csrc: horizontal reductions of an AVX register, and a
   work queue whose items are taken one at a time by a team of threads.

   The team: built with -fopenmp (mosaic/cpu_kernels.py does so when PyTorch runs on GNU OpenMP),
   it is an OpenMP parallel region, and the library binds to the libgomp PyTorch already loaded,
   so the kernels run on PyTorch's own worker threads. Separate POSIX threads (the fallback)
   would share the cores with those workers, which spin for a while after every PyTorch op:
   on 2 cores that made the whole mosaic training step 6% slower (docs/performance.md). */
#ifndef MOSAIC_CSRC_COMMON_H
#define MOSAIC_CSRC_COMMON_H

#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#else
#include <pthread.h>
#endif

static inline float hsum(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(a, _mm_movehdup_ps(a)));
}

static inline float hmax(__m256 v) {
  __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_max_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_max_ss(a, _mm_movehdup_ps(a)));
}

typedef struct {
  int items, next, started;
} work_queue;

/* the next item, or -1 when all are taken */
static inline int queue_take(work_queue* q) {
  int i = __atomic_fetch_add(&q->next, 1, __ATOMIC_RELAXED);
  return i < q->items ? i : -1;
}

/* 0, 1, ... in the order the threads ask: an index for per-thread accumulators, below the
   nthreads given to run_threads */
static inline int queue_thread_id(work_queue* q) {
  return __atomic_fetch_add(&q->started, 1, __ATOMIC_RELAXED);
}

/* runs fn(arg) on at most nthreads threads (the caller's among them) until q's `items` items
   are taken */
static void run_threads(work_queue* q, int items, int nthreads, void* (*fn)(void*), void* arg) {
  q->items = items; q->next = 0; q->started = 0;
  if (nthreads < 1) nthreads = 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
  fn(arg);
#else
  pthread_t th[64];
  int n = nthreads > 64 ? 64 : nthreads;
  for (int i = 1; i < n; i++) pthread_create(&th[i], NULL, fn, arg);
  fn(arg);
  for (int i = 1; i < n; i++) pthread_join(th[i], NULL);
#endif
}

#endif
