/* Attention over a persistent memory's slot table (mosaic/model/memories.py), fp32, AVX2 + FMA or
   AVX-512 (csrc/simd.h: the vector width is the build's).

   For every unit h and query row m:   y[m] = sum_n softmax_n(q[m] . K[n]) V[n]   (scale 1)

   Why a kernel of our own: the slots are few (N = 3.5 C per unit) and the head dimension small
   (d = 32 at the default size), so PyTorch's CPU flash-attention kernel and MKL's GEMMs run these
   products well below the machine's matmul rate (docs/performance.md, "The CPU kernels").
   A slot table (N x d, ~114 KB at N = 896, d = 32) stays in L2 while a block of RB query rows
   is scored against all of it, so each row's softmax is exact in one pass (no running rescale)
   and the backward needs only the forward's log-sum-exp. Register tiles are MR x TW (6 x 16 with
   AVX2, 12 x 32 with AVX-512).

   Forward  (per block of RB rows):  S = q K^T,  P = exp(S - max),  y = P V / sum P,  lse = max + log sum P
   Backward (per block):             S = q K^T,  P = exp(S - lse),  dP = g V^T,  D = g . y,
                                     dS = P (dP - D),  dq = dS K,  dK += dS^T q,  dV += P^T g
   dK, dV are accumulated per thread, then summed over the threads.

   Layouts (all float32, the last dimension contiguous): q, g, y, dq are addressed by a head stride
   and a row stride; K, V (H, N, d) contiguous (each thread transposes the table of the unit it works
   on, zero-padded to Np = N rounded up to TW). d must be a multiple of TW (slot_tile_width()). Work
   items (unit, row block) are shared among `nthreads` threads (csrc/common.h). Built on first use
   by mosaic/kernels/cpu.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "simd.h"

#ifndef RB
#define RB 48     /* query rows per work item: 48 x N scores stay in L2 with the slot table */
#endif
#define NC 192    /* slot columns per chunk of the backward: a multiple of TW and of MR */

/* the multiple of d that the slot kernel needs (the columns of its register tile) */
int slot_tile_width(void) { return TW; }

/* row s[0..N) -> exp(s - max) in place (unnormalised); returns the max, *total = the sum */
static float softmax_row(float* s, int N, float* total) {
  int nv = N / VW * VW, n;
  vf vmx = vf_set1(-INFINITY);
  for (n = 0; n < nv; n += VW) vmx = vf_max(vmx, vf_load(s + n));
  float mx = vf_hmax(vmx);
  for (n = nv; n < N; n++) mx = s[n] > mx ? s[n] : mx;
  vf sum = vf_zero();
  for (n = 0; n < nv; n += VW) {
    vf p = vf_exp_sub(vf_load(s + n), mx);
    vf_store(s + n, p); sum = vf_add(sum, p);
  }
  float tot = vf_hsum(sum);
  for (n = nv; n < N; n++) { s[n] = expf(s[n] - mx); tot += s[n]; }
  *total = tot;
  return mx;
}

/* MR x TW accumulators: zeroed, and written out (Y = acc, or Y += acc) */
#define TILE_ZERO(acc)                                               \
  _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = vf_zero()
/* acc[i] += a[i * stride] (b0, b1) for the MR rows of the tile: one step of every product below */
static inline void tile_fma(vf acc[MR][2], const float* a, long stride, vf b0, vf b1) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    vf ai = vf_set1(a[i * stride]);
    acc[i][0] = vf_fmadd(ai, b0, acc[i][0]);
    acc[i][1] = vf_fmadd(ai, b1, acc[i][1]);
  }
}
static inline void tile_store(vf acc[MR][2], float* Y, long ldy, int accumulate) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    float* y = Y + i * ldy;
    vf_store(y, accumulate ? vf_add(acc[i][0], vf_load(y)) : acc[i][0]);
    vf_store(y + VW, accumulate ? vf_add(acc[i][1], vf_load(y + VW)) : acc[i][1]);
  }
}

/* C[r][n - n0] = sum_k A[r][k] Bt[k][n] for rows r < rows, n0 <= n < n1 (n1 - n0 a multiple of TW);
   A row stride lda, Bt (d x ldb), C row stride ldc. Columns go in chunks of NC so that the chunk
   of Bt (d x NC) stays in L1 while every row group of the block is scored against it. */
static void scores(const float* A, long lda, int rows, const float* Bt, int ldb, int d,
                   int n0, int n1, float* C, int ldc) {
  for (int c0 = n0; c0 < n1; c0 += NC) {
    int c1 = c0 + NC < n1 ? c0 + NC : n1;
    int r = 0;
    for (; r + MR <= rows; r += MR) {
      const float* a = A + r * lda;
      for (int n = c0; n < c1; n += TW) {
        vf c[MR][2];
        TILE_ZERO(c);
        for (int k = 0; k < d; k++) {
          tile_fma(c, a + k, lda, vf_load(Bt + k * ldb + n), vf_load(Bt + k * ldb + n + VW));
        }
        tile_store(c, C + r * ldc + n - n0, ldc, 0);
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

/* Y[r][0..d) (+)= sum_n P[r][n] B[n][0..d) over n < cols; B row-major (stride d), d % TW == 0 */
static void mix_rows(const float* P, int ldp, int rows, int cols, const float* B, int d,
                     float* Y, long ldy, int accumulate) {
  for (int c0 = 0; c0 < d; c0 += TW) {
    int r = 0;
    for (; r + MR <= rows; r += MR) {  /* a tile of MR rows x TW columns of Y */
      const float* p = P + r * ldp;
      vf acc[MR][2];
      TILE_ZERO(acc);
      for (int n = 0; n < cols; n++) {
        tile_fma(acc, p + n, ldp, vf_load(B + n * d + c0), vf_load(B + n * d + c0 + VW));
      }
      tile_store(acc, Y + r * ldy + c0, ldy, accumulate);
    }
    for (; r < rows; r++) {
      vf a0 = vf_zero(), a1 = a0;
      for (int n = 0; n < cols; n++) {
        vf p = vf_set1(P[r * ldp + n]);
        a0 = vf_fmadd(p, vf_load(B + n * d + c0), a0);
        a1 = vf_fmadd(p, vf_load(B + n * d + c0 + VW), a1);
      }
      float* y = Y + r * ldy + c0;
      if (accumulate) { a0 = vf_add(a0, vf_load(y)); a1 = vf_add(a1, vf_load(y + VW)); }
      vf_store(y, a0); vf_store(y + VW, a1);
    }
  }
}

/* G[n][0..d) += sum_r P[r][n] A[r][0..d) for n < cols, r < rows; G stride d, d % TW == 0 */
static void mix_cols(const float* P, int ldp, int rows, int cols, const float* A, long lda, int d, float* G) {
  for (int c0 = 0; c0 < d; c0 += TW) {
    int n = 0;
    for (; n + MR <= cols; n += MR) {  /* a tile of MR rows (slots) x TW columns of G */
      vf acc[MR][2];
      TILE_ZERO(acc);
      for (int r = 0; r < rows; r++) {
        tile_fma(acc, P + r * ldp + n, 1, vf_load(A + r * lda + c0), vf_load(A + r * lda + c0 + VW));
      }
      tile_store(acc, G + n * d + c0, d, 1);
    }
    for (; n < cols; n++) {
      vf a0 = vf_zero(), a1 = a0;
      for (int r = 0; r < rows; r++) {
        vf p = vf_set1(P[r * ldp + n]);
        a0 = vf_fmadd(p, vf_load(A + r * lda + c0), a0);
        a1 = vf_fmadd(p, vf_load(A + r * lda + c0 + VW), a1);
      }
      float* g = G + n * d + c0;
      vf_store(g, vf_add(a0, vf_load(g)));
      vf_store(g + VW, vf_add(a1, vf_load(g + VW)));
    }
  }
}

typedef struct {
  const float *q, *g, *y, *lse_in, *K, *V;
  float *out, *lse, *dq, *dK, *dV, *acc;
  long q_hs, q_rs, y_hs, y_rs, g_hs, g_rs, dq_hs, dq_rs;  /* head and row strides of q, y, g, dq */
  long acc_size;  /* floats of one thread's dK + dV accumulators: 2 H N d */
  int H, M, N, Np, d, items_per_head, nthreads, threads_ran;
  work_queue queue;  /* items: (unit, block of RB rows) */
} job_t;

/* Xt (d x Np) = X (N x d) transposed, zero past N: the slot table of one unit as `scores` reads it.
   Built by each thread when its work moves to another unit (items come unit by unit). */
static void transpose_padded(const float* X, int N, int Np, int d, float* Xt) {
  for (int k = 0; k < d; k++) {
    float* row = Xt + (long)k * Np;
    for (int n = 0; n < N; n++) row[n] = X[(long)n * d + k];
    for (int n = N; n < Np; n++) row[n] = 0.0f;
  }
}

static void* fwd_worker(void* arg) {
  job_t* j = arg;
  int Np = j->Np, N = j->N, d = j->d, table = -1;
  float* S = aligned_alloc(64, sizeof(float) * RB * Np);
  float* Kt = aligned_alloc(64, sizeof(float) * d * Np);
  for (int it; (it = queue_take(&j->queue)) >= 0;) {
    int h = it / j->items_per_head, r0 = (it % j->items_per_head) * RB;
    int rows = j->M - r0 < RB ? j->M - r0 : RB;
    if (h != table) transpose_padded(j->K + (long)h * N * d, N, Np, d, Kt), table = h;
    const float* q = j->q + h * j->q_hs + r0 * j->q_rs;
    scores(q, j->q_rs, rows, Kt, Np, d, 0, Np, S, Np);
    float tot[RB];
    for (int r = 0; r < rows; r++) {
      float mx = softmax_row(S + r * Np, N, &tot[r]);
      j->lse[h * j->M + r0 + r] = mx + logf(tot[r]);
    }
    float* y = j->out + h * j->y_hs + r0 * j->y_rs;
    mix_rows(S, Np, rows, N, j->V + (long)h * N * d, d, y, j->y_rs, 0);
    for (int r = 0; r < rows; r++) {
      vf s = vf_set1(1.0f / tot[r]);
      for (int c = 0; c < d; c += VW) vf_store(y + r * j->y_rs + c, vf_mul(vf_load(y + r * j->y_rs + c), s));
    }
  }
  free(S); free(Kt);
  return NULL;
}


static void* bwd_worker(void* arg) {
  job_t* j = arg;
  int Np = j->Np, N = j->N, d = j->d, table = -1;
  int tid = queue_thread_id(&j->queue);
  float* S = aligned_alloc(64, sizeof(float) * RB * NC);   /* P of one chunk */
  float* dP = aligned_alloc(64, sizeof(float) * RB * NC);  /* dP, then dS, of one chunk */
  float* Kt = aligned_alloc(64, sizeof(float) * d * Np);
  float* Vt = aligned_alloc(64, sizeof(float) * d * Np);
  float* dK = j->acc + tid * j->acc_size;  /* this thread's accumulators, zeroed here (first touch) */
  float* dV = dK + j->acc_size / 2;
  memset(dK, 0, sizeof(float) * j->acc_size);
  float D[RB];
  for (int it; (it = queue_take(&j->queue)) >= 0;) {
    int h = it / j->items_per_head, r0 = (it % j->items_per_head) * RB;
    int rows = j->M - r0 < RB ? j->M - r0 : RB;
    if (h != table) {
      transpose_padded(j->K + (long)h * N * d, N, Np, d, Kt);
      transpose_padded(j->V + (long)h * N * d, N, Np, d, Vt);
      table = h;
    }
    const float* q = j->q + h * j->q_hs + r0 * j->q_rs;
    const float* g = j->g + h * j->g_hs + r0 * j->g_rs;
    const float* y = j->y + h * j->y_hs + r0 * j->y_rs;
    const float* lse = j->lse_in + h * j->M + r0;
    float* dq = j->dq + h * j->dq_hs + r0 * j->dq_rs;
    for (int r = 0; r < rows; r++) {
      vf acc = vf_zero();
      for (int c = 0; c < d; c += VW) acc = vf_fmadd(vf_load(g + r * j->g_rs + c), vf_load(y + r * j->y_rs + c), acc);
      D[r] = vf_hsum(acc);
    }
    /* slot chunks of NC: everything a chunk touches (its K, Kt, Vt, dK, dV rows and the two
       RB x NC tiles) stays in L2 */
    for (int c0 = 0; c0 < N; c0 += NC) {
      int nc = N - c0 < NC ? N - c0 : NC, ncp = (nc + TW - 1) / TW * TW;
      scores(q, j->q_rs, rows, Kt, Np, d, c0, c0 + ncp, S, NC);
      scores(g, j->g_rs, rows, Vt, Np, d, c0, c0 + ncp, dP, NC);
      for (int r = 0; r < rows; r++) {
        vf Dv = vf_set1(D[r]);
        float* s = S + r * NC; float* dp = dP + r * NC;
        int n = 0, nv = nc / VW * VW;
        for (; n < nv; n += VW) {
          vf p = vf_exp_sub(vf_load(s + n), lse[r]);
          vf_store(s + n, p);
          vf_store(dp + n, vf_mul(p, vf_sub(vf_load(dp + n), Dv)));
        }
        for (; n < nc; n++) { float p = expf(s[n] - lse[r]); s[n] = p; dp[n] = p * (dp[n] - D[r]); }
      }
      mix_rows(dP, NC, rows, nc, j->K + ((long)h * N + c0) * d, d, dq, j->dq_rs, c0 > 0);
      mix_cols(dP, NC, rows, nc, q, j->q_rs, d, dK + ((long)h * N + c0) * d);
      mix_cols(S, NC, rows, nc, g, j->g_rs, d, dV + ((long)h * N + c0) * d);
    }
  }
  free(S); free(dP); free(Kt); free(Vt);
  return NULL;
}

#define REDUCE_CHUNK 4096  /* floats per item of the sum over threads */

/* dK, dV = the sum of the threads' accumulators, in parallel over chunks */
static void* reduce_worker(void* arg) {
  job_t* j = arg;
  long half = j->acc_size / 2;
  for (int it; (it = queue_take(&j->queue)) >= 0;) {
    long i0 = (long)it * REDUCE_CHUNK, i1 = i0 + REDUCE_CHUNK < j->acc_size ? i0 + REDUCE_CHUNK : j->acc_size;
    for (long i = i0; i < i1; i++) {
      float sum = 0.0f;
      for (int t = 0; t < j->threads_ran; t++) sum += j->acc[t * j->acc_size + i];
      if (i < half) j->dK[i] = sum; else j->dV[i - half] = sum;
    }
  }
  return NULL;
}

static int padded(int N) { return (N + TW - 1) / TW * TW; }

void slot_forward(const float* q, long q_hs, long q_rs, const float* K, const float* V,
                  float* out, long y_hs, long y_rs, float* lse, int H, int M, int N, int d, int nthreads) {
  job_t j = {0};
  j.q = q; j.q_hs = q_hs; j.q_rs = q_rs; j.K = K; j.V = V; j.out = out; j.y_hs = y_hs; j.y_rs = y_rs;
  j.lse = lse; j.H = H; j.M = M; j.N = N; j.Np = padded(N); j.d = d; j.nthreads = nthreads;
  j.items_per_head = (M + RB - 1) / RB;
  run_threads(&j.queue, H * j.items_per_head, nthreads, fwd_worker, &j);
}

/* dK, dV (H, N, d): written, not accumulated into. acc: scratch of nthreads x 2 H N d floats, any
   content (each thread that runs zeroes its part; the sum reads only the parts of those that ran:
   an OpenMP runtime may give fewer threads than asked) */
void slot_backward(const float* q, long q_hs, long q_rs, const float* g, long g_hs, long g_rs,
                   const float* y, long y_hs, long y_rs, const float* lse, const float* K, const float* V,
                   float* dq, long dq_hs, long dq_rs, float* dK, float* dV, float* acc,
                   int H, int M, int N, int d, int nthreads) {
  job_t j = {0};
  j.q = q; j.q_hs = q_hs; j.q_rs = q_rs; j.g = g; j.g_hs = g_hs; j.g_rs = g_rs;
  j.y = y; j.y_hs = y_hs; j.y_rs = y_rs; j.lse_in = lse; j.K = K; j.V = V;
  j.dq = dq; j.dq_hs = dq_hs; j.dq_rs = dq_rs; j.dK = dK; j.dV = dV;
  j.H = H; j.M = M; j.N = N; j.Np = padded(N); j.d = d; j.nthreads = nthreads;
  j.items_per_head = (M + RB - 1) / RB;
  j.acc_size = 2L * H * N * d;
  j.acc = acc;
  run_threads(&j.queue, H * j.items_per_head, nthreads, bwd_worker, &j);
  j.threads_ran = j.queue.started;
  run_threads(&j.queue, (int)((j.acc_size + REDUCE_CHUNK - 1) / REDUCE_CHUNK), nthreads, reduce_worker, &j);
}
