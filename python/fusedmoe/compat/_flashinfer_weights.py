"""Weights for the FlashInfer-compatible functions: converted once, recognized on every call.

FlashInfer's engines convert checkpoint weights with FlashInfer's own helpers (row shuffles for
its Blackwell kernels) at load time. With fusedmoe, that step calls ``prepare_weights`` here
instead: it takes the checkpoint-layout tensors in FlashInfer's convention ([up; gate] GEMM1 rows,
MajorK or BlockMajorK), converts them once into fusedmoe's kernel layout and records them, so the
trtllm_* functions, given the same tensors, know their layout whatever use_shuffled_weight and
weight_layout they are passed. The record holds the tensors (their memory cannot be reused under
a recorded address); ``release_weights`` drops it.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Tuple

import numpy as np

from .. import functional
from .._arrays import TypedArray, dtype_of, is_torch, shape_of
from .._C import DType, MoeConfig, WeightFormat
from .._C import WeightLayout as FusedLayout
from ..weights import ExpertWeights
from ._flashinfer_conventions import WeightLayout, _enum, activation, gemm1_row_order, unsupported


class Prepared(NamedTuple):
    gemm1_weights: Any
    gemm2_weights: Any
    gemm1_weights_scale: Any
    gemm2_weights_scale: Any
    layout: FusedLayout


_PREPARED: Dict[Tuple[Any, int], Prepared] = {}


def _address(tensor: Any) -> Tuple[Any, int]:
    if is_torch(tensor):
        return (tensor.device, tensor.data_ptr())
    array = tensor.array if isinstance(tensor, TypedArray) else np.asarray(tensor)
    return ("cpu", array.__array_interface__["data"][0])


def _from_block_major_k(tensor: Any, argument: str) -> Any:
    """[E, K / b, Mn, b] -> [E, Mn, K] (a copy), b = 128 bytes of elements."""
    shape = shape_of(tensor)
    if len(shape) != 4:
        raise unsupported(argument, shape, "BlockMajorK weights are [E, K / blockK, Mn, blockK]")
    experts, blocks, rows, block = shape
    if is_torch(tensor):
        return tensor.permute(0, 2, 1, 3).reshape(experts, rows, blocks * block).contiguous()
    array = tensor.array if isinstance(tensor, TypedArray) else tensor
    moved = np.ascontiguousarray(array.transpose(0, 2, 1, 3)).reshape(experts, rows, blocks * block)
    return TypedArray(moved, tensor.dtype) if isinstance(tensor, TypedArray) else moved


def weight_format(gemm1_weights: Any, block_scale: Any) -> WeightFormat:
    dtype = dtype_of(gemm1_weights, "gemm1_weights")
    if dtype == DType.BFLOAT16:
        return WeightFormat.BF16
    if dtype == DType.FLOAT8_E4M3:
        return WeightFormat.FP8_BLOCK128 if block_scale is not None else WeightFormat.FP8_PER_TENSOR
    raise unsupported("gemm1_weights", dtype.name,
                      "expected bf16 or float8_e4m3fn weights (the formats of trtllm_bf16_moe, "
                      "trtllm_fp8_per_tensor_scale_moe and trtllm_fp8_block_scale_moe)")


def prepare_weights(gemm1_weights: Any, gemm2_weights: Any, *, activation_type: int = 3,
                    weight_layout: int = 0, gemm1_weights_scale: Any = None,
                    gemm2_weights_scale: Any = None, backend: Any = None) -> Tuple[Any, Any]:
    """Converts FlashInfer-convention checkpoint weights once; returns (gemm1, gemm2) to store.

    gemm1_weights: [E_l, 2I, H] with rows [up; gate] (gated) or [E_l, I, H]; gemm2_weights:
    [E_l, H, I]; MajorK (0) or BlockMajorK (2, converted to MajorK first). Block-scaled fp8
    passes its fp32 scales, [E_l, N1/128, H/128] and [E_l, H/128, I/128]. Not FlashInfer's
    shuffled layout: pass the weights as the checkpoint holds them.
    """
    layout = _enum(WeightLayout, weight_layout, "weight_layout")
    if layout == WeightLayout.BlockMajorK:
        gemm1_weights = _from_block_major_k(gemm1_weights, "gemm1_weights")
        gemm2_weights = _from_block_major_k(gemm2_weights, "gemm2_weights")
    elif layout != WeightLayout.MajorK:
        raise unsupported("weight_layout", int(layout), "expected MajorK (0) or BlockMajorK (2)")
    experts, hidden, intermediate = shape_of(gemm2_weights)
    chosen = activation(activation_type).activation
    moe = MoeConfig(hidden_size=hidden, intermediate_size=intermediate, num_experts=experts,
                    top_k=1, activation=chosen, gate_up_layout=gemm1_row_order(chosen),
                    weight_format=weight_format(gemm1_weights, gemm1_weights_scale))
    weights = ExpertWeights(w13=gemm1_weights, w2=gemm2_weights, w13_scale=gemm1_weights_scale,
                            w2_scale=gemm2_weights_scale)
    functional.prepare_weights(moe, weights, backend=backend)
    _PREPARED[_address(gemm1_weights)] = Prepared(gemm1_weights, gemm2_weights,
                                                  gemm1_weights_scale, gemm2_weights_scale,
                                                  weights.layout)
    return gemm1_weights, gemm2_weights


def release_weights(gemm1_weights: Any) -> None:
    """Forgets weights recorded by prepare_weights (their memory can then be freed)."""
    _PREPARED.pop(_address(gemm1_weights), None)


def recorded(gemm1_weights: Any) -> Optional[Prepared]:
    return _PREPARED.get(_address(gemm1_weights))


def expert_weights(gemm1_weights: Any, gemm2_weights: Any, *, use_shuffled_weight: bool,
                   weight_layout: Any, **scales: Any) -> ExpertWeights:
    """The ExpertWeights of a call: recorded weights in their prepared layout, else checkpoint
    MajorK weights (what the CPU reference reads)."""
    entry = recorded(gemm1_weights)
    if entry is not None:
        if _address(entry.gemm2_weights) != _address(gemm2_weights):
            raise unsupported("gemm2_weights", "another tensor",
                              "expected the gemm2_weights prepared with these gemm1_weights")
        return ExpertWeights(w13=gemm1_weights, w2=gemm2_weights, layout=entry.layout, **scales)
    if use_shuffled_weight:
        raise unsupported("use_shuffled_weight", True,
                          "FlashInfer's shuffled row order is not a layout fusedmoe reads; pass "
                          "checkpoint weights through fusedmoe.compat.flashinfer.prepare_weights "
                          "(or use_shuffled_weight=False with MajorK weights)")
    layout = _enum(WeightLayout, weight_layout, "weight_layout")
    if layout != WeightLayout.MajorK:
        raise unsupported("weight_layout", int(layout),
                          "unprepared weights must be MajorK (0); prepare_weights converts "
                          "BlockMajorK (2) once")
    return ExpertWeights(w13=gemm1_weights, w2=gemm2_weights, **scales)
