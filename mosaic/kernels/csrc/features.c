/* The feature extractors' elementwise chains (paper eq. 7), fused, fp32, AVX2 + FMA.

   Keys:

       kbar_t = u_t + lam_h kbar_{t-1}          (leaky average, kbar_{-1} = 0)
       k_t    = alpha_h kbar_t / (|kbar_t| + eps)

   for u = W_phi x (B, T, H*d) and every (sequence b, unit h), in one pass over time with the
   d channels in registers. PyTorch runs the same chain as a chunked scan (several matmuls and
   passes, mosaic/leaky_average.py) and a normalisation (mosaic/fused_features.py); here it is one
   read of u and one write of k, and the backward one more pass each way:

       forward scan again to rebuild kbar (not stored: only the norms are kept),
       g_kbar_t = alpha/(n+eps) (g_t - kbar_t (g_t . kbar_t) / (n (n+eps)))   (n = |kbar_t|)
       a_t      = g_kbar_t + lam_h a_{t+1}      (the leaky average run backwards)
       du_t = a_t,   dlam_h += a_t . kbar_{t-1},   dalpha_h += (g_t . kbar_t) / (n+eps)

   Values (the look-ahead of position T-1 is 0):

       vbar_t = u_t + lam_h u_{t+1},   v_t = alpha_h vbar_t / (|vbar_t| + eps)
       backward: g_vbar_t as for the keys;  du_t = g_vbar_t + lam_h g_vbar_{t-1};
                 dlam_h += g_vbar_t . u_{t+1};  dalpha_h += (g_t . vbar_t) / (n+eps)

   Layouts: u and du (B, T, H*d) with rows u_rs apart (the keys' or the values' half of one
   (B, T, 2 H*d) projection, or a contiguous tensor); k, v and g addressed by (b, h, t) strides with the
   d channels contiguous; norms (B, H, T). d a multiple of 8, at most 256. dlam and dalpha are
   (nthreads, H), one row per thread, summed by the caller. Work items (b, h) are shared among
   `nthreads` threads (csrc/common.h). Built with slot_attention.c by mosaic/cpu_kernels.py. */
#include <math.h>
#include <stdlib.h>

#include "common.h"

#define MAXV 32 /* d / 8 at most */

typedef struct {
  const float *u, *g, *lam, *alpha, *norm_in;
  float *out, *norm, *du, *dlam, *dalpha;
  long u_rs, k_bs, k_hs, k_ts, g_bs, g_hs, g_ts;  /* u_rs: row stride of u and du */
  int B, H, T, d, nthreads, values;
  float eps;
  work_queue queue;  /* items: (sequence b, unit h) */
} kf_job;

/* The row loops below take the number of 8-float vectors per row, nv = d / 8, as an argument
   that the workers pass as a constant for d = 16, 32, 64 (ITEM_BY_NV): the loops over v then
   unroll and the running sums stay in registers. With nv known only at run time they lived on
   the stack, and the backward ran 5x slower than the forward. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define ITEM_BY_NV(fn, nv, ...)                       \
  switch (nv) {                                       \
    case 2: fn(2, __VA_ARGS__); break;                \
    case 4: fn(4, __VA_ARGS__); break;                \
    case 8: fn(8, __VA_ARGS__); break;                \
    default: fn(nv, __VA_ARGS__);                     \
  }

/* gx = d/dx of alpha x / (n + eps) against g, for one row x of nv vectors (n = |x|); returns the
   row's contribution to dalpha, (g . x) / (n + eps) */
ALWAYS_INLINE float normalize_backward(const float* g, const float* x, float n, float alpha, float eps,
                                       int nv, __m256* gx) {
  __m256 s8 = _mm256_setzero_ps();
  for (int v = 0; v < nv; v++) s8 = _mm256_fmadd_ps(_mm256_loadu_ps(g + 8 * v), _mm256_loadu_ps(x + 8 * v), s8);
  float s = hsum(s8), inv = 1.0f / (n + eps);
  /* x = 0 gives s = 0: the floor keeps 0/0 out of the coefficient */
  __m256 f = _mm256_set1_ps(alpha * inv), c = _mm256_set1_ps(alpha * inv * inv * s / (n > 1e-37f ? n : 1e-37f));
  for (int v = 0; v < nv; v++)
    gx[v] = _mm256_fnmadd_ps(_mm256_loadu_ps(x + 8 * v), c, _mm256_mul_ps(_mm256_loadu_ps(g + 8 * v), f));
  return s * inv;
}

/* out = alpha x / (|x| + eps) for one row of nv vectors held in x; returns |x| */
ALWAYS_INLINE float normalize_row(const __m256* x, float alpha, float eps, int nv, float* out) {
  __m256 sq = _mm256_setzero_ps();
  for (int v = 0; v < nv; v++) sq = _mm256_fmadd_ps(x[v], x[v], sq);
  float n = sqrtf(hsum(sq));
  __m256 f = _mm256_set1_ps(alpha / (n + eps));
  for (int v = 0; v < nv; v++) _mm256_storeu_ps(out + 8 * v, _mm256_mul_ps(x[v], f));
  return n;
}

/* the rows of work item `it` = (sequence b, unit h) */
typedef struct { int h; const float *u, *g, *norm_in; float *out, *norm, *du; } kf_item;

static kf_item kf_rows(const kf_job* j, int it) {
  int b = it / j->H, h = it % j->H;
  long ld = j->u_rs, seq = (long)b * j->T * ld + h * j->d, row = ((long)b * j->H + h) * j->T;
  kf_item r = {h, j->u + seq, NULL, NULL, NULL, NULL, NULL};
  if (j->out) { r.out = j->out + b * j->k_bs + h * j->k_hs; r.norm = j->norm + row; }
  if (j->g) { r.g = j->g + b * j->g_bs + h * j->g_hs; r.norm_in = j->norm_in + row; r.du = j->du + seq; }
  return r;
}

/* keys (j->values = 0): kbar_t = u_t + lam kbar_{t-1}; values (1): vbar_t = u_t + lam u_{t+1} */
ALWAYS_INLINE void forward_item(int nv, const kf_job* j, kf_item r) {
  int T = j->T;
  long ld = j->u_rs;
  __m256 x[MAXV], lam = _mm256_set1_ps(j->lam[r.h]);
  for (int v = 0; v < nv; v++) x[v] = _mm256_setzero_ps();
  for (int t = 0; t < T; t++) {
    for (int v = 0; v < nv; v++) {
      __m256 ut = _mm256_loadu_ps(r.u + t * ld + 8 * v);
      if (!j->values) x[v] = _mm256_fmadd_ps(lam, x[v], ut);
      else x[v] = t + 1 < T ? _mm256_fmadd_ps(lam, _mm256_loadu_ps(r.u + (t + 1) * ld + 8 * v), ut) : ut;
    }
    r.norm[t] = normalize_row(x, j->alpha[r.h], j->eps, nv, r.out + t * j->k_ts);
  }
}

static void* forward_worker(void* arg) {
  kf_job* j = arg;
  for (int it; (it = queue_take(&j->queue)) >= 0;) ITEM_BY_NV(forward_item, j->d / 8, j, kf_rows(j, it));
  return NULL;
}

/* keys: rebuild kbar (into the scratch rows), then the reverse scan; adds to *dlam, *dalpha */
ALWAYS_INLINE void key_backward_item(int nv, const kf_job* j, kf_item r, float* kbar, float* dlam_h,
                                     float* dalpha_h) {
  int T = j->T, d = j->d;
  long ld = j->u_rs;
  const float *u = r.u, *g = r.g, *norm = r.norm_in;
  __m256 lam = _mm256_set1_ps(j->lam[r.h]), acc[MAXV], kb[MAXV];
  for (int v = 0; v < nv; v++) kb[v] = _mm256_setzero_ps();
  for (int t = 0; t < T; t++)
    for (int v = 0; v < nv; v++) {
      kb[v] = _mm256_fmadd_ps(lam, kb[v], _mm256_loadu_ps(u + t * ld + 8 * v));
      _mm256_store_ps(kbar + t * d + 8 * v, kb[v]);
    }
  for (int v = 0; v < nv; v++) acc[v] = _mm256_setzero_ps();
  __m256 dlam = _mm256_setzero_ps();
  float dalpha = 0.0f, alpha = j->alpha[r.h];
  for (int t = T - 1; t >= 0; t--) {
    const float* x = kbar + t * d;
    __m256 gx[MAXV];
    dalpha += normalize_backward(g + t * j->g_ts, x, norm[t], alpha, j->eps, nv, gx);
    for (int v = 0; v < nv; v++) {
      acc[v] = _mm256_fmadd_ps(lam, acc[v], gx[v]);
      _mm256_storeu_ps(r.du + t * ld + 8 * v, acc[v]);
      if (t > 0) dlam = _mm256_fmadd_ps(acc[v], _mm256_load_ps(x - d + 8 * v), dlam);
    }
  }
  *dlam_h += hsum(dlam);
  *dalpha_h += dalpha;
}

static void* kf_backward_worker(void* arg) {
  kf_job* j = arg;
  int tid = queue_thread_id(&j->queue);
  float* kbar = aligned_alloc(32, sizeof(float) * (size_t)j->T * j->d + 32);
  for (int it; (it = queue_take(&j->queue)) >= 0;) {
    kf_item r = kf_rows(j, it);
    ITEM_BY_NV(key_backward_item, j->d / 8, j, r, kbar, j->dlam + tid * j->H + r.h, j->dalpha + tid * j->H + r.h);
  }
  free(kbar);
  return NULL;
}

/* values: vbar recomputed row by row; du_t = g_vbar_t + lam g_vbar_{t-1} */
ALWAYS_INLINE void value_backward_item(int nv, const kf_job* j, kf_item r, float* dlam_h, float* dalpha_h) {
  int T = j->T;
  long ld = j->u_rs;
  const float *u = r.u, *g = r.g, *norm = r.norm_in;
  __m256 lam = _mm256_set1_ps(j->lam[r.h]), prev[MAXV], dlam = _mm256_setzero_ps();
  float dalpha = 0.0f, alpha = j->alpha[r.h];
  for (int v = 0; v < nv; v++) prev[v] = _mm256_setzero_ps();  /* g_vbar_{t-1} */
  for (int t = 0; t < T; t++) {
    float vbar[8 * MAXV] __attribute__((aligned(32)));
    __m256 gx[MAXV];
    for (int v = 0; v < nv; v++) {
      __m256 x = _mm256_loadu_ps(u + t * ld + 8 * v);
      if (t + 1 < T) x = _mm256_fmadd_ps(lam, _mm256_loadu_ps(u + (t + 1) * ld + 8 * v), x);
      _mm256_store_ps(vbar + 8 * v, x);
    }
    dalpha += normalize_backward(g + t * j->g_ts, vbar, norm[t], alpha, j->eps, nv, gx);
    for (int v = 0; v < nv; v++) {
      _mm256_storeu_ps(r.du + t * ld + 8 * v, _mm256_fmadd_ps(lam, prev[v], gx[v]));
      if (t + 1 < T) dlam = _mm256_fmadd_ps(gx[v], _mm256_loadu_ps(u + (t + 1) * ld + 8 * v), dlam);
      prev[v] = gx[v];
    }
  }
  *dlam_h += hsum(dlam);
  *dalpha_h += dalpha;
}

static void* vf_backward_worker(void* arg) {
  kf_job* j = arg;
  int tid = queue_thread_id(&j->queue);
  for (int it; (it = queue_take(&j->queue)) >= 0;) {
    kf_item r = kf_rows(j, it);
    ITEM_BY_NV(value_backward_item, j->d / 8, j, r, j->dlam + tid * j->H + r.h, j->dalpha + tid * j->H + r.h);
  }
  return NULL;
}

/* values = 0: keys, 1: values. out (keys or values) is addressed by (b, h, t) strides */
void features_forward(int values, const float* u, long u_rs, const float* lam, const float* alpha, float eps,
                      float* out, long bs, long hs, long ts, float* norm,
                      int B, int H, int T, int d, int nthreads) {
  kf_job j = {0};
  j.u = u; j.u_rs = u_rs; j.lam = lam; j.alpha = alpha; j.eps = eps; j.out = out; j.norm = norm;
  j.k_bs = bs; j.k_hs = hs; j.k_ts = ts; j.B = B; j.H = H; j.T = T; j.d = d; j.nthreads = nthreads;
  j.values = values;
  run_threads(&j.queue, B * H, nthreads, forward_worker, &j);
}

void features_backward(int values, const float* u, long u_rs, const float* lam, const float* alpha, float eps,
                       const float* norm, const float* g, long g_bs, long g_hs, long g_ts,
                       float* du, float* dlam, float* dalpha, int B, int H, int T, int d, int nthreads) {
  kf_job j = {0};
  j.u = u; j.u_rs = u_rs; j.lam = lam; j.alpha = alpha; j.eps = eps; j.norm_in = norm; j.g = g;
  j.g_bs = g_bs; j.g_hs = g_hs; j.g_ts = g_ts; j.du = du; j.dlam = dlam; j.dalpha = dalpha;
  j.B = B; j.H = H; j.T = T; j.d = d; j.nthreads = nthreads;
  j.values = values;
  run_threads(&j.queue, B * H, nthreads, values ? vf_backward_worker : kf_backward_worker, &j);
}
