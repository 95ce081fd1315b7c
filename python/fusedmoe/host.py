"""numpy helpers for the dtypes numpy lacks, so the CPU reference runs without torch.

    x = fusedmoe.host.bfloat16(np.random.randn(4, 64))   # TypedArray: uint16 bits, DType.BFLOAT16
    y = fusedmoe.host.to_float32(x)                       # back to float32, exactly

bf16 rounding is round-to-nearest-even (as torch's ``.to(torch.bfloat16)``); NaN stays NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import TypedArray
from ._C import DType


def bfloat16(values: Any) -> TypedArray:
    """float values -> bf16 (round to nearest even), as a TypedArray of uint16 bits."""
    f32 = np.ascontiguousarray(values, dtype=np.float32)
    bits = f32.view(np.uint32).astype(np.uint64)  # room for the carry of the rounding add
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    out[np.isnan(f32)] = 0x7FC0
    return TypedArray(out, DType.BFLOAT16)


def _e4m3_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.uint32)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exponent = (codes >> 3) & 0xF
    mantissa = (codes & 0x7).astype(np.float64)
    normal = (1.0 + mantissa / 8.0) * np.exp2(exponent.astype(np.float64) - 7.0)
    subnormal = (mantissa / 8.0) * 2.0**-6
    values = sign * np.where(exponent == 0, subnormal, normal)
    values[(exponent == 15) & ((codes & 0x7) == 7)] = np.nan  # e4m3fn: no Inf, S.1111.111 is NaN
    return values.astype(np.float32)


_E4M3 = _e4m3_table()


def float8_e4m3(codes: Any) -> TypedArray:
    """uint8 e4m3fn bit patterns as a TypedArray of DType.FLOAT8_E4M3."""
    return TypedArray(np.ascontiguousarray(codes, dtype=np.uint8), DType.FLOAT8_E4M3)


def to_float32(x: Any) -> np.ndarray:
    """A TypedArray (bf16 / fp8 e4m3) or a numpy array as float32 values."""
    if isinstance(x, TypedArray):
        if x.dtype == DType.BFLOAT16:
            return (x.array.astype(np.uint32) << 16).view(np.float32)
        if x.dtype == DType.FLOAT8_E4M3:
            return _E4M3[x.array]
        raise ValueError(f"fusedmoe.host.to_float32: no float view of {x.dtype}")
    return np.asarray(x, dtype=np.float32)
