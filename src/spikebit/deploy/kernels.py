"""Bitwise kernels of the packed engine (numba): bit packing and binary dot products.

A binary dot product of spikes ``s in {0, 1}^K`` and a base ``b in {-1, +1}^K``, with
``b+`` the bit mask of the ``+1`` entries, is ``sum_j s_j b_j = 2 popcount(s & b+) -
popcount(s)``: integer arithmetic, exact. Activations with values in ``0..2^P - 1``
(multi-threshold counts, average-pooled spike sums) are split into ``P`` bit planes,
``x = sum_p 2^p x_p``, and the plane results are summed with weights ``2^p``.

Bits are packed little-endian into ``uint64`` words: element ``j`` of a row is bit
``j % 64`` of word ``j // 64``; rows are zero-padded to whole words, and a zero
activation bit contributes nothing, so padding (spatial or word) is exact.

``popcount`` is LLVM's ``ctpop`` intrinsic: one ``POPCNT`` instruction per word, and
the vectorizer may use AVX-512 ``VPOPCNTQ`` where the CPU has it (numba compiles for
the host CPU). Where the intrinsic cannot be built, a SWAR popcount is used.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
    from numba import njit, prange, types
except ImportError as exc:  # pragma: no cover - optional dependency
    raise ImportError("the packed engine needs numba: pip install 'spikebit[deploy]'") from exc

WORD = 64


def _make_bit_ops():
    try:
        from llvmlite import ir
        from numba.extending import intrinsic

        def _unary(llvm_name, extra_false):
            @intrinsic
            def op(typingctx, x):  # pragma: no cover - compiled
                sig = types.uint64(types.uint64)

                def codegen(context, builder, signature, args):
                    i64, i1 = ir.IntType(64), ir.IntType(1)
                    params = [i64, i1] if extra_false else [i64]
                    fnty = ir.FunctionType(i64, params)
                    fn = builder.module.declare_intrinsic(llvm_name, [i64], fnty)
                    extra = [ir.Constant(i1, 0)] if extra_false else []
                    return builder.call(fn, list(args) + extra)

                return sig, codegen

            return op

        ctpop, cttz = _unary("llvm.ctpop", False), _unary("llvm.cttz", True)

        @njit(inline="always")
        def popcount(x):
            return ctpop(x)

        @njit(inline="always")
        def lowest_bit(x):
            return cttz(x)

        popcount(np.uint64(3))  # compile now: fall back below if an intrinsic fails
        lowest_bit(np.uint64(8))
        return popcount, lowest_bit, "llvm.ctpop"
    except Exception:  # pragma: no cover - depends on the numba/llvmlite build

        @njit(inline="always")
        def popcount_swar(x):
            x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
            x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2))
                                                        & np.uint64(0x3333333333333333))
            x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
            return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)

        @njit(inline="always")
        def lowest_bit_swar(x):
            return popcount_swar((x & (~x + np.uint64(1))) - np.uint64(1))

        return popcount_swar, lowest_bit_swar, "swar"


popcount, lowest_bit, POPCOUNT_IMPL = _make_bit_ops()


def words(bits: int) -> int:
    """Number of 64-bit words holding ``bits`` bits."""
    return (bits + WORD - 1) // WORD


def pack_rows(bits: np.ndarray) -> np.ndarray:
    """``bits [R, K]`` of 0/1 -> ``[R, ceil(K/64)]`` uint64 (little-endian bit order)."""
    r, k = bits.shape
    padded = np.zeros((r, words(k) * WORD), dtype=np.uint8)
    padded[:, :k] = bits
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").astype(np.uint64)


def pack_pixels(x: np.ndarray, planes: int) -> np.ndarray:
    """``x [N, H, W, C]`` integers in ``0..2^planes - 1`` -> ``[planes, N, H, W, Wc]``
    uint64: each pixel's channel vector of one bit plane, packed."""
    c = x.shape[-1]
    wc = words(c)
    out = np.zeros((planes, *x.shape[:-1], wc * 8), dtype=np.uint8)
    for p in range(planes):
        bits = x if planes == 1 else (x >> p) & 1
        out[p, ..., : (c + 7) // 8] = np.packbits(bits, axis=-1, bitorder="little")
    return out.view("<u8").astype(np.uint64, copy=False)


@njit(parallel=True, cache=True)
def im2col_words(px, c, kh, kw, pad, stride):  # pragma: no cover - compiled
    """Bit im2col: ``px [P, N, H, W, Wc]`` (:func:`pack_pixels`) -> ``[P, M, Wp]``.

    Row ``m = (n, y, x)`` is the concatenation of the ``C``-bit channel vectors of the
    ``kh x kw`` window in ``(dy, dx)`` order (bit ``(dy*kw + dx)*C + c``), zero outside
    the image; ``Wp = ceil(kh*kw*C / 64)``. Word-wise shifts, no per-bit work.
    """
    planes, n, h, w, wc = px.shape
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (w + 2 * pad - kw) // stride + 1
    wp = (kh * kw * c + WORD - 1) // WORD
    out = np.zeros((planes, n * ho * wo, wp), dtype=np.uint64)
    for row in prange(n * ho * wo):
        b = row // (ho * wo)
        y0 = (row // wo) % ho * stride - pad
        x0 = row % wo * stride - pad
        for dy in range(kh):
            yy = y0 + dy
            if yy < 0 or yy >= h:
                continue
            for dx in range(kw):
                xx = x0 + dx
                if xx < 0 or xx >= w:
                    continue
                offset = (dy * kw + dx) * c
                for p in range(planes):
                    for i in range(wc):
                        v = px[p, b, yy, xx, i]
                        if v == 0:
                            continue
                        pos = offset + i * WORD
                        wd = pos // WORD
                        sh = pos % WORD
                        out[p, row, wd] |= v << np.uint64(sh)
                        if sh and wd + 1 < wp:
                            out[p, row, wd + 1] |= v >> np.uint64(WORD - sh)
    return out


def pack_patches(x: np.ndarray, kh: int, kw: int, pad: int, stride: int,
                 planes: int) -> np.ndarray:
    """im2col + bit packing of ``x [N, H, W, C]`` (integers < ``2^planes``) for a ``kh x kw``
    window with zero padding ``pad`` and ``stride`` -> ``[planes, M, Wp]`` uint64."""
    return im2col_words(pack_pixels(x, planes), x.shape[-1], kh, kw, pad, stride)


@njit(parallel=True, cache=True)
def binary_dot(a, b):  # pragma: no cover - compiled
    """``a [P, M, Wp]`` activation bit planes, ``b [R, Wp]`` masks of ``+1`` weights.

    Returns int32 ``[M, R]``: ``sum_p 2^p (2 popcount(a_p & b_r) - popcount(a_p))``,
    the exact dot product of the integer activations with the ``±1`` rows.
    """
    planes, m, wp = a.shape
    r = b.shape[0]
    out = np.zeros((m, r), dtype=np.int32)
    for i in prange(m):
        for p in range(planes):
            ones = 0
            for w in range(wp):
                ones += popcount(a[p, i, w])
            for o in range(r):
                acc = 0
                for w in range(wp):
                    acc += popcount(a[p, i, w] & b[o, w])
                out[i, o] += (2 * acc - ones) << p
    return out


ROW_BLOCK = 32


@njit(parallel=True, cache=True)
def binary_affine(a, bt, alpha, scale, bias):  # pragma: no cover - compiled
    """Fused binary layer: float64 ``[M, O]`` of ``scale_o * sum_j alpha[j, o] c_jo + bias_o``.

    ``c_jo`` is the exact integer dot product (:func:`binary_dot`) of row ``m`` of the
    activation planes ``a [P, M, Wp]`` with base ``j`` of output ``o``; the masks come
    transposed, ``bt [k, Wp, O]``, so the innermost loop runs over outputs (contiguous,
    vectorizable popcounts) and an all-zero activation word is skipped (sparse spikes).
    """
    planes, m, wp = a.shape
    k, _, o_n = bt.shape
    out = np.empty((m, o_n), dtype=np.float64)
    for blk in prange((m + ROW_BLOCK - 1) // ROW_BLOCK):
        acc = np.empty((k, o_n), dtype=np.int64)
        for i in range(blk * ROW_BLOCK, min(m, (blk + 1) * ROW_BLOCK)):
            acc[:] = 0
            ones = 0
            for p in range(planes):
                for w in range(wp):
                    aw = a[p, i, w]
                    if aw == 0:
                        continue
                    ones += np.int64(popcount(aw)) << p
                    for j in range(k):
                        for o in range(o_n):
                            acc[j, o] += np.int64(popcount(aw & bt[j, w, o])) << p
            for o in range(o_n):
                z = 0.0
                for j in range(k):
                    z += alpha[j, o] * (2 * acc[j, o] - ones)
                out[i, o] = scale[o] * z + bias[o]
    return out


@njit(parallel=True, cache=True)
def event_affine(a, wmat, scale, bias):  # pragma: no cover - compiled
    """Real (or integer-valued) weights on integer activations, event-driven.

    ``a [P, M, Wp]`` activation bit planes (:func:`pack_patches`), ``wmat [K, O]`` float64.
    For every set bit ``j`` of plane ``p`` of row ``m``, adds ``2^p * wmat[j]`` (one
    synaptic operation per spike); returns float64 ``[M, O]`` of ``scale * sum + bias``.
    """
    planes, m, wp = a.shape
    o_n = wmat.shape[1]
    out = np.empty((m, o_n), dtype=np.float64)
    for i in prange(m):
        acc = np.zeros(o_n, dtype=np.float64)
        for p in range(planes):
            weight = float(1 << p)
            for w in range(wp):
                bits = a[p, i, w]
                while bits:
                    j = w * WORD + np.int64(lowest_bit(bits))
                    bits &= bits - np.uint64(1)
                    for o in range(o_n):
                        acc[o] += weight * wmat[j, o]
        for o in range(o_n):
            out[i, o] = scale[o] * acc[o] + bias[o]
    return out


@njit(parallel=True, cache=True)
def float_conv(x, w, pad, stride, scale, bias):  # pragma: no cover - compiled
    """Direct float64 convolution of real input ``x [N, H, W, C]`` with ``w [kh, kw, C, O]``
    (zero padding ``pad``), then ``scale * . + bias``; returns ``[N, Ho, Wo, O]``."""
    n, h, wd, c = x.shape
    kh, kw, _, o_n = w.shape
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (wd + 2 * pad - kw) // stride + 1
    out = np.empty((n, ho, wo, o_n), dtype=np.float64)
    for r in prange(n * ho):
        b, y = r // ho, r % ho
        acc = np.empty(o_n, dtype=np.float64)
        for xx in range(wo):
            acc[:] = 0.0
            for dy in range(kh):
                yy = y * stride - pad + dy
                if yy < 0 or yy >= h:
                    continue
                for dx in range(kw):
                    xi = xx * stride - pad + dx
                    if xi < 0 or xi >= wd:
                        continue
                    for ch in range(c):
                        v = x[b, yy, xi, ch]
                        if v != 0.0:
                            for o in range(o_n):
                                acc[o] += v * w[dy, dx, ch, o]
            for o in range(o_n):
                out[b, y, xx, o] = scale[o] * acc[o] + bias[o]
    return out


NEURON_KINDS = {"lif": 0, "mtlif": 1, "mfp": 2}


@njit(parallel=True, cache=True)
def neuron_steps(x, steps, kind, threshold, leak, hard, max_spikes, mixing):  # pragma: no cover
    """Spikes ``uint8 [T, N]`` of ``T`` steps on currents ``x [T, N]`` (or ``[1, N]``: the
    same current every step), float64, the arithmetic of the model's forward:

    * ``kind 0`` (LIF/IF): ``h = x_t + leak * v``; ``s = h >= V``; hard ``v = h (1 - s)``,
      soft ``v = h - V s``;
    * ``kind 1`` (multi-threshold): ``s = min(max(floor(h / V), 0), O_max)``, ``v = h - V s``;
    * ``kind 2`` (MFP): ``h_t = sum_{i<=t} M[t, i] x_i``, ``s = h >= V`` (no state).
    """
    n = x.shape[1]
    repeat = x.shape[0] == 1
    out = np.empty((steps, n), dtype=np.uint8)
    for j in prange(n):
        v = 0.0
        for t in range(steps):
            xt = x[0, j] if repeat else x[t, j]
            if kind == 2:
                h = 0.0
                for i in range(t + 1):
                    h += mixing[t, i] * (x[0, j] if repeat else x[i, j])
                out[t, j] = 1 if h >= threshold else 0
                continue
            h = xt if t == 0 else xt + leak * v
            if kind == 1:
                s = np.floor(h / threshold)
                s = min(max(s, 0.0), max_spikes)
            else:
                s = 1.0 if h >= threshold else 0.0
            out[t, j] = np.uint8(s)
            v = h * (1.0 - s) if hard else h - threshold * s
    return out


@njit(parallel=True, cache=True)
def pool_int(x, k, use_max, out):  # pragma: no cover - compiled
    """Non-overlapping ``k x k`` pooling of integers ``x [N, H, W, C]`` into the zeroed
    ``out [N, H//k, W//k, C]``: window maxima, or window sums (average pooling = sum /
    k^2, the division kept as a multiplier)."""
    n, h, w, c = x.shape
    ho, wo = out.shape[1], out.shape[2]
    for r in prange(n * ho):
        b, y = r // ho, r % ho
        for xx in range(wo):
            for dy in range(k):
                for dx in range(k):
                    for ch in range(c):
                        v = x[b, y * k + dy, xx * k + dx, ch]
                        if use_max:
                            if v > out[b, y, xx, ch]:
                                out[b, y, xx, ch] = v
                        else:
                            out[b, y, xx, ch] += v
    return out


def set_threads(n: int) -> None:
    """Number of threads of the parallel kernels (``numba.set_num_threads``)."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
