/* The key feature extractor's elementwise chain (paper eq. 7), fused, fp32, AVX2 + FMA:

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

   Layouts: u and du (B, T, H*d) contiguous; k and g addressed by (b, h, t) strides with the
   d channels contiguous; norms (B, H, T). d a multiple of 8, at most 256. dlam and dalpha are
   (nthreads, H), one row per thread, summed by the caller. Work items (b, h) are shared among
   `nthreads` POSIX threads. Built with slot_attention.c by mosaic/cpu_kernels.py. */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#define MAXV 32 /* d / 8 at most */

typedef struct {
  const float *u, *g, *lam, *alpha, *norm_in;
  float *out, *norm, *du, *dlam, *dalpha;
  long k_bs, k_hs, k_ts, g_bs, g_hs, g_ts;
  int B, H, T, d, nthreads, next, tid;
  float eps;
  pthread_mutex_t lock;
} kf_job;

static inline float kf_hsum(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(a, _mm_movehdup_ps(a)));
}

static int kf_take(kf_job* j) {
  pthread_mutex_lock(&j->lock); int i = j->next++; pthread_mutex_unlock(&j->lock);
  return i < j->B * j->H ? i : -1;
}

static void* kf_forward_worker(void* arg) {
  kf_job* j = arg;
  int H = j->H, T = j->T, nv = j->d / 8;
  long C = (long)H * j->d;
  for (int it; (it = kf_take(j)) >= 0;) {
    int b = it / H, h = it % H;
    const float* u = j->u + b * T * C + h * j->d;
    float* out = j->out + b * j->k_bs + h * j->k_hs;
    float* norm = j->norm + ((long)b * H + h) * T;
    __m256 kb[MAXV], lam = _mm256_set1_ps(j->lam[h]);
    for (int v = 0; v < nv; v++) kb[v] = _mm256_setzero_ps();
    for (int t = 0; t < T; t++) {
      __m256 sq = _mm256_setzero_ps();
      for (int v = 0; v < nv; v++) {
        kb[v] = _mm256_fmadd_ps(lam, kb[v], _mm256_loadu_ps(u + t * C + 8 * v));
        sq = _mm256_fmadd_ps(kb[v], kb[v], sq);
      }
      float n = sqrtf(kf_hsum(sq));
      norm[t] = n;
      __m256 f = _mm256_set1_ps(j->alpha[h] / (n + j->eps));
      for (int v = 0; v < nv; v++) _mm256_storeu_ps(out + t * j->k_ts + 8 * v, _mm256_mul_ps(kb[v], f));
    }
  }
  return NULL;
}

static void* kf_backward_worker(void* arg) {
  kf_job* j = arg;
  int H = j->H, T = j->T, d = j->d, nv = d / 8;
  long C = (long)H * d;
  pthread_mutex_lock(&j->lock); int tid = j->tid++; pthread_mutex_unlock(&j->lock);
  float* kbar = aligned_alloc(32, sizeof(float) * (size_t)T * d + 32);
  for (int it; (it = kf_take(j)) >= 0;) {
    int b = it / H, h = it % H;
    const float* u = j->u + b * T * C + h * d;
    const float* g = j->g + b * j->g_bs + h * j->g_hs;
    const float* norm = j->norm_in + ((long)b * H + h) * T;
    float* du = j->du + b * T * C + h * d;
    __m256 lam = _mm256_set1_ps(j->lam[h]), acc[MAXV], kb[MAXV];
    for (int v = 0; v < nv; v++) kb[v] = _mm256_setzero_ps();
    for (int t = 0; t < T; t++)
      for (int v = 0; v < nv; v++) {
        kb[v] = _mm256_fmadd_ps(lam, kb[v], _mm256_loadu_ps(u + t * C + 8 * v));
        _mm256_store_ps(kbar + t * d + 8 * v, kb[v]);
      }
    for (int v = 0; v < nv; v++) acc[v] = _mm256_setzero_ps();
    __m256 dlam = _mm256_setzero_ps();
    float dalpha = 0.0f, alpha = j->alpha[h];
    for (int t = T - 1; t >= 0; t--) {
      const float* x = kbar + t * d;
      __m256 s8 = _mm256_setzero_ps();
      for (int v = 0; v < nv; v++) s8 = _mm256_fmadd_ps(_mm256_loadu_ps(g + t * j->g_ts + 8 * v), _mm256_load_ps(x + 8 * v), s8);
      float s = kf_hsum(s8), n = norm[t], inv = 1.0f / (n + j->eps);
      dalpha += s * inv;
      /* x = 0 gives s = 0: the floor keeps 0/0 out of the coefficient */
      __m256 f = _mm256_set1_ps(alpha * inv), c = _mm256_set1_ps(alpha * inv * inv * s / fmaxf(n, 1e-37f));
      for (int v = 0; v < nv; v++) {
        __m256 gx = _mm256_fnmadd_ps(_mm256_load_ps(x + 8 * v), c, _mm256_mul_ps(_mm256_loadu_ps(g + t * j->g_ts + 8 * v), f));
        acc[v] = _mm256_fmadd_ps(lam, acc[v], gx);
        _mm256_storeu_ps(du + t * C + 8 * v, acc[v]);
        if (t > 0) dlam = _mm256_fmadd_ps(acc[v], _mm256_load_ps(x - d + 8 * v), dlam);
      }
    }
    j->dlam[tid * H + h] += kf_hsum(dlam);
    j->dalpha[tid * H + h] += dalpha;
  }
  free(kbar);
  return NULL;
}

static void kf_run(kf_job* j, void* (*fn)(void*)) {
  pthread_t th[64];
  int n = j->nthreads > 64 ? 64 : j->nthreads;
  pthread_mutex_init(&j->lock, NULL);
  j->next = 0; j->tid = 0;
  for (int i = 1; i < n; i++) pthread_create(&th[i], NULL, fn, j);
  fn(j);
  for (int i = 1; i < n; i++) pthread_join(th[i], NULL);
  pthread_mutex_destroy(&j->lock);
}

void key_features_forward(const float* u, const float* lam, const float* alpha, float eps,
                          float* out, long k_bs, long k_hs, long k_ts, float* norm,
                          int B, int H, int T, int d, int nthreads) {
  kf_job j = {0};
  j.u = u; j.lam = lam; j.alpha = alpha; j.eps = eps; j.out = out; j.norm = norm;
  j.k_bs = k_bs; j.k_hs = k_hs; j.k_ts = k_ts; j.B = B; j.H = H; j.T = T; j.d = d; j.nthreads = nthreads;
  kf_run(&j, kf_forward_worker);
}

void key_features_backward(const float* u, const float* lam, const float* alpha, float eps,
                           const float* norm, const float* g, long g_bs, long g_hs, long g_ts,
                           float* du, float* dlam, float* dalpha, int B, int H, int T, int d, int nthreads) {
  kf_job j = {0};
  j.u = u; j.lam = lam; j.alpha = alpha; j.eps = eps; j.norm_in = norm; j.g = g;
  j.g_bs = g_bs; j.g_hs = g_hs; j.g_ts = g_ts; j.du = du; j.dlam = dlam; j.dalpha = dalpha;
  j.B = B; j.H = H; j.T = T; j.d = d; j.nthreads = nthreads;
  kf_run(&j, kf_backward_worker);
}
