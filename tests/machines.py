"""Other machines, simulated on this one: settings that make each numeric library take the code
paths another CPU, thread count or C library would.

- numpy picks SIMD kernels per CPU at import; `NPY_DISABLE_CPU_FEATURES` turns off the ones named
  (only features numpy dispatches and this CPU has: naming a baseline feature is an error).
- OpenBLAS picks its kernels per core type; `OPENBLAS_CORETYPE` forces one (x86-64 only).
- torch compiles its CPU kernels once per capability; `ATEN_CPU_CAPABILITY` picks a lower one, and
  its oneDNN convolutions and MKL products take `ONEDNN_MAX_CPU_ISA` and `MKL_ENABLE_INSTRUCTIONS`.
- glibc picks FMA or SSE2 builds of `exp`, `log`, `log1p`, `pow`, `sin`...;
  `GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA` hides those features from it.
- thread pools (`OMP_NUM_THREADS` and friends) change how torch and OpenBLAS split their sums.

`MACHINES` are the ones this CPU can stand in for; `run` runs a Python process as one of them.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


#: Every variable a simulated machine may set: none of them is inherited from the test's own environment.
SETTINGS = ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
            "MKL_ENABLE_INSTRUCTIONS", "GLIBC_TUNABLES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Machine:
    name: str
    env: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def _numpy_umath():
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.26
        from numpy.core import _multiarray_umath as umath
    return umath


def numpy_features(*prefixes: str) -> list[str]:
    """The features numpy dispatches on (not its baseline) that this CPU has, named by `prefixes`."""
    umath = _numpy_umath()
    return [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f) and f.startswith(prefixes)]


def _threads(n: int) -> dict[str, str]:
    return {name: str(n) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def _torch_capability() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability()


def machines() -> list[Machine]:
    """A machine with one thread, one without AVX-512 (a Haswell or an EPYC before Zen 4) and one
    with AVX but neither AVX2 nor FMA (a Sandy Bridge), as far as this CPU can stand in for them."""
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    avx512 = numpy_features("AVX512")
    haswell = {**_threads(3), "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F"}
    if avx512:
        haswell["NPY_DISABLE_CPU_FEATURES"] = " ".join(avx512)
    if x86:
        haswell.update(OPENBLAS_CORETYPE="Haswell", ONEDNN_MAX_CPU_ISA="AVX2", MKL_ENABLE_INSTRUCTIONS="AVX2")
    if _torch_capability() == "AVX512":
        haswell["ATEN_CPU_CAPABILITY"] = "avx2"
    sandy = {**_threads(2), "ATEN_CPU_CAPABILITY": "default", "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F"}
    wide = numpy_features("AVX512", "AVX2", "FMA3", "F16C")
    if wide:
        sandy["NPY_DISABLE_CPU_FEATURES"] = " ".join(wide)
    if x86:
        sandy.update(OPENBLAS_CORETYPE="Sandybridge", ONEDNN_MAX_CPU_ISA="AVX", MKL_ENABLE_INSTRUCTIONS="AVX")
    return [Machine("one-thread", _threads(1)), Machine("no-avx512", haswell), Machine("avx-no-fma", sandy)]


MACHINES = machines()


def environment(machine: Machine) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    return {**env, **machine.env}


def run(machine: Machine, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python *args` (from the repository root) as `machine`."""
    return subprocess.run([sys.executable, *args], cwd=REPO, env=environment(machine), capture_output=True,
                          text=True, timeout=timeout)

