"""The low-precision screen of the pair pass (analyses.pairs.token_pairs): which precision, and its proven error.

Scores S = q·k are screened in bf16 where the hardware multiplies bf16 faster than float32 (else in float32), on
a copy of the weights scaled by a power of two (exact) so that no value over- or underflows. The screen's error
is proven, not estimated: rounding each input to bf16 moves it by at most u = 2⁻⁸ of its size, so by
Cauchy–Schwarz the product moves by at most (2u + u²)|q||k|; float32 accumulation of d terms adds
γ_d = d·2⁻²⁴/(1 − d·2⁻²⁴) of |q||k|, and rounding the result to bf16 another u.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

TOLERANCE = 1e-6  # ties: scores closer than this × |u||v| are equal (see analyses.zero_layer)
ARITHMETIC = 4e-7  # relative slack for float32 rounding of the screen's own thresholds


def error_bound(precision: str, d: int) -> float:
    """ε such that |screen score − q·k| ≤ ε|q||k| (plus an absolute term for subnormals, see `absolute_error`)."""
    gamma = d * 2.0 ** -24 / (1 - d * 2.0 ** -24)
    u = 2.0 ** -8
    if precision == "bf16":
        bound = (2 * u + u * u) + gamma * (1 + u) ** 2 + u * (1 + u) ** 2 * (1 + gamma)
    elif torch.get_float32_matmul_precision() == "highest":
        bound = gamma
    else:  # float32 products may run on bf16 units internally: inputs rounded, float32 result
        bound = (2 * u + u * u) + gamma * (1 + u) ** 2
    return 1.01 * bound


def absolute_error(d: int) -> float:
    """Error from values that are subnormal after scaling (flushed to zero at worst): ≤ 4d·2⁻¹²⁶ per score."""
    return 4 * d * 2.0 ** -126


def screen_precision(device: str | torch.device = "cpu") -> str:
    """"bf16" where the hardware has bf16 matrix units, else "fp32" (WEIGHTS_REPORT_SCREEN overrides).

    Decided from the hardware's feature flags, not from a timing, so that a machine always makes the same
    choice (the report's text names it); the answers are exact either way, only the speed differs."""
    forced = os.environ.get("WEIGHTS_REPORT_SCREEN", "")
    if forced in ("bf16", "fp32"):
        return forced
    device = torch.device(device)
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return "bf16" if major >= 8 else "fp32"  # Ampere and later: bf16 tensor cores
    if device.type != "cpu":
        return "fp32"
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "fp32"
    flags = set().union(*(line.split(":", 1)[1].split() for line in text.splitlines()
                          if line.startswith(("flags", "Features")) and ":" in line))
    return "bf16" if flags & {"avx512_bf16", "amx_bf16"} else "fp32"


def gemm_speeds(device: str | torch.device = "cpu", d: int = 768) -> dict:
    """Measured matrix-product speed (GFLOP/s) in float32 and bf16 on this device, for the benchmark."""
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(1024, d, generator=generator), torch.randn(4096, d, generator=generator)
    speeds = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        x, y = a.to(device, dtype), b.to(device, dtype)
        times = []
        for _ in range(4):
            start = time.perf_counter()
            torch.mm(x, y.T)
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        speeds[name] = 2 * 1024 * 4096 * d / min(times[1:]) / 1e9
    return speeds
