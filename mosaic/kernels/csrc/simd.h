/* One float vector type for the slot kernel (slot_attention.c), at the widest width the build
   allows: AVX-512 (16 floats) when compiled with -mavx512f, else AVX2 + FMA (8 floats).
   mosaic/kernels/cpu.py picks the flags from the ISA PyTorch itself runs (or $MOSAIC_CPU_ISA).

   Why two widths: on a CPU with AVX-512 PyTorch's own matmuls and its SDPA flash kernel run
   512-bit FMAs, and an AVX2-only slot kernel lost to SDPA there (75 against 52 ms forward +
   backward at the default size, docs/performance.md "The slot kernel and AVX-512"). The kernel's
   loops are written once against this header; only the register tile's height (MR) and the
   vector width differ. */
#ifndef MOSAIC_CSRC_SIMD_H
#define MOSAIC_CSRC_SIMD_H

#include "common.h"

#define UNDERFLOW -80.0f /* exp below this is taken as 0: no denormals in later products */

#if defined(__AVX512F__)
#define VW 16 /* floats per vector */
#define MR 12 /* rows of the score micro-tile: 12 x 2 accumulators of the 32 zmm registers */
typedef __m512 vf;
#define vf_zero() _mm512_setzero_ps()
#define vf_set1(x) _mm512_set1_ps(x)
#define vf_load(p) _mm512_loadu_ps(p)
#define vf_store(p, v) _mm512_storeu_ps(p, v)
#define vf_add(a, b) _mm512_add_ps(a, b)
#define vf_sub(a, b) _mm512_sub_ps(a, b)
#define vf_mul(a, b) _mm512_mul_ps(a, b)
#define vf_max(a, b) _mm512_max_ps(a, b)
#define vf_fmadd(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vf_fnmadd(a, b, c) _mm512_fnmadd_ps(a, b, c)
static inline float vf_hsum(vf v) { return _mm512_reduce_add_ps(v); }
static inline float vf_hmax(vf v) { return _mm512_reduce_max_ps(v); }
#define vf_round(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#else
#define VW 8
#define MR 6 /* 6 x 2 accumulators of the 16 ymm registers */
typedef __m256 vf;
#define vf_zero() _mm256_setzero_ps()
#define vf_set1(x) _mm256_set1_ps(x)
#define vf_load(p) _mm256_loadu_ps(p)
#define vf_store(p, v) _mm256_storeu_ps(p, v)
#define vf_add(a, b) _mm256_add_ps(a, b)
#define vf_sub(a, b) _mm256_sub_ps(a, b)
#define vf_mul(a, b) _mm256_mul_ps(a, b)
#define vf_max(a, b) _mm256_max_ps(a, b)
#define vf_fmadd(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vf_fnmadd(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define vf_hsum hsum /* csrc/common.h */
#define vf_hmax hmax
#define vf_round(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#endif

#define TW (2 * VW) /* columns of the micro-tile: two vectors */

/* exp(x) for x <= 0: 2^n e^r, n = round(x / ln 2), |r| <= ln2/2, degree-6 polynomial in r
   (relative error ~1e-7); 0 below UNDERFLOW */
static inline vf vf_exp(vf x) {
  vf xc = vf_max(x, vf_set1(UNDERFLOW));
  vf n = vf_round(vf_mul(xc, vf_set1(1.44269504088896341f)));
  vf r = vf_fnmadd(n, vf_set1(0.693359375f), xc);  /* ln 2 in two parts: r exact to ~1 ulp */
  r = vf_fnmadd(n, vf_set1(-2.12194440e-4f), r);
  vf p = vf_set1(1.9875691500e-4f);
  p = vf_fmadd(p, r, vf_set1(1.3981999507e-3f));
  p = vf_fmadd(p, r, vf_set1(8.3334519073e-3f));
  p = vf_fmadd(p, r, vf_set1(4.1665795894e-2f));
  p = vf_fmadd(p, r, vf_set1(1.6666665459e-1f));
  p = vf_fmadd(p, r, vf_set1(5.0000001201e-1f));
  p = vf_fmadd(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f)));
#if defined(__AVX512F__)
  /* p 2^n by scalef (no integer detour); lanes at or below UNDERFLOW zeroed by the mask */
  return _mm512_maskz_scalef_ps(_mm512_cmp_ps_mask(x, vf_set1(UNDERFLOW), _CMP_GT_OQ), p, n);
#else
  __m256 keep = _mm256_cmp_ps(x, vf_set1(UNDERFLOW), _CMP_GT_OQ);
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
#endif
}

#endif
