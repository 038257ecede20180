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

#define LOG2E 1.44269504088896341f
#define UNDERFLOW2 (-80.0f * LOG2E) /* 2^t below this (e^x below e^-80) is taken as 0: no denormals
                                       in later products */

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
#endif

#define TW (2 * VW) /* columns of the micro-tile: two vectors */

/* 2^t for t <= 0, 0 below UNDERFLOW2: 2^floor(t) 2^f with f = t - floor(t) in [0, 1) and 2^f a
   degree-6 polynomial (near-minimax for relative error; 8e-8 evaluated in float32). The callers
   pass t = (s - m) log2(e) as one fma, so e^(s - m) is within 1e-7 relative + 3e-8 absolute.
   Ten vector ops with AVX-512 (the reduction and the scaling are single instructions), where
   e^x = 2^n e^r with a two-part ln 2 took sixteen (docs/performance.md, "The slot kernel's
   exponential"). */
static inline vf vf_exp2(vf t) {
#if defined(__AVX512F__)
  vf f = _mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); /* t - floor(t), AVX512DQ */
#else
  vf n = _mm256_floor_ps(t), f = vf_sub(t, n);
#endif
  vf p = vf_set1(2.1702249069e-4f);
  p = vf_fmadd(p, f, vf_set1(1.2439689599e-3f));
  p = vf_fmadd(p, f, vf_set1(9.6788406372e-3f));
  p = vf_fmadd(p, f, vf_set1(5.5483341217e-2f));
  p = vf_fmadd(p, f, vf_set1(2.4022983015e-1f));
  p = vf_fmadd(p, f, vf_set1(6.9314700365e-1f));
  p = vf_fmadd(p, f, vf_set1(1.0f));
#if defined(__AVX512F__)
  /* p 2^floor(t) by scalef (no integer detour); lanes at or below UNDERFLOW2 zeroed by the mask */
  return _mm512_maskz_scalef_ps(_mm512_cmp_ps_mask(t, vf_set1(UNDERFLOW2), _CMP_GT_OQ), p, t);
#else
  __m256 keep = _mm256_cmp_ps(t, vf_set1(UNDERFLOW2), _CMP_GT_OQ);
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
#endif
}

/* e^(s - m) for s <= m, as 2^t with t = (s - m) log2(e) formed in one fma */
static inline vf vf_exp_sub(vf s, float m) {
  return vf_exp2(vf_fmadd(s, vf_set1(LOG2E), vf_set1(-m * LOG2E)));
}

#endif
