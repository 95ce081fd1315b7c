"""FlashInfer's trtllm MoE conventions, mapped onto fusedmoe's, one table per convention.

Read from FlashInfer fb28d72 (flashinfer/tllm_enums.py, flashinfer/fused_moe/core.py and the
routing runner): enum values are theirs, so engines can pass FlashInfer's ints or these enums.
Everything that has no exact fusedmoe equivalent raises UnsupportedError naming the argument.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple, Optional

import numpy as np

from .. import _C
from .._arrays import TypedArray, is_torch
from .._C import Activation, ActivationParams, DType, GateUpLayout, RoutingConfig, RoutingMethod


class RoutingMethodType(enum.IntEnum):
    Default = 0           # softmax over all experts -> top-k, no renormalization
    Renormalize = 1       # top-k of the logits -> softmax over the k
    DeepSeekV3 = 2        # sigmoid, select on sigmoid + bias, grouped; w * rsf / (sum + 1e-20)
    Llama4 = 3            # top-1 -> sigmoid
    RenormalizeNaive = 4  # softmax -> top-k -> divide by the sum (FlashInfer runs it as 1)
    TopK = 5              # top-k of the raw logits, raw logits as weights
    SigmoidRenorm = 6     # sigmoid -> top-k -> divide by the sum (if norm_topk_prob)
    MiniMax2 = 7          # DeepSeekV3 without groups
    Sigmoid = 8           # sigmoid -> top-k
    TopKSigmoid = 9       # top-k of the logits -> sigmoid of the k
    Unspecified = 10


class ActivationType(enum.IntEnum):
    Gelu = 0
    Relu = 1
    Silu = 2
    Swiglu = 3
    Geglu = 4
    SwigluBias = 5
    Relu2 = 6
    SwigluStep = 7
    GegluTanh = 8
    Identity = 9
    Situ = 10


class WeightLayout(enum.IntEnum):
    MajorK = 0       # [E, Mn, K]: fusedmoe's checkpoint layout
    MajorMn = 1      # [E, K, Mn]
    BlockMajorK = 2  # [E, K / blockK, Mn, blockK], blockK = 128 bytes


class Fp8QuantizationType(enum.IntEnum):
    NoneFp8 = 0
    DeepSeekFp8 = 1  # e4m3, fp32 scales: weights 128x128 blocks, activations 1x128 groups
    MxFp8 = 2


def unsupported(argument: str, given: Any, why: str) -> _C.UnsupportedError:
    return _C.UnsupportedError(
        f"fusedmoe.compat.flashinfer: argument '{argument}': {why}, got {given!r}")


def _enum(cls, value: Any, argument: str):
    try:
        return cls(int(value))
    except (ValueError, TypeError):
        raise _C.InvalidArgumentError(
            f"fusedmoe.compat.flashinfer: argument '{argument}': expected a FlashInfer "
            f"{cls.__name__} value, got {value!r}") from None


# ---- routing --------------------------------------------------------------------------------
class Routing(NamedTuple):
    config: RoutingConfig
    uses_bias: bool    # routing_bias is the selection bias (DeepSeekV3, MiniMax2)


def fused_routing(routing_method_type: Any, *, n_group: Optional[int], topk_group: Optional[int],
                  routed_scaling_factor: Optional[float], norm_topk_prob: bool) -> Routing:
    """FlashInfer's routing for logits-in calls, as a fusedmoe RoutingConfig.

    routed_scaling_factor: FlashInfer multiplies it into the routing weights in-kernel for
    DeepSeekV3 and MiniMax2 and ignores it for the other methods. fusedmoe applies it once, in
    combine: the same output, and the factor is kept only for those two methods.
    """
    method = _enum(RoutingMethodType, routing_method_type, "routing_method_type")
    rsf = 1.0 if routed_scaling_factor is None else float(routed_scaling_factor)
    groups = dict(n_group=int(n_group or 1), topk_group=int(topk_group or 1))
    R = RoutingMethodType
    if method == R.Default:
        return Routing(RoutingConfig(method=RoutingMethod.SOFTMAX_TOPK, renormalize=False), False)
    if method == R.Renormalize:
        return Routing(RoutingConfig(method=RoutingMethod.TOPK_SOFTMAX), False)
    if method == R.RenormalizeNaive:
        return Routing(RoutingConfig(method=RoutingMethod.SOFTMAX_TOPK, renormalize=True), False)
    if method == R.DeepSeekV3:  # always renormalized: FlashInfer ignores norm_topk_prob here
        return Routing(RoutingConfig(method=RoutingMethod.SIGMOID_GROUPED_TOPK, renormalize=True,
                                     routed_scaling_factor=rsf, **groups), True)
    if method == R.MiniMax2:
        return Routing(RoutingConfig(method=RoutingMethod.SIGMOID_GROUPED_TOPK, renormalize=True,
                                     routed_scaling_factor=rsf), True)
    if method == R.Llama4:
        return Routing(RoutingConfig(method=RoutingMethod.LLAMA4_TOP1_SIGMOID,
                                     renormalize=False), False)
    if method == R.SigmoidRenorm:
        return Routing(RoutingConfig(method=RoutingMethod.SIGMOID_TOPK,
                                     renormalize=bool(norm_topk_prob)), False)
    if method in (R.Sigmoid, R.TopKSigmoid):
        # sigmoid is monotonic: top-k of the logits and of their sigmoids pick the same experts,
        # so "top-k -> sigmoid" is "sigmoid -> top-k" without renormalization.
        return Routing(RoutingConfig(method=RoutingMethod.SIGMOID_TOPK, renormalize=False), False)
    if method == R.TopK:
        raise unsupported("routing_method_type", int(method),
                          "TopK (5) weighs experts by their raw logits, which fusedmoe's routing "
                          "does not do; route yourself and call the *_routed_moe function")
    raise unsupported("routing_method_type", int(method), "Unspecified (10) names no method")


def check_routed_method(routing_method_type: Any) -> RoutingMethodType:
    """Pre-routed calls ignore the method (the ids and weights are used as given) but still
    reject values FlashInfer does not define."""
    return _enum(RoutingMethodType, routing_method_type, "routing_method_type")


# ---- activation -----------------------------------------------------------------------------
class ActivationChoice(NamedTuple):
    activation: Activation
    params: ActivationParams


def _uniform_value(tensor: Any, argument: str) -> float:
    """The one value of a per-expert [E_l] parameter tensor; fusedmoe takes a scalar.

    Reading it syncs with the device: call once, before CUDA graph capture (compat.flashinfer
    caches the value per tensor, so later calls do not read it again).
    """
    values = tensor.float().cpu().numpy() if is_torch(tensor) else np.asarray(tensor, np.float32)
    values = values.reshape(-1)
    if values.size == 0 or not np.all(values == values[0]):
        raise unsupported(argument, f"values {values[:4].tolist()}...",
                          "fusedmoe takes one value for every expert; per-expert values differ")
    return float(values[0])


_UNIFORM_CACHE: dict = {}


def _cached_uniform(tensor: Any, argument: str) -> float:
    if not is_torch(tensor):
        return _uniform_value(tensor, argument)
    # The in-place version counter is part of the key: rewritten values are read again.
    key = (argument, tensor.device, tensor.data_ptr(), tuple(tensor.shape), tensor._version)
    if key not in _UNIFORM_CACHE:
        _UNIFORM_CACHE[key] = _uniform_value(tensor, argument)
    return _UNIFORM_CACHE[key]


def activation(activation_type: Any, gemm1_alpha: Any = None, gemm1_beta: Any = None,
               gemm1_clamp_limit: Any = None) -> ActivationChoice:
    """FlashInfer's activation_type (+ SwiGLU-OAI per-expert alpha/beta/limit) -> fusedmoe."""
    act = _enum(ActivationType, activation_type, "activation_type")
    oai = any(t is not None for t in (gemm1_alpha, gemm1_beta, gemm1_clamp_limit))
    if oai and act != ActivationType.Swiglu:
        raise unsupported("gemm1_alpha", act.name,
                          "gemm1_alpha/beta/clamp_limit go with activation_type Swiglu (3)")
    if act == ActivationType.Swiglu and oai:
        # FlashInfer: X2 * sigmoid(alpha * X2) * (X1 + beta), X1 = up clamped to +-limit,
        # X2 = gate clamped above at limit; defaults alpha 1, beta 0, no clamp.
        params = ActivationParams(
            alpha=_cached_uniform(gemm1_alpha, "gemm1_alpha") if gemm1_alpha is not None else 1.0,
            beta=_cached_uniform(gemm1_beta, "gemm1_beta") if gemm1_beta is not None else 0.0,
            clamp_limit=(_cached_uniform(gemm1_clamp_limit, "gemm1_clamp_limit")
                         if gemm1_clamp_limit is not None else float("inf")))
        return ActivationChoice(Activation.SWIGLU_OAI, params)
    table = {
        ActivationType.Swiglu: Activation.SWIGLU,
        ActivationType.GegluTanh: Activation.GEGLU_TANH,
        ActivationType.Relu2: Activation.RELU2,
        ActivationType.Silu: Activation.SILU,
    }
    if act in table:
        return ActivationChoice(table[act], ActivationParams())
    raise unsupported("activation_type", f"{int(act)} ({act.name})",
                      "fusedmoe runs Swiglu (3, with optional gemm1_alpha/beta/clamp_limit), "
                      "GegluTanh (8), Relu2 (6) and Silu (2); Gelu/Geglu use a GELU variant "
                      "fusedmoe does not pin down, the others have no fusedmoe equivalent")


def gemm1_row_order(chosen: Activation) -> GateUpLayout:
    """FlashInfer's GEMM1 holds [up; gate] rows (w3 then w1) for gated activations; a non-gated
    GEMM1 holds only its I rows, which fusedmoe describes as GATE_THEN_UP."""
    return (GateUpLayout.UP_THEN_GATE if _C.activation_is_gated(chosen)
            else GateUpLayout.GATE_THEN_UP)


# ---- pre-routed top-k -----------------------------------------------------------------------
def unpack_topk(packed: Any):
    """FlashInfer's packed int32 [T, k] (expert_id << 16 | bf16 weight bits) -> (ids, weights).

    ids are int32 (the arithmetic shift keeps -1 as -1); weights are bf16 (the low 16 bits).
    """
    if is_torch(packed):
        import torch

        if packed.dtype != torch.int32:
            raise _C.InvalidArgumentError(
                "fusedmoe.compat.flashinfer: argument 'topk_ids': expected packed int32 "
                f"(expert_id << 16 | bf16 weight), got {packed.dtype}")
        ids = packed >> 16
        # Little-endian: the low half-word of each int32 is the even int16 of the pair.
        halves = packed.contiguous().view(torch.int16)
        weights = halves[..., 0::2].view(torch.bfloat16).contiguous()
        return ids, weights
    packed = np.asarray(packed)
    if packed.dtype != np.int32:
        raise _C.InvalidArgumentError(
            "fusedmoe.compat.flashinfer: argument 'topk_ids': expected packed int32 "
            f"(expert_id << 16 | bf16 weight), got {packed.dtype}")
    ids = (packed >> 16).astype(np.int32)
    weights = TypedArray((packed & 0xFFFF).astype(np.uint16), DType.BFLOAT16)
    return ids, weights
