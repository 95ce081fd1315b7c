"""Array-library-neutral plumbing: numpy arrays and torch tensors go through the same code.

numpy has no bfloat16 / float8 / fp4 dtypes, so such host data travels as a ``TypedArray``: the
numpy array holding the bytes (uint16 for bf16, uint8 for fp8/fp4/ue8m0) and the fusedmoe
``DType`` to read them as. The extension accepts it directly (a 2-tuple ``(array, dtype)``).
Torch tensors pass through DLPack as they are, except the float8/fp4 dtypes, which are handed over
as a uint8 view with their ``DType`` so no DLPack float8 support is needed.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _C
from ._C import DType


class TypedArray(NamedTuple):
    """Host memory read as a fusedmoe dtype that numpy lacks (bf16, fp8, fp4x2, ue8m0)."""

    array: np.ndarray
    dtype: DType

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.array.shape

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def rows(self, count: int) -> "TypedArray":
        return TypedArray(self.array[:count], self.dtype)


# Storage numpy uses for each fusedmoe dtype; TypedArray wraps the ones numpy cannot name.
_NUMPY_STORAGE = {
    DType.FLOAT32: np.float32,
    DType.BFLOAT16: np.uint16,
    DType.FLOAT16: np.float16,
    DType.FLOAT8_E4M3: np.uint8,
    DType.FLOAT4_E2M1X2: np.uint8,
    DType.UE8M0: np.uint8,
    DType.INT16: np.int16,
    DType.INT32: np.int32,
    DType.INT64: np.int64,
    DType.UINT8: np.uint8,
}
_NUMPY_NATIVE = {
    np.dtype(np.float32): DType.FLOAT32,
    np.dtype(np.float16): DType.FLOAT16,
    np.dtype(np.int16): DType.INT16,
    np.dtype(np.int32): DType.INT32,
    np.dtype(np.int64): DType.INT64,
    np.dtype(np.uint8): DType.UINT8,
}
_TYPED_IN_NUMPY = (DType.BFLOAT16, DType.FLOAT8_E4M3, DType.FLOAT4_E2M1X2, DType.UE8M0)


def is_torch(x: Any) -> bool:
    """True for a torch.Tensor, without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _torch_dtypes() -> dict:
    import torch

    table = {
        DType.FLOAT32: torch.float32,
        DType.BFLOAT16: torch.bfloat16,
        DType.FLOAT16: torch.float16,
        DType.FLOAT8_E4M3: torch.float8_e4m3fn,
        DType.INT16: torch.int16,
        DType.INT32: torch.int32,
        DType.INT64: torch.int64,
        DType.UINT8: torch.uint8,
    }
    # Newer torch names these; older builds keep them as plain bytes (torch_dtype falls back).
    for dtype, attribute in ((DType.UE8M0, "float8_e8m0fnu"),
                             (DType.FLOAT4_E2M1X2, "float4_e2m1fn_x2")):
        if hasattr(torch, attribute):
            table[dtype] = getattr(torch, attribute)
    return table


_TORCH_DTYPES: Optional[dict] = None
_FROM_TORCH: Optional[dict] = None


def torch_dtype(dtype: DType):
    """The torch dtype that stores `dtype` (uint8 where this torch has no name for it)."""
    global _TORCH_DTYPES, _FROM_TORCH
    if _TORCH_DTYPES is None:
        _TORCH_DTYPES = _torch_dtypes()
        _FROM_TORCH = {value: key for key, value in _TORCH_DTYPES.items()}
    found = _TORCH_DTYPES.get(dtype)
    if found is None:
        import torch

        return torch.uint8
    return found


def dtype_of(x: Any, name: str = "tensor") -> DType:
    """The fusedmoe DType of an array, a tensor or a TypedArray."""
    if isinstance(x, TypedArray):
        return x.dtype
    if is_torch(x):
        torch_dtype(DType.FLOAT32)  # fills the tables
        found = _FROM_TORCH.get(x.dtype)
        if found is None:
            raise _C.InvalidArgumentError(
                f"fusedmoe: argument '{name}': expected a fusedmoe dtype, got torch {x.dtype}")
        return found
    if isinstance(x, np.ndarray):
        found = _NUMPY_NATIVE.get(x.dtype)
        if found is None:
            raise _C.InvalidArgumentError(
                f"fusedmoe: argument '{name}': expected a fusedmoe dtype (bf16/fp8 as "
                f"fusedmoe.TypedArray), got numpy {x.dtype}")
        return found
    raise _C.InvalidArgumentError(
        f"fusedmoe: argument '{name}': expected a numpy array, a torch tensor or a "
        f"fusedmoe.TypedArray, got {type(x).__name__}")


def shape_of(x: Any, name: str = "tensor") -> Tuple[int, ...]:
    shape = getattr(x, "shape", None)
    if shape is None:
        raise _C.InvalidArgumentError(
            f"fusedmoe: argument '{name}': expected a numpy array, a torch tensor or a "
            f"fusedmoe.TypedArray, got {type(x).__name__}")
    return tuple(shape)


def is_cuda(x: Any) -> bool:
    return is_torch(x) and x.is_cuda


def empty(like: Any, shape: Sequence[int], dtype: DType):
    """An uninitialized array of `dtype` with the library and device of `like`."""
    shape = tuple(int(s) for s in shape)
    if is_torch(like):
        import torch

        return torch.empty(shape, dtype=torch_dtype(dtype), device=like.device)
    array = np.empty(shape, dtype=_NUMPY_STORAGE[dtype])
    return TypedArray(array, dtype) if dtype in _TYPED_IN_NUMPY else array


def zeros(like: Any, shape: Sequence[int], dtype: DType):
    """Like empty(), zero-filled."""
    out = empty(like, shape, dtype)
    (out.array if isinstance(out, TypedArray) else out)[...] = 0
    return out


def workspace(like: Any, nbytes: int):
    """A byte buffer on the device of `like`, or None when nothing is needed."""
    return empty(like, (nbytes,), DType.UINT8) if nbytes > 0 else None


def to_c(x: Any):
    """What the extension takes for one tensor argument (see python/src/tensor_views.h)."""
    if is_torch(x) and x.element_size() == 1:
        # fp8 / ue8m0 / fp4x2: the bytes with their meaning. Others (int8, bool) go as they are
        # and the extension names the argument it cannot take.
        torch_dtype(DType.UINT8)  # fills the tables
        dtype = _FROM_TORCH.get(x.dtype)
        if dtype is not None and dtype != DType.UINT8:
            import torch

            return (x.view(torch.uint8), dtype)
    return x


def stream_of(like: Any, stream: Optional[int]) -> int:
    """The cudaStream_t to run on: the given one, else torch's current stream for CUDA tensors."""
    if stream is not None:
        return int(stream)
    if is_cuda(like):
        import torch

        return torch.cuda.current_stream(like.device).cuda_stream
    return 0


def rows(x: Any, count: int):
    """The first `count` rows of x (a view)."""
    return x.rows(count) if isinstance(x, TypedArray) else x[:count]


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)
