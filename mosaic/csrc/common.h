/* Pieces shared by the kernels of mosaic/csrc: horizontal reductions of an AVX register, and a
   work queue whose items are taken one at a time by `nthreads` POSIX threads (the calling
   thread is one of them). */
#ifndef MOSAIC_CSRC_COMMON_H
#define MOSAIC_CSRC_COMMON_H

#include <immintrin.h>
#include <pthread.h>

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
  pthread_mutex_t lock;
  int items, next, started;
} work_queue;

/* the next item, or -1 when all are taken */
static inline int queue_take(work_queue* q) {
  pthread_mutex_lock(&q->lock);
  int i = q->next++;
  pthread_mutex_unlock(&q->lock);
  return i < q->items ? i : -1;
}

/* 0, 1, ... in the order the threads ask: an index for per-thread accumulators */
static inline int queue_thread_id(work_queue* q) {
  pthread_mutex_lock(&q->lock);
  int id = q->started++;
  pthread_mutex_unlock(&q->lock);
  return id;
}

/* runs fn(arg) on min(nthreads, 64) threads until q's `items` items are taken */
static void run_threads(work_queue* q, int items, int nthreads, void* (*fn)(void*), void* arg) {
  pthread_t th[64];
  int n = nthreads > 64 ? 64 : nthreads;
  pthread_mutex_init(&q->lock, NULL);
  q->items = items; q->next = 0; q->started = 0;
  for (int i = 1; i < n; i++) pthread_create(&th[i], NULL, fn, arg);
  fn(arg);
  for (int i = 1; i < n; i++) pthread_join(th[i], NULL);
  pthread_mutex_destroy(&q->lock);
}

#endif
