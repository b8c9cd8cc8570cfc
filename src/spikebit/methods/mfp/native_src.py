"""C++ source of the native MFP kernel (compiled on first use by :mod:`.native`).

One translation unit per horizon ``T`` (``-DMFP_STEPS=T``): every loop over time is
unrolled at compile time, so the per-neuron values (``X[:, n]``, ``H``, ``g``) live in
vector registers. Neurons are processed in SIMD blocks of 64 bytes (16 float32 or 8
float64 lanes, GCC/Clang vector extensions; the compiler splits them to the host's
vector width) and in chunks of ``CB`` blocks:

* forward, per block: ``H[t] = sum_{i <= t} M[t, i] X[i]`` in outer-product order (each
  ``X[i]`` loaded once and added to every ``H[t]``, ``t >= i``, so each sum still runs
  ``i`` ascending; the compiler may fuse multiply-adds), ``S[t] = [H[t] >= V]``;
* backward, per block (phase A): ``H`` recomputed by the same code, ``g[t] = grad_S[t] *
  h'(H[t] - V) / p1``, ``grad_X[i] = sum_{t >= i} (p1 M[t, i]) g[t]`` accumulated ``t``
  ascending as each ``g[t]`` is formed (``T + 1`` live vectors); ``X`` and ``g`` of the
  chunk are kept in two small buffers (L1);
* backward, per chunk (phase B): ``grad_M += g X^T`` over the chunk as a register-blocked
  ``4 x 4`` GEMM micro-kernel (only the lower-triangular entries) into per-lane
  accumulators, summed over lanes and multiplied by ``p1`` at the end. This is the
  reduction over batch x neurons that a separate ``torch.mm(g, X^T)`` pays with a second
  pass over ``g`` and ``X``.

Surrogates (template ``Sg``): rectangle ``[|u| < p0] * p1`` (``p0 = a/2, p1 = 1/a``),
triangle ``max(0, p0 - |u|) * p1`` (``p0 = g, p1 = 1/g^2``), atan ``p1 / (1 + (p0 u)^2)``
(``p0 = pi/2 k, p1 = k/2``). The constant ``p1`` is folded into ``M`` for ``grad_X`` and
applied once to the finished ``grad_M`` (not per neuron and step); ``|u|`` clears the sign
bit and the triangle's ``max(0, .)`` is one max instruction with AVX-512 (NaN gives 0, as
the comparison it replaces). The folding needs ``p1`` and every ``p1 M[t, i]`` (finite
``M[t, i]``, ``i <= t``) to be normal numbers of the dtype where ``M[t, i]`` is (e.g.
``p1 = 1/g^2`` overflows float32 for a triangle of width ``g < 5.4e-20``; then ``0 * inf``
would turn every zero derivative into a NaN gradient): otherwise the backward writes
nothing and returns 1, and the caller runs the reference. The multiply-adds per neuron
are ``T(T+1)/2`` forward and ``3 T(T+1)/2`` backward (``H`` again, ``grad_X``,
``grad_M``): 136 and 408 at ``T = 16``. Columns past the last whole block (or chunk) run
through the same code on a zero-padded local copy (zero ``X`` and ``grad_S`` add nothing
to ``grad_M``). Entries of ``M`` above the diagonal are never read.
"""

SOURCE = r"""
#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif

#include <cmath>
#include <limits>
#include <memory>

#ifndef MFP_STEPS
#error "compile with -DMFP_STEPS=T"
#endif
// Everything but the C entry points has internal linkage: the libraries of several T are
// loaded into one process and must not share (interpose) each other's template code.
namespace {
constexpr int T = MFP_STEPS;
constexpr int TP = (T + 3) / 4 * 4;     // T padded to whole 4 x 4 tiles
constexpr int NT = TP / 4;
constexpr int NTILES = NT * (NT + 1) / 2;
constexpr int CB = 8;                   // SIMD blocks per chunk

template <class S> struct Vec;
template <> struct Vec<float> {
  typedef float V __attribute__((vector_size(64)));
  enum { L = 16 };
};
template <> struct Vec<double> {
  typedef double V __attribute__((vector_size(64)));
  enum { L = 8 };
};

template <class V> static inline V load(const void* p) { V v; memcpy(&v, p, sizeof v); return v; }
template <class V> static inline void store(void* p, V v) { memcpy(p, &v, sizeof v); }
// Output rows (spikes, grad_X) are written once and not read back here: with `stream`
// (large outputs, chosen by the caller), streaming stores (no read-for-ownership of the
// destination line, no cache pollution) where the address is 64-byte aligned.
template <class V> static inline void store_out(void* p, V v, bool stream) {
#if defined(__AVX512F__)
  if (stream && ((uintptr_t)p & 63) == 0) { _mm512_stream_si512((__m512i*)p, (__m512i)v); return; }
#elif defined(__AVX__)
  if (stream && ((uintptr_t)p & 63) == 0) {
    _mm256_stream_si256((__m256i*)p, ((__m256i*)&v)[0]);
    _mm256_stream_si256((__m256i*)p + 1, ((__m256i*)&v)[1]);
    return;
  }
#endif
  memcpy(p, &v, sizeof v);
}
static inline void store_fence() {
#if defined(__AVX512F__) || defined(__AVX__)
  _mm_sfence();
#endif
}
template <class V, class S> static inline V splat(S s) { V v = {}; return v + s; }
template <class V, class M> static inline V select(M mask, V a, V b) {
  return (V)((mask & (M)a) | (~mask & (M)b));
}
// |u| by clearing the sign bit (one logic op; NaN stays NaN)
template <class V> static inline V vabs(V u) {
  typedef decltype(u < u) M;
  const V zero = {};
  return (V)((M)u & ~(M)(-zero));  // -zero: only the sign bits set
}
// max(r, 0), NaN -> 0: as r > 0 ? r : 0, in one instruction where there is one
static inline Vec<float>::V max0(Vec<float>::V r) {
#if defined(__AVX512F__)
  return (Vec<float>::V)_mm512_max_ps((__m512)r, _mm512_setzero_ps());
#else
  return select(r > 0, r, splat<Vec<float>::V>(0.0f));
#endif
}
static inline Vec<double>::V max0(Vec<double>::V r) {
#if defined(__AVX512F__)
  return (Vec<double>::V)_mm512_max_pd((__m512d)r, _mm512_setzero_pd());
#else
  return select(r > 0, r, splat<Vec<double>::V>(0.0));
#endif
}

// g(gs, u, p0) = gs * h'(u) / p1: the surrogate's constant factor p1 is applied by the
// caller to M (for grad_X) and to the finished grad_M, not once per neuron and step.
struct Rectangle {
  template <class V, class S> static inline V g(V gs, V u, S p0) {
    // a product, not a select of gs: a NaN gs outside the window stays NaN (as in eager)
    return gs * select(vabs(u) < p0, splat<V>(S(1)), splat<V>(S(0)));
  }
};
struct Triangle {
  template <class V, class S> static inline V g(V gs, V u, S p0) {
    return gs * max0(splat<V>(p0) - vabs(u));
  }
};
struct ArcTan {
  template <class V, class S> static inline V g(V gs, V u, S p0) {
    V y = u * p0;
    return gs / (y * y + S(1));
  }
};

// H = M X for one block, in outer-product order: X[i] is loaded once and added to every
// H[t], t >= i, so each H[t] still sums i ascending (the first term a product) but only
// T accumulators are live (no register spills up to T = 16 with 32 vector registers).
// ``xkeep`` (row pitch CB), if given, receives X.
template <class V, class S>
static inline void mix(const S* x, int64_t stride, const S* m, V* h, V* xkeep) {
  const V x0 = load<V>(x);
  if (xkeep) xkeep[0] = x0;
#pragma GCC unroll 64
  for (int t = 0; t < T; ++t) h[t] = x0 * m[t * T];
#pragma GCC unroll 64
  for (int i = 1; i < T; ++i) {
    const V xi = load<V>(x + i * stride);
    if (xkeep) xkeep[i * CB] = xi;
#pragma GCC unroll 64
    for (int t = i; t < T; ++t) h[t] += xi * m[t * T + i];
  }
}

template <class S>
static inline void fwd_block(const S* x, S* s, int64_t stride, const S* m, S thr, bool stream) {
  typedef typename Vec<S>::V V;
  V h[T];
  mix<V, S>(x, stride, m, h, nullptr);
  const V one = splat<V>(S(1)), zero = splat<V>(S(0));
#pragma GCC unroll 64
  for (int t = 0; t < T; ++t) store_out(s + t * stride, select(h[t] >= thr, one, zero), stream);
}

template <class S> static void fwd(const S* x, const S* m_in, S* s, int64_t stride, int64_t count,
                                   double thr_d, bool stream) {
  constexpr int L = Vec<S>::L;
  // M is read through m_in, which may alias s: its broadcasts are reloaded per block (one
  // embedded-broadcast operand per FMA) instead of hoisted out of the loop and spilled.
  const S* m = m_in;
  const S thr = (S)thr_d;
  const int64_t full = count / L * L;
  for (int64_t n = 0; n < full; n += L) fwd_block(x + n, s + n, stride, m, thr, stream);
  if (full < count) {  // zero-padded last block
    S xb[T * L] = {}, sb[T * L];
    const int64_t rest = count - full;
    for (int i = 0; i < T; ++i) memcpy(xb + i * L, x + i * stride + full, rest * sizeof(S));
    fwd_block(xb, sb, L, m, thr, false);
    for (int t = 0; t < T; ++t) memcpy(s + t * stride + full, sb + t * L, rest * sizeof(S));
  }
  store_fence();
}

template <class S, class Sg> struct Backward {
  typedef typename Vec<S>::V V;
  static constexpr int L = Vec<S>::L;
  static constexpr int64_t CHUNK = (int64_t)CB * L;
  S m[T * T];
  S mg[T * T];  // p1 * m for grad_X (a copy: not CSE'd with H's uses into spilled broadcasts)
  S thr, p0, p1;
  bool need_m, stream;
  V xb[TP][CB], gb[TP][CB];   // the chunk's X and g (rows past T stay zero)
  V acc[NTILES][16];          // per-lane grad_M partial sums, 4 x 4 tiles
  S tail_x[T * CHUNK], tail_g[T * CHUNK], tail_o[T * CHUNK];

  // Phase A for chunk block b: X into xb, g into gb, grad_X stored. grad_X[i] = sum_{t >= i}
  // M[t, i] g[t] accumulates t ascending as each g[t] is formed (T + 1 live vectors).
  inline void block(const S* x, const S* gs, S* gx, int64_t stride, int b) {
    V h[T], r[T];
    mix<V, S>(x, stride, m, h, &xb[0][b]);
#pragma GCC unroll 64
    for (int t = 0; t < T; ++t) {
      const V g = Sg::template g<V, S>(load<V>(gs + t * stride), h[t] - thr, p0);
      gb[t][b] = g;
#pragma GCC unroll 64
      for (int i = 0; i < t; ++i) r[i] += g * mg[t * T + i];
      r[t] = g * mg[t * T + t];
    }
#pragma GCC unroll 64
    for (int i = 0; i < T; ++i) store_out(gx + i * stride, r[i], stream);
  }

  // Phase B: acc += g X^T over the chunk's CB blocks, lower-triangular 4 x 4 tiles.
  inline void reduce() {
    int k = 0;
#pragma GCC unroll 16
    for (int t0 = 0; t0 < TP; t0 += 4) {
#pragma GCC unroll 16
      for (int i0 = 0; i0 <= t0; i0 += 4, ++k) {
        V a[4][4] = {};
        for (int b = 0; b < CB; ++b) {
          V gg[4], xx[4];
          for (int p = 0; p < 4; ++p) { gg[p] = gb[t0 + p][b]; xx[p] = xb[i0 + p][b]; }
          for (int p = 0; p < 4; ++p)
            for (int q = 0; q < 4; ++q)
              if (t0 + p < T && i0 + q <= t0 + p) a[p][q] += gg[p] * xx[q];  // static
        }
        for (int p = 0; p < 4; ++p)
          for (int q = 0; q < 4; ++q)
            if (t0 + p < T && i0 + q <= t0 + p) acc[k][p * 4 + q] += a[p][q];
      }
    }
  }

  inline void chunk(const S* x, const S* gs, S* gx, int64_t stride) {
    for (int b = 0; b < CB; ++b) block(x + b * L, gs + b * L, gx + b * L, stride, b);
    if (need_m) reduce();
  }

  void run(const S* x, const S* gs, S* gx, S* gm, int64_t stride, int64_t count) {
    memset((void*)xb, 0, sizeof xb);
    memset((void*)gb, 0, sizeof gb);
    memset((void*)acc, 0, sizeof acc);
    const int64_t full = count / CHUNK * CHUNK;
    for (int64_t n = 0; n < full; n += CHUNK) chunk(x + n, gs + n, gx + n, stride);
    if (full < count) {  // zero-padded last chunk: g = 0 there, nothing added to grad_M
      const int64_t rest = count - full;
      for (int i = 0; i < T; ++i) {
        memcpy(tail_x + i * CHUNK, x + i * stride + full, rest * sizeof(S));
        memset(tail_x + i * CHUNK + rest, 0, (CHUNK - rest) * sizeof(S));
        memcpy(tail_g + i * CHUNK, gs + i * stride + full, rest * sizeof(S));
        memset(tail_g + i * CHUNK + rest, 0, (CHUNK - rest) * sizeof(S));
      }
      const bool keep = stream;
      stream = false;  // the local tail buffer
      chunk(tail_x, tail_g, tail_o, CHUNK);
      stream = keep;
      for (int i = 0; i < T; ++i)
        memcpy(gx + i * stride + full, tail_o + i * CHUNK, rest * sizeof(S));
    }
    int k = 0;
    for (int t0 = 0; t0 < TP; t0 += 4)
      for (int i0 = 0; i0 <= t0; i0 += 4, ++k)
        for (int p = 0; p < 4; ++p)
          for (int q = 0; q < 4; ++q) {
            const int t = t0 + p, i = i0 + q;
            if (t >= T || i > t) continue;
            S sum = 0;
            for (int l = 0; l < L; ++l) sum += acc[k][p * 4 + q][l];
            gm[t * T + i] = sum * p1;
          }
  }
};

// Whether p1 can be folded into M: p1 and each p1 * M[t, i] (i <= t, M[t, i] finite) a
// normal number where M[t, i] is one (0 * inf would make a zero derivative NaN, inf * g or a
// subnormal p1 * M lose what the reference's h' * M keeps).
template <class S> static bool foldable(const S* m, S p1) {
  const S lo = std::numeric_limits<S>::min(), hi = std::numeric_limits<S>::max();
  if (!(p1 >= lo && p1 <= hi)) return false;
  for (int t = 0; t < T; ++t)
    for (int i = 0; i <= t; ++i) {
      const S a = std::fabs(m[t * T + i]), b = std::fabs(m[t * T + i] * p1);
      if (a <= hi && !(b <= hi)) return false;          // finite M, overflowed product
      if (a >= lo && a <= hi && b < lo) return false;   // normal M, subnormal product
    }
  return true;
}

// 0, or 1 (nothing written) where p1 cannot be folded into M (see foldable).
template <class S, class Sg>
static int bwd(const S* x, const S* m_in, const S* gs, S* gx, S* gm, int64_t stride, int64_t count,
               double thr, double p0, double p1, int need_m, int stream) {
  if (!foldable<S>(m_in, (S)p1)) return 1;
  // 20-120 KiB of buffers on the heap (not the stack of a worker thread; not thread_local,
  // whose every access from the kernel's loops would go through __tls_get_addr)
  std::unique_ptr<Backward<S, Sg>> k(new Backward<S, Sg>);
  memcpy(k->m, m_in, sizeof k->m);
  for (int i = 0; i < T * T; ++i) k->mg[i] = m_in[i] * (S)p1;
  k->thr = (S)thr; k->p0 = (S)p0; k->p1 = (S)p1; k->need_m = need_m != 0;
  k->stream = stream != 0;
  for (int i = 0; i < T * T; ++i) gm[i] = 0;
  k->run(x, gs, gx, gm, stride, count);
  store_fence();
  return 0;
}

}  // namespace

#define MFP_API extern "C" __attribute__((visibility("default")))
#define MFP_FWD(S, NAME)                                                                     \
  MFP_API void NAME(const S* x, const S* m, S* s, int64_t stride, int64_t count, double thr, \
                    int stream) {                                                            \
    fwd<S>(x, m, s, stride, count, thr, stream != 0);                                        \
  }
#define MFP_BWD(S, SG, NAME)                                                                 \
  MFP_API int NAME(const S* x, const S* m, const S* gs, S* gx, S* gm, int64_t stride,     \
                   int64_t count, double thr, double p0, double p1, int need_m,              \
                   int stream) {                                                             \
    return bwd<S, SG>(x, m, gs, gx, gm, stride, count, thr, p0, p1, need_m, stream);         \
  }
MFP_FWD(float, mfp_fwd_float32)
MFP_FWD(double, mfp_fwd_float64)
MFP_BWD(float, Rectangle, mfp_bwd_float32_rectangle)
MFP_BWD(float, Triangle, mfp_bwd_float32_triangle)
MFP_BWD(float, ArcTan, mfp_bwd_float32_atan)
MFP_BWD(double, Rectangle, mfp_bwd_float64_rectangle)
MFP_BWD(double, Triangle, mfp_bwd_float64_triangle)
MFP_BWD(double, ArcTan, mfp_bwd_float64_atan)
MFP_API int mfp_steps() { return T; }
"""
