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

import numba
import numpy as np
from numba import njit, prange, types

WORD = 64


def _make_popcount():
    try:
        from llvmlite import ir
        from numba.extending import intrinsic

        @intrinsic
        def ctpop(typingctx, x):  # pragma: no cover - compiled
            sig = types.uint64(types.uint64)

            def codegen(context, builder, signature, args):
                fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
                return builder.call(fn, args)

            return sig, codegen

        @njit(inline="always")
        def popcount(x):
            return ctpop(x)

        popcount(np.uint64(3))  # compile now: fall back below if the intrinsic fails
        return popcount, "llvm.ctpop"
    except Exception:  # pragma: no cover - depends on the numba/llvmlite build

        @njit(inline="always")
        def popcount_swar(x):
            x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
            x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2))
                                                        & np.uint64(0x3333333333333333))
            x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
            return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)

        return popcount_swar, "swar"


popcount, POPCOUNT_IMPL = _make_popcount()


def words(bits: int) -> int:
    """Number of 64-bit words holding ``bits`` bits."""
    return (bits + WORD - 1) // WORD


def pack_rows(bits: np.ndarray) -> np.ndarray:
    """``[R, K]`` of 0/1 -> ``[R, ceil(K/64)]`` uint64 (little-endian bit order)."""
    r, k = bits.shape
    padded = np.zeros((r, words(k) * WORD), dtype=np.uint8)
    padded[:, :k] = bits
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").astype(np.uint64)


@njit(parallel=True, cache=True)
def pack_patches(x, kh, kw, pad, stride, planes):  # pragma: no cover - compiled
    """im2col + bit packing in one pass.

    ``x [N, H, W, C]`` (non-negative integers < 2^planes, NHWC) -> ``[planes, M, Wp]``
    uint64 with ``M = N * Ho * Wo`` rows, each the ``(dy, dx, c)``-ordered patch of
    one output position (zero outside the image).
    """
    n, h, w, c = x.shape
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (w + 2 * pad - kw) // stride + 1
    k = kh * kw * c
    wp = (k + WORD - 1) // WORD
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
                base = (dy * kw + dx) * c
                for ch in range(c):
                    v = np.uint64(x[b, yy, xx, ch])
                    if v == 0:
                        continue
                    j = base + ch
                    bit = np.uint64(1) << np.uint64(j % WORD)
                    for p in range(planes):
                        if (v >> np.uint64(p)) & np.uint64(1):
                            out[p, row, j // WORD] |= bit
    return out


@njit(parallel=True, cache=True)
def binary_dot(a, b):  # pragma: no cover - compiled
    """``a [P, M, Wp]`` activation bit planes, ``b [R, Wp]`` masks of ``+1`` weights.

    Returns int32 ``[M, R]``: ``sum_p 2^p (2 popcount(a_p & b_r) - popcount(a_p))``,
    the exact dot product of the integer activations with the ``±1`` rows.
    """
    planes, m, wp = a.shape
    r = b.shape[0]
    out = np.empty((m, r), dtype=np.int32)
    for i in prange(m):
        for o in range(r):
            out[i, o] = 0
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


def set_threads(n: int) -> None:
    """Number of threads of the parallel kernels (``numba.set_num_threads``)."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
