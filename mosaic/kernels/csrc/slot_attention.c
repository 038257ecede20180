/* Attention over a persistent memory's slot table (mosaic/persistent_memory.py), fp32, AVX2 + FMA.

   For every unit h and query row m:   y[m] = sum_n softmax_n(q[m] . K[n]) V[n]   (scale 1)

   Why a kernel of our own: the slots are few (N = 3.5 C per unit) and the head dimension small
   (d = 32 at the default size), so PyTorch's CPU flash-attention kernel and MKL's GEMMs run these
   products at about half the machine's matmul rate (docs/performance.md, "The slot kernel").
   A slot table (N x d, ~114 KB at N = 896, d = 32) stays in L2 while a block of RB query rows
   is scored against all of it, so each row's softmax is exact in one pass (no running rescale)
   and the backward needs only the forward's log-sum-exp. Register tiles are 6 x 16.

   Forward  (per block of RB rows):  S = q K^T,  P = exp(S - max),  y = P V / sum P,  lse = max + log sum P
   Backward (per block):             S = q K^T,  P = exp(S - lse),  dP = g V^T,  D = g . y,
                                     dS = P (dP - D),  dq = dS K,  dK += dS^T q,  dV += P^T g
   dK, dV are accumulated per thread and summed by the caller.

   Layouts (all float32, the last dimension contiguous): q, g, y, dq are addressed by a head stride
   and a row stride; K, V (H, N, d) contiguous; Kt, Vt (H, d, Np) are K, V transposed and zero-padded
   to Np = N rounded up to 16. d must be a multiple of 16. Work items (unit, row block) are shared
   among `nthreads` threads (csrc/common.h). Built on first use by mosaic/cpu_kernels.py. */
#include <math.h>
#include <stdlib.h>

#include "common.h"

#define MR 6      /* rows of the score micro-tile */
#ifndef RB
#define RB 48     /* query rows per work item: 48 x N scores stay in L2 with the slot table */
#endif
#define NC 192    /* slot columns per chunk: a multiple of 16 and of MR */
#define UNDERFLOW -80.0f /* exp below this is taken as 0: no denormals in later products */

/* exp(x) for x <= 0: 2^n e^r, |r| <= ln2/2, degree-6 polynomial (relative error ~1e-7) */
static inline __m256 exp_ps(__m256 x) {
  __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(UNDERFLOW), _CMP_GT_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(UNDERFLOW));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}


/* row s[0..N) -> exp(s - max) in place (unnormalised); returns the max, *total = the sum */
static float softmax_row(float* s, int N, float* total) {
  int n8 = N / 8 * 8, n;
  __m256 vmx = _mm256_set1_ps(-INFINITY);
  for (n = 0; n < n8; n += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(s + n));
  float mx = hmax(vmx);
  for (n = n8; n < N; n++) mx = s[n] > mx ? s[n] : mx;
  __m256 vm = _mm256_set1_ps(mx), sum = _mm256_setzero_ps();
  for (n = 0; n < n8; n += 8) {
    __m256 p = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + n), vm));
    _mm256_storeu_ps(s + n, p); sum = _mm256_add_ps(sum, p);
  }
  float tot = hsum(sum);
  for (n = n8; n < N; n++) { s[n] = expf(s[n] - mx); tot += s[n]; }
  *total = tot;
  return mx;
}

/* C[r][n - n0] = sum_k A[r][k] Bt[k][n] for rows r < rows, n0 <= n < n1 (n1 - n0 a multiple of 16);
   A row stride lda, Bt (d x ldb), C row stride ldc. Columns go in chunks of NC so that the chunk
   of Bt (d x NC) stays in L1 while every row group of the block is scored against it. */
static void scores(const float* A, long lda, int rows, const float* Bt, int ldb, int d,
                   int n0, int n1, float* C, int ldc) {
  for (int c0 = n0; c0 < n1; c0 += NC) {
    int c1 = c0 + NC < n1 ? c0 + NC : n1;
    int r = 0;
    for (; r + MR <= rows; r += MR) {
      const float* a = A + r * lda;
      for (int n = c0; n < c1; n += 16) {
        __m256 c[MR][2];
        for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
        for (int k = 0; k < d; k++) {
          __m256 b0 = _mm256_loadu_ps(Bt + k * ldb + n), b1 = _mm256_loadu_ps(Bt + k * ldb + n + 8);
          for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i * lda + k);
            c[i][0] = _mm256_fmadd_ps(ai, b0, c[i][0]);
            c[i][1] = _mm256_fmadd_ps(ai, b1, c[i][1]);
          }
        }
        for (int i = 0; i < MR; i++) {
          _mm256_storeu_ps(C + (r + i) * ldc + n - n0, c[i][0]);
          _mm256_storeu_ps(C + (r + i) * ldc + n - n0 + 8, c[i][1]);
        }
      }
    }
    for (; r < rows; r++)
      for (int n = c0; n < c1; n++) {
        float acc = 0;
        for (int k = 0; k < d; k++) acc += A[r * lda + k] * Bt[k * ldb + n];
        C[r * ldc + n - n0] = acc;
      }
  }
}

/* One 6 x 16 tile of Y (+)= P B: Y[i][0..16) for 6 rows of P (stride ldp), B rows of stride ldb */
static inline void rows_tile(const float* P, int ldp, int cols, const float* B, int ldb,
                             float* Y, long ldy, int accumulate) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
         a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  for (int n = 0; n < cols; n++) {
    __m256 b0 = _mm256_loadu_ps(B + n * ldb), b1 = _mm256_loadu_ps(B + n * ldb + 8), p;
    p = _mm256_broadcast_ss(P + n);           a00 = _mm256_fmadd_ps(p, b0, a00); a01 = _mm256_fmadd_ps(p, b1, a01);
    p = _mm256_broadcast_ss(P + ldp + n);     a10 = _mm256_fmadd_ps(p, b0, a10); a11 = _mm256_fmadd_ps(p, b1, a11);
    p = _mm256_broadcast_ss(P + 2 * ldp + n); a20 = _mm256_fmadd_ps(p, b0, a20); a21 = _mm256_fmadd_ps(p, b1, a21);
    p = _mm256_broadcast_ss(P + 3 * ldp + n); a30 = _mm256_fmadd_ps(p, b0, a30); a31 = _mm256_fmadd_ps(p, b1, a31);
    p = _mm256_broadcast_ss(P + 4 * ldp + n); a40 = _mm256_fmadd_ps(p, b0, a40); a41 = _mm256_fmadd_ps(p, b1, a41);
    p = _mm256_broadcast_ss(P + 5 * ldp + n); a50 = _mm256_fmadd_ps(p, b0, a50); a51 = _mm256_fmadd_ps(p, b1, a51);
  }
  __m256 acc[12] = {a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51};
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 2; j++) {
      float* y = Y + i * ldy + 8 * j;
      _mm256_storeu_ps(y, accumulate ? _mm256_add_ps(acc[2 * i + j], _mm256_loadu_ps(y)) : acc[2 * i + j]);
    }
}

/* Y[r][0..d) (+)= sum_n P[r][n] B[n][0..d) over n < cols; B row-major (stride d), d % 16 == 0 */
static void mix_rows(const float* P, int ldp, int rows, int cols, const float* B, int d,
                     float* Y, long ldy, int accumulate) {
  for (int c0 = 0; c0 < d; c0 += 16) {
    int r = 0;
    for (; r + MR <= rows; r += MR) rows_tile(P + r * ldp, ldp, cols, B + c0, d, Y + r * ldy + c0, ldy, accumulate);
    for (; r < rows; r++) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0;
      for (int n = 0; n < cols; n++) {
        __m256 p = _mm256_broadcast_ss(P + r * ldp + n);
        a0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(B + n * d + c0), a0);
        a1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(B + n * d + c0 + 8), a1);
      }
      float* y = Y + r * ldy + c0;
      if (accumulate) { a0 = _mm256_add_ps(a0, _mm256_loadu_ps(y)); a1 = _mm256_add_ps(a1, _mm256_loadu_ps(y + 8)); }
      _mm256_storeu_ps(y, a0); _mm256_storeu_ps(y + 8, a1);
    }
  }
}

/* One 6 x 16 tile of G += P^T A: G[i][0..16) for 6 columns of P, over rows r < rows */
static inline void cols_tile(const float* P, int ldp, int rows, const float* A, long lda, float* G, int ldg) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
         a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  for (int r = 0; r < rows; r++) {
    const float* pr = P + r * ldp;
    __m256 b0 = _mm256_loadu_ps(A + r * lda), b1 = _mm256_loadu_ps(A + r * lda + 8), p;
    p = _mm256_broadcast_ss(pr);     a00 = _mm256_fmadd_ps(p, b0, a00); a01 = _mm256_fmadd_ps(p, b1, a01);
    p = _mm256_broadcast_ss(pr + 1); a10 = _mm256_fmadd_ps(p, b0, a10); a11 = _mm256_fmadd_ps(p, b1, a11);
    p = _mm256_broadcast_ss(pr + 2); a20 = _mm256_fmadd_ps(p, b0, a20); a21 = _mm256_fmadd_ps(p, b1, a21);
    p = _mm256_broadcast_ss(pr + 3); a30 = _mm256_fmadd_ps(p, b0, a30); a31 = _mm256_fmadd_ps(p, b1, a31);
    p = _mm256_broadcast_ss(pr + 4); a40 = _mm256_fmadd_ps(p, b0, a40); a41 = _mm256_fmadd_ps(p, b1, a41);
    p = _mm256_broadcast_ss(pr + 5); a50 = _mm256_fmadd_ps(p, b0, a50); a51 = _mm256_fmadd_ps(p, b1, a51);
  }
  __m256 acc[12] = {a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51};
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 2; j++) {
      float* g = G + i * ldg + 8 * j;
      _mm256_storeu_ps(g, _mm256_add_ps(acc[2 * i + j], _mm256_loadu_ps(g)));
    }
}

/* G[n][0..d) += sum_r P[r][n] A[r][0..d) for n < cols, r < rows; G stride d */
static void mix_cols(const float* P, int ldp, int rows, int cols, const float* A, long lda, int d, float* G) {
  for (int c0 = 0; c0 < d; c0 += 16) {
    int n = 0;
    for (; n + MR <= cols; n += MR) cols_tile(P + n, ldp, rows, A + c0, lda, G + n * d + c0, d);
    for (; n < cols; n++) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0;
      for (int r = 0; r < rows; r++) {
        __m256 p = _mm256_broadcast_ss(P + r * ldp + n);
        a0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(A + r * lda + c0), a0);
        a1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(A + r * lda + c0 + 8), a1);
      }
      float* g = G + n * d + c0;
      _mm256_storeu_ps(g, _mm256_add_ps(a0, _mm256_loadu_ps(g)));
      _mm256_storeu_ps(g + 8, _mm256_add_ps(a1, _mm256_loadu_ps(g + 8)));
    }
  }
}

typedef struct {
  const float *q, *g, *y, *lse_in, *Kt, *V, *K, *Vt;
  float *out, *lse, *dq, *dK, *dV;
  long q_hs, q_rs, y_hs, y_rs, g_hs, g_rs, dq_hs, dq_rs;  /* head and row strides of q, y, g, dq */
  int H, M, N, Np, d, items_per_head, nthreads;
  work_queue queue;  /* items: (unit, block of RB rows) */
} job_t;

static void* fwd_worker(void* arg) {
  job_t* j = arg;
  int Np = j->Np, N = j->N, d = j->d;
  float* S = aligned_alloc(64, sizeof(float) * RB * Np);
  for (int it; (it = queue_take(&j->queue)) >= 0;) {
    int h = it / j->items_per_head, r0 = (it % j->items_per_head) * RB;
    int rows = j->M - r0 < RB ? j->M - r0 : RB;
    const float* q = j->q + h * j->q_hs + r0 * j->q_rs;
    const float* Kt = j->Kt + (long)h * d * Np;
    scores(q, j->q_rs, rows, Kt, Np, d, 0, Np, S, Np);
    float tot[RB];
    for (int r = 0; r < rows; r++) {
      float mx = softmax_row(S + r * Np, N, &tot[r]);
      j->lse[h * j->M + r0 + r] = mx + logf(tot[r]);
    }
    float* y = j->out + h * j->y_hs + r0 * j->y_rs;
    mix_rows(S, Np, rows, N, j->V + (long)h * N * d, d, y, j->y_rs, 0);
    for (int r = 0; r < rows; r++) {
      __m256 s = _mm256_set1_ps(1.0f / tot[r]);
      for (int c = 0; c < d; c += 8) _mm256_storeu_ps(y + r * j->y_rs + c, _mm256_mul_ps(_mm256_loadu_ps(y + r * j->y_rs + c), s));
    }
  }
  free(S);
  return NULL;
}


static void* bwd_worker(void* arg) {
  job_t* j = arg;
  int Np = j->Np, N = j->N, d = j->d;
  int tid = queue_thread_id(&j->queue);
  float* S = aligned_alloc(64, sizeof(float) * RB * NC);   /* P of one chunk */
  float* dP = aligned_alloc(64, sizeof(float) * RB * NC);  /* dP, then dS, of one chunk */
  float* dK = j->dK + (long)tid * j->H * N * d;
  float* dV = j->dV + (long)tid * j->H * N * d;
  float D[RB];
  for (int it; (it = queue_take(&j->queue)) >= 0;) {
    int h = it / j->items_per_head, r0 = (it % j->items_per_head) * RB;
    int rows = j->M - r0 < RB ? j->M - r0 : RB;
    const float* q = j->q + h * j->q_hs + r0 * j->q_rs;
    const float* g = j->g + h * j->g_hs + r0 * j->g_rs;
    const float* y = j->y + h * j->y_hs + r0 * j->y_rs;
    const float* lse = j->lse_in + h * j->M + r0;
    float* dq = j->dq + h * j->dq_hs + r0 * j->dq_rs;
    for (int r = 0; r < rows; r++) {
      __m256 acc = _mm256_setzero_ps();
      for (int c = 0; c < d; c += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(g + r * j->g_rs + c), _mm256_loadu_ps(y + r * j->y_rs + c), acc);
      D[r] = hsum(acc);
    }
    /* slot chunks of NC: everything a chunk touches (its K, Kt, Vt, dK, dV rows and the two
       RB x NC tiles) stays in L2 */
    for (int c0 = 0; c0 < N; c0 += NC) {
      int nc = N - c0 < NC ? N - c0 : NC, ncp = (nc + 15) / 16 * 16;
      scores(q, j->q_rs, rows, j->Kt + (long)h * d * Np, Np, d, c0, c0 + ncp, S, NC);
      scores(g, j->g_rs, rows, j->Vt + (long)h * d * Np, Np, d, c0, c0 + ncp, dP, NC);
      for (int r = 0; r < rows; r++) {
        __m256 Dv = _mm256_set1_ps(D[r]), L = _mm256_set1_ps(lse[r]);
        float* s = S + r * NC; float* dp = dP + r * NC;
        int n = 0, n8 = nc / 8 * 8;
        for (; n < n8; n += 8) {
          __m256 p = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + n), L));
          _mm256_storeu_ps(s + n, p);
          _mm256_storeu_ps(dp + n, _mm256_mul_ps(p, _mm256_sub_ps(_mm256_loadu_ps(dp + n), Dv)));
        }
        for (; n < nc; n++) { float p = expf(s[n] - lse[r]); s[n] = p; dp[n] = p * (dp[n] - D[r]); }
      }
      mix_rows(dP, NC, rows, nc, j->K + ((long)h * N + c0) * d, d, dq, j->dq_rs, c0 > 0);
      mix_cols(dP, NC, rows, nc, q, j->q_rs, d, dK + ((long)h * N + c0) * d);
      mix_cols(S, NC, rows, nc, g, j->g_rs, d, dV + ((long)h * N + c0) * d);
    }
  }
  free(S); free(dP);
  return NULL;
}

void slot_forward(const float* q, long q_hs, long q_rs, const float* Kt, const float* V,
                  float* out, long y_hs, long y_rs, float* lse, int H, int M, int N, int Np, int d, int nthreads) {
  job_t j = {0};
  j.q = q; j.q_hs = q_hs; j.q_rs = q_rs; j.Kt = Kt; j.V = V; j.out = out; j.y_hs = y_hs; j.y_rs = y_rs;
  j.lse = lse; j.H = H; j.M = M; j.N = N; j.Np = Np; j.d = d; j.nthreads = nthreads;
  j.items_per_head = (M + RB - 1) / RB;
  run_threads(&j.queue, H * j.items_per_head, nthreads, fwd_worker, &j);
}

/* dK, dV: (nthreads, H, N, d) zero-filled; the caller sums over the first axis */
void slot_backward(const float* q, long q_hs, long q_rs, const float* g, long g_hs, long g_rs,
                   const float* y, long y_hs, long y_rs, const float* lse,
                   const float* K, const float* Kt, const float* Vt,
                   float* dq, long dq_hs, long dq_rs, float* dK, float* dV,
                   int H, int M, int N, int Np, int d, int nthreads) {
  job_t j = {0};
  j.q = q; j.q_hs = q_hs; j.q_rs = q_rs; j.g = g; j.g_hs = g_hs; j.g_rs = g_rs;
  j.y = y; j.y_hs = y_hs; j.y_rs = y_rs; j.lse_in = lse; j.K = K; j.Kt = Kt; j.Vt = Vt;
  j.dq = dq; j.dq_hs = dq_hs; j.dq_rs = dq_rs; j.dK = dK; j.dV = dV;
  j.H = H; j.M = M; j.N = N; j.Np = Np; j.d = d; j.nthreads = nthreads;
  j.items_per_head = (M + RB - 1) / RB;
  run_threads(&j.queue, H * j.items_per_head, nthreads, bwd_worker, &j);
}
