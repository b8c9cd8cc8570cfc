"""The native MFP kernel: a C++ CPU kernel built on first use and called through ctypes.

Forward ``S = H(M @ X - V)`` and the whole backward (``H`` recomputed, ``g``, ``grad_X``
and ``grad_M = g X^T``) in one pass over the neurons each way; see
:mod:`spikebit.methods.mfp.native_src` for the algorithm. Used by
``MFPNeuron(backend="native")`` (:mod:`spikebit.methods.mfp.kernel`) where
:func:`supports` holds: a CPU tensor of float32 or float64, ``1 <= T <=``
:data:`MAX_STEPS`, a rectangle, triangle or atan surrogate, and a working C++ compiler.

Build: ``$CXX`` (else ``c++``, ``g++`` or ``clang++`` on the ``PATH``) with ``-O3
-march=native -shared -fPIC`` (retried without ``-march=native`` if that fails), one
shared library per ``T`` (a few seconds each, once), cached under
``$SPIKEBIT_KERNEL_CACHE`` (default ``~/.cache/spikebit/kernels``) by a hash of the
source, compiler, flags and host CPU (model and feature flags). A failed build makes
:func:`supports` ``False`` for that ``T``, so callers fall back to the eager reference;
it is reported by one :class:`RuntimeWarning` per cause (per compiler command, with the
detail of its first failure, however many ``T`` fail), attributed to the first caller
outside spikebit and torch (the user's code).

``$CXX`` is a compiler on the ``PATH`` or a path, optionally followed by arguments
(``ccache g++``). A set ``$CXX`` is the only compiler tried: if it names nothing
executable, no other compiler is used in its place; that is a failed build like any
other (one :class:`RuntimeWarning` naming ``$CXX``, then the eager reference), since a
compiler the user did not ask for may build different code. An empty ``$CXX`` counts as
unset.

:func:`forward` and :func:`backward` check their operands before any pointer reaches C++
(shapes, dtypes, devices, contiguity, ``T`` against the library's; metadata only, no pass
over the data) and raise :class:`~spikebit.errors.ShapeError` or
:class:`~spikebit.errors.TensorTypeError`.

Threads: the neurons are split into ``torch.get_num_threads()`` contiguous ranges (at
least :data:`MIN_NEURONS_PER_THREAD` each) run on Python threads (ctypes releases the
GIL); each returns its own ``grad_M`` partial, summed at the end.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from spikebit.errors import ConfigError, ShapeError, TensorTypeError
from spikebit.functional.surrogate import ArcTan, Rectangle, Surrogate, Triangle
from spikebit.methods.mfp.native_src import SOURCE
from spikebit.methods.mfp.operands import check_operands

MAX_STEPS = 32  # every loop over time is unrolled: larger T builds slowly and spills
MIN_NEURONS_PER_THREAD = 1 << 15
# outputs of at least this many bytes are written with streaming (non-temporal) stores: they
# exceed the caches anyway, and the stores skip reading each destination line first
STREAM_BYTES = 4 << 20
_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


class FoldRangeError(ConfigError):
    """The surrogate's constant ``p1`` (:func:`surrogate_params`) cannot be folded into
    ``m`` in the input's dtype: ``p1`` or some ``p1 * m[t, i]`` (finite ``m[t, i]``,
    ``i <= t``) is not a normal number where ``m[t, i]`` is one (extreme surrogate widths or
    entries of ``m``, e.g. a float32 triangle of width below ``5.4e-20``). Raised by
    :func:`backward`; :mod:`spikebit.methods.mfp.kernel` then runs the eager reference.
    """
_CXX_FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden",
              "-ffp-contract=fast")
_P, _I64, _D, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_int


def surrogate_params(surrogate: Surrogate) -> tuple[str, float, float] | None:
    """``(name, p0, p1)`` of a surrogate the native kernel implements, else ``None``.

    Args:
        surrogate: the neuron's surrogate; only exactly :class:`Rectangle`,
            :class:`Triangle` and :class:`ArcTan` (not subclasses, which may change the
            derivative) are built in.

    Returns:
        The kernel's name for it and its two parameters (see
        :mod:`spikebit.methods.mfp.native_src`), or ``None``.
    """
    w = float(surrogate.width)
    kind = type(surrogate)
    if kind is Rectangle:
        return "rectangle", w / 2, 1.0 / w
    if kind is Triangle:
        return "triangle", w, 1.0 / (w * w)
    if kind is ArcTan:
        k = 2.0 / w
        return "atan", math.pi / 2.0 * k, k / 2.0
    return None


def cache_dir() -> Path:
    """Where built kernels are kept: ``$SPIKEBIT_KERNEL_CACHE`` or ``~/.cache/spikebit/kernels``."""
    env = os.environ.get("SPIKEBIT_KERNEL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spikebit" / "kernels"


def compiler() -> str | None:
    """The C++ compiler the kernel is built with: ``$CXX`` if set, else the first of
    ``c++``, ``g++``, ``clang++`` on the ``PATH``.

    Returns:
        Its full path, or ``None`` when there is none, including a set ``$CXX`` that
        names no executable file (no other compiler is used in its place).
    """
    command, _ = _compiler_command()
    return command[0] if command else None


def _compiler_command() -> tuple[list[str] | None, str]:
    """``([compiler path, *$CXX arguments], "")``, or ``(None, why there is none)``."""
    env = os.environ.get("CXX", "").strip()
    if not env:
        for name in ("c++", "g++", "clang++"):
            path = shutil.which(name)
            if path:
                return [path], ""
        return None, "no C++ compiler found (set $CXX)"
    try:
        words = shlex.split(env)
    except ValueError as err:
        return None, f"$CXX={env!r} cannot be split into a command ({err})"
    found = shutil.which(words[0])
    if found is None:
        return None, (f"$CXX={env!r} names no executable compiler ({words[0]!r} is not "
                      "found on the PATH or not executable); no other compiler is used "
                      "in its place: set $CXX to an installed C++ compiler, or unset it "
                      "to use c++, g++ or clang++ from the PATH")
    return [found, *words[1:]], ""


def build_flags() -> tuple[str, ...]:
    """The compiler flags of a build (without ``-DMFP_STEPS``; ``-march=native`` is dropped
    only if the compiler rejects it).

    Returns:
        The flags, in order.
    """
    return (*_CXX_FLAGS, "-march=native")


@functools.cache
def _host() -> str:
    # -march=native code must not be reused on another CPU (a cache on a shared home
    # directory): the key includes the CPU model and its feature flags where Linux shows them
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    keep = [ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags",
                                                                 "Features", "CPU part")]
    return "\n".join(dict.fromkeys(keep)) or platform.processor()


def _build(steps: int, cxx: list[str], arch: tuple[str, ...]) -> Path:
    flags = (*_CXX_FLAGS, *arch, f"-DMFP_STEPS={steps}")
    key = hashlib.sha256("\0".join((SOURCE, *cxx, *flags, platform.machine(),
                                     _host())).encode())
    out = cache_dir() / f"mfp_T{steps}_{key.hexdigest()[:16]}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp) / "mfp.cpp"
        src.write_text(SOURCE)
        lib = Path(tmp) / out.name
        subprocess.run([*cxx, *flags, str(src), "-o", str(lib)], check=True,
                       capture_output=True, text=True, timeout=600)
        os.replace(lib, out)  # atomic: concurrent builds of the same key agree
    return out


@functools.cache
def library(steps: int) -> ctypes.CDLL | None:
    """The kernel library for horizon ``steps`` (built and cached on first use).

    Args:
        steps: ``T``, from 1 to :data:`MAX_STEPS`.

    Returns:
        The loaded library, or ``None`` when no C++ compiler is found, ``$CXX`` names no
        executable compiler, or the build fails (one :class:`RuntimeWarning` per cause,
        see the module doc).
    """
    cxx, reason = _compiler_command()
    if cxx is None:
        _warn_once(reason, reason)
        return None
    errors = []
    for arch in (("-march=native",), ()):
        try:
            lib = ctypes.CDLL(str(_build(steps, cxx, arch)))
            lib.mfp_steps.restype = _INT
            if lib.mfp_steps() != steps:
                raise OSError(f"{lib._name} was built for T={lib.mfp_steps()}, not T={steps}")
            break
        except (OSError, AttributeError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            errors.append(f"{' '.join(arch) or 'default flags'}: {detail.strip()[-400:]}")
    else:
        command = " ".join(cxx)
        _warn_once(f"build:{command}", f"building it with {command} failed (T={steps}: "
                   f"{'; '.join(errors)})")
        return None
    for dtype in _DTYPES.values():
        getattr(lib, f"mfp_fwd_{dtype}").argtypes = [_P, _P, _P, _I64, _I64, _D, _INT]
        for sg in ("rectangle", "triangle", "atan"):
            bwd = getattr(lib, f"mfp_bwd_{dtype}_{sg}")
            bwd.argtypes = [_P, _P, _P, _P, _P, _I64, _I64, _D, _D, _D, _INT, _INT]
            bwd.restype = _INT  # 1: p1 cannot be folded into m (FoldRangeError)
    return lib


_WARNED: set[str] = set()  # causes already reported (see _warn_once)
# frames of these packages are skipped to find the user's line (spikebit/, torch/)
_INTERNAL = tuple(str(p) + os.sep for p in (Path(__file__).parents[2],
                                             Path(torch.__file__).parent))


def _outside_stacklevel() -> int:
    """The ``stacklevel`` (for a ``warnings.warn`` in the caller) of the first frame outside
    spikebit and torch: the user's line, not the kernel's or ``nn.Module.__call__``'s."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    return level


def _warn_once(cause: str, reason: str) -> None:
    """Warn that the kernel is unavailable because of ``reason``, once per ``cause``."""
    if cause in _WARNED:
        return
    _WARNED.add(cause)
    warnings.warn(f"spikebit: the native MFP kernel is not available: {reason}; "
                  "MFPNeuron(backend='native') runs the eager reference instead",
                  RuntimeWarning, stacklevel=_outside_stacklevel())


def supports(x: torch.Tensor, surrogate: Surrogate) -> bool:
    """Whether the native kernel runs ``x [T, N]`` with ``surrogate`` (else: eager).

    Args:
        x: the input currents, time-major ``[T, ...]``.
        surrogate: the neuron's surrogate.

    Returns:
        ``True`` for a plain CPU float32/float64 tensor, ``1 <= T <=`` :data:`MAX_STEPS`, a
        built-in rectangle/triangle/atan surrogate and a kernel that builds; ``False`` while
        tracing (``torch.compile``, ``torch.export``, ``torch.jit.trace``, ONNX export) and
        for tensor subclasses (fake or functional tensors have no data to pass to C++), so
        that traced graphs record the eager reference's ``torch`` operations.
    """
    steps = x.shape[0] if x.ndim else 0
    if type(x) is not torch.Tensor or torch.compiler.is_compiling() or torch.jit.is_tracing():
        return False
    return (x.device.type == "cpu" and x.dtype in _DTYPES and 1 <= steps <= MAX_STEPS
            and surrogate_params(surrogate) is not None and library(steps) is not None)


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spikebit-mfp")


def _ranges(count: int) -> list[tuple[int, int]]:
    workers = min(torch.get_num_threads(), count // MIN_NEURONS_PER_THREAD)
    if workers <= 1:
        return [(0, count)]
    step = -(-count // workers)
    step = -(-step // 128) * 128  # whole chunks (128 = 8 blocks of 16 float32 lanes)
    return [(a, min(a + step, count)) for a in range(0, count, step)]


def _parallel(fn, count: int) -> list:
    ranges = _ranges(count)
    if len(ranges) == 1:
        return [fn(0, count)]
    return list(_pool(len(ranges)).map(lambda r: fn(*r), ranges))


def _checked(x: torch.Tensor, m: torch.Tensor, who: str,
             grad_s: torch.Tensor | None = None) -> ctypes.CDLL:
    """The library for ``x``'s ``T`` once every pointer the kernel reads or writes is
    known to be valid (metadata checks only; see :func:`forward`)."""
    who = f"native.{who}"
    if x.ndim != 2:
        raise ShapeError(f"{who}: x must be [T, N] (neurons flattened), got {list(x.shape)}")
    if not 1 <= x.shape[0] <= MAX_STEPS:
        raise ShapeError(f"{who}: x has T={x.shape[0]} steps, the kernel runs 1 <= T <= "
                         f"{MAX_STEPS}; use mfp_sequence(..., backend='eager')")
    if x.device.type != "cpu" or x.dtype not in _DTYPES:
        raise TensorTypeError(f"{who}: x must be a CPU float32/float64 tensor, got {x.dtype} "
                              f"on {x.device}; mfp_sequence runs the eager reference there")
    check_operands(x, m, who, grad_s)
    for name, t in (("x", x), ("grad_s", grad_s)):
        if t is not None and not t.is_contiguous():
            raise ShapeError(f"{who}: {name} must be contiguous; pass {name}.contiguous()")
    lib = library(x.shape[0])
    if lib is None:
        raise ConfigError(f"{who}: the native MFP kernel for T={x.shape[0]} is not available "
                          "(see the RuntimeWarning); check native.supports(x, surrogate) "
                          "first or use backend='eager'")
    return lib


def forward(x: torch.Tensor, m: torch.Tensor, threshold: float) -> torch.Tensor:
    """Spikes ``[H(m @ x - V)]`` of a contiguous ``x [T, N]`` (``m [T, T]``, lower triangle used).

    The operands are checked before the kernel sees a pointer (their metadata only).

    Args:
        x: input currents ``[T, N]``, contiguous, CPU float32/float64, ``1 <= T <=``
            :data:`MAX_STEPS` (:func:`supports`).
        m: the mixing matrix ``[T, T]`` in ``x``'s dtype, on the CPU (entries above the
            diagonal unused).
        threshold: ``V``.

    Returns:
        Spikes ``[T, N]`` (0/1 in ``x``'s dtype).

    Raises:
        ShapeError: ``x`` is not a contiguous ``[T, N]`` with ``1 <= T <=`` :data:`MAX_STEPS`
            or ``m`` is not ``[T, T]``.
        TensorTypeError: ``x`` is not a CPU float32/float64 tensor, or ``m`` differs from
            it in dtype or device.
        ConfigError: the kernel for this ``T`` cannot be built (:func:`library`).
    """
    lib = _checked(x, m, "forward")
    steps, count = x.shape
    fn = getattr(lib, f"mfp_fwd_{_DTYPES[x.dtype]}")
    m = m.detach().contiguous()
    s = torch.empty_like(x)
    size = x.element_size()
    stream = int(x.numel() * size >= STREAM_BYTES)

    def run(a: int, b: int) -> None:
        fn(x.data_ptr() + a * size, m.data_ptr(), s.data_ptr() + a * size, count, b - a,
           threshold, stream)

    _parallel(run, count)
    return s


def backward(x: torch.Tensor, m: torch.Tensor, grad_s: torch.Tensor, threshold: float,
             surrogate: Surrogate, need_m: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(grad_X [T, N], grad_m [T, T])`` of ``S = H(m @ x - V)`` (surrogate ``dS/dH``).

    The operands are checked as in :func:`forward` before the kernel sees a pointer.

    Args:
        x: the saved input ``[T, N]``, contiguous, CPU float32/float64.
        m: the mixing matrix ``[T, T]`` in ``x``'s dtype (lower triangle used).
        grad_s: ``dL/dS`` ``[T, N]``, contiguous, ``x``'s dtype.
        threshold: ``V``.
        surrogate: a rectangle, triangle or atan surrogate (:func:`surrogate_params`).
        need_m: compute ``grad_m`` (else it is returned as zeros).

    Returns:
        ``grad_X`` and the lower-triangular ``grad_m`` (zero above the diagonal).

    Raises:
        ShapeError: as :func:`forward`, or ``grad_s`` is not a contiguous tensor of
            ``x``'s shape.
        TensorTypeError: as :func:`forward`, or ``grad_s`` differs from ``x`` in dtype or
            device.
        ConfigError: the surrogate is not built in, or the kernel for this ``T`` cannot be
            built.
        FoldRangeError: the surrogate's constant cannot be folded into ``m`` in this dtype
            (nothing computed; use ``mfp_backward``, which runs the eager reference then).
    """
    params = surrogate_params(surrogate)
    if params is None:
        raise ConfigError(f"native.backward: the kernel has no {type(surrogate).__name__} "
                          "surrogate (rectangle, triangle and atan are built in); use "
                          "mfp_backward(..., backend='eager')")
    lib = _checked(x, m, "backward", grad_s)
    steps, count = x.shape
    name, p0, p1 = params
    fn = getattr(lib, f"mfp_bwd_{_DTYPES[x.dtype]}_{name}")
    m = m.detach().contiguous()
    grad_x = torch.empty_like(x)
    size = x.element_size()
    stream = int(x.numel() * size >= STREAM_BYTES)

    def run(a: int, b: int) -> torch.Tensor | None:
        gm = x.new_empty(steps, steps)
        status = fn(x.data_ptr() + a * size, m.data_ptr(), grad_s.data_ptr() + a * size,
                    grad_x.data_ptr() + a * size, gm.data_ptr(), count, b - a, threshold,
                    p0, p1, int(need_m), stream)
        return None if status else gm

    parts = _parallel(run, count)
    if any(part is None for part in parts):
        raise FoldRangeError(
            f"native.backward: the {name} surrogate's constant {p1:g} (width "
            f"{float(surrogate.width):g}) times the mixing matrix (largest |m| "
            f"{float(m.tril().abs().max()):g}) is not a normal {x.dtype} number; use "
            "mfp_backward(..., backend='eager') or a wider surrogate")
    return grad_x, (parts[0] if len(parts) == 1 else torch.stack(parts).sum(0))
