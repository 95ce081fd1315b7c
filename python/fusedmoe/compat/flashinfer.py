"""FlashInfer's trtllm fused-MoE functions, with their names and keyword signatures, on fusedmoe.

A serving engine's "flashinfer_trtllm" MoE runner calls these instead of
``flashinfer.fused_moe.trtllm_*`` and runs on Hopper. The one change is at weight-load time:
``prepare_weights`` converts the checkpoint weights once instead of FlashInfer's shuffle helpers.

Conventions mapped (docs/PYTHON.md has the table):
  * routing_method_type ints -> fusedmoe RoutingConfig (_flashinfer_conventions.fused_routing);
    TopK (5) and Unspecified (10) raise for logits-in calls.
  * GEMM1 rows [up; gate] -> GateUpLayout.UP_THEN_GATE.
  * routed_scaling_factor: FlashInfer applies it in-kernel to DeepSeekV3 / MiniMax2 routing
    weights and ignores it otherwise and in every *_routed_moe call; fusedmoe applies the same
    factor once, in combine, for those two methods only, and never for routed calls (the
    caller's weights are used as given).
  * Global expert ids with local_expert_offset / local_num_experts: the same in fusedmoe.
  * routing_replay_out (int16 [>= T, k]) -> routed_experts_out, rows [0, T) written; routed
    calls copy their ids into it.
  * Packed int32 topk_ids (id << 16 | bf16 weight) are unpacked; (ids, weights) pairs pass as is.
  * Llama4 routing weights scale the expert input in trtllm_fp8_per_tensor_scale_moe when
    use_routing_scales_on_input is set, and the output otherwise (FlashInfer's bf16 and
    block-scale launchers apply them on the output).
  * Accepted and ignored: enable_pdl; tune_max_num_tokens sizes the plan's workspace.
Unsupported options raise fusedmoe.UnsupportedError naming the argument: do_finalize=False,
FlashInfer-shuffled weights, MxFp8, fused shared experts, LoRA deltas, TopK routing,
per-expert SwiGLU parameters that differ between experts.
The functions take torch tensors (CUDA: sm90 kernels; CPU: the reference) and, for tests, numpy
arrays with bf16/fp8 data as fusedmoe.TypedArray.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from .. import _C, functional, host
from .._arrays import TypedArray, dtype_of, is_torch, rows, shape_of, workspace as alloc_workspace
from .._C import (ActivationQuant, DType, MoeConfig, RouterWeightApply,
                   RoutingConfig, WeightFormat)
from ..plan import backend_for, make_plan
from ._flashinfer_conventions import (ActivationType, Fp8QuantizationType, RoutingMethodType,
                                      WeightLayout, _enum, activation, check_routed_method,
                                      fused_routing, gemm1_row_order, unpack_topk, unsupported)
from ._flashinfer_weights import expert_weights, prepare_weights, release_weights

__all__ = [
    "ActivationType", "Fp8QuantizationType", "RoutingMethodType", "WeightLayout",
    "prepare_weights", "release_weights", "trtllm_bf16_moe", "trtllm_bf16_routed_moe",
    "trtllm_fp8_block_scale_moe", "trtllm_fp8_block_scale_routed_moe",
    "trtllm_fp8_per_tensor_scale_moe", "trtllm_fp8_per_tensor_scale_routed_moe",
]

# fusedmoe argument names in error messages -> the FlashInfer argument they came from.
_ARGUMENT_NAMES = {
    "inputs.hidden_states": "hidden_states",
    "inputs.routing.router_logits": "routing_logits",
    "inputs.routing.correction_bias": "routing_bias",
    "inputs.routing.routed_experts_out": "routing_replay_out",
    "inputs.topk_ids": "topk_ids",
    "inputs.topk_weights": "topk_ids",
    "weights.w13": "gemm1_weights",
    "weights.w2": "gemm2_weights",
    "weights.w13_scale": "gemm1_weights_scale",
    "weights.w2_scale": "gemm2_weights_scale",
    "output": "output",
    "moe.hidden_size": "hidden_states",
    "moe.intermediate_size": "intermediate_size",
    "moe.num_experts": "num_experts",
    "moe.top_k": "top_k",
    "moe.local_expert_offset": "local_expert_offset",
    "moe.num_local_experts": "local_num_experts",
    "routing.n_group": "n_group",
    "routing.topk_group": "topk_group",
}


def _renamed(error: _C.FusedMoeError) -> _C.FusedMoeError:
    message = str(error)
    for ours, theirs in _ARGUMENT_NAMES.items():
        message = message.replace(f"argument '{ours}'", f"argument '{theirs}' (fusedmoe: {ours})")
    return type(error)(message)


# ---- plans: one per configuration, device and token bucket, with its workspace --------------
_PLANS: Dict[tuple, Tuple[Any, Any]] = {}


def _device_key(tensor: Any) -> Any:
    return tensor.device if is_torch(tensor) else "cpu"


def _max_tokens(num_tokens: int, tune_max_num_tokens: int) -> int:
    bucket = max(int(tune_max_num_tokens), 1)
    while bucket < num_tokens:
        bucket *= 2
    return bucket


def _plan(moe_fields: dict, routing: RoutingConfig, like: Any, num_tokens: int,
          tune_max_num_tokens: int):
    routing_key = (routing.method, routing.renormalize, routing.n_group, routing.topk_group,
                   routing.routed_scaling_factor)
    params = moe_fields["activation_params"]
    moe_key = tuple((k, (params.alpha, params.beta, params.clamp_limit) if k == "activation_params"
                     else v) for k, v in sorted(moe_fields.items()))
    max_tokens = _max_tokens(num_tokens, tune_max_num_tokens)
    key = (moe_key, routing_key, _device_key(like), max_tokens)
    found = _PLANS.get(key)
    if found is None:
        plan = make_plan(MoeConfig(**moe_fields), routing, backend=backend_for(like),
                         max_num_tokens=max_tokens)
        found = (plan, alloc_workspace(like, plan.workspace_bytes))
        _PLANS[key] = found
    return found


# ---- argument conversions ------------------------------------------------------------------
def _require_finalize(do_finalize: bool) -> None:
    if not do_finalize:
        raise unsupported("do_finalize", False,
                          "fusedmoe always finalizes (a fixed-order combine into `output`)")


def _reject(argument: str, value: Any, why: str) -> None:
    if value is not None:
        raise unsupported(argument, "a tensor", why)


def _selection_bias(uses_bias: bool, routing_bias: Any, routing_method_type: Any) -> Any:
    if routing_bias is not None and not uses_bias:
        raise unsupported("routing_bias", "a tensor",
                          f"routing_method_type {int(routing_method_type)} takes no selection "
                          "bias (FlashInfer ignores it; fusedmoe refuses rather than drop it)")
    return routing_bias if uses_bias else None


def _to_bf16(values: Any) -> Any:
    if is_torch(values):
        import torch

        return values.to(torch.bfloat16)
    return host.bfloat16(values)


def _fp8_to_bf16(hidden_states: Any) -> Any:
    """e4m3 -> bf16 is exact (3 mantissa bits fit in 7; the range fits)."""
    if is_torch(hidden_states):
        return _to_bf16(hidden_states.float())
    return _to_bf16(host.to_float32(hidden_states))


def _dequantize_groups(hidden_states: Any, hidden_states_scale: Any) -> Any:
    """DeepSeek fp8 activations (e4m3 [T, H], fp32 scales [H/128, T]) -> bf16 [T, H].

    fusedmoe quantizes bf16 activations itself, per 1x128 group: this dequantization is exact
    in fp32 and rounded once to bf16, and the re-quantization lands on the same e4m3 values up to
    that rounding (exactly, with power-of-two scales)."""
    tokens, hidden = shape_of(hidden_states)
    if is_torch(hidden_states):
        scale = hidden_states_scale.t().float().repeat_interleave(128, dim=1)[:, :hidden]
        return _to_bf16(hidden_states.float() * scale)
    scale = np.repeat(np.asarray(hidden_states_scale, np.float32).T, 128, axis=1)[:, :hidden]
    return _to_bf16(host.to_float32(hidden_states) * scale)


def _float32(values: Any) -> Any:
    return values.float() if is_torch(values) else np.asarray(values, np.float32)


def _routed_inputs(topk_ids: Any) -> Tuple[Any, Any]:
    if isinstance(topk_ids, tuple) and not isinstance(topk_ids, TypedArray):
        if len(topk_ids) != 2:
            raise _C.InvalidArgumentError(
                "fusedmoe.compat.flashinfer: argument 'topk_ids': expected packed int32 or a "
                f"(topk_ids, topk_weights) pair, got a tuple of {len(topk_ids)}")
        return topk_ids
    return unpack_topk(topk_ids)


def _copy_replay(routing_replay_out: Any, topk_ids: Any) -> None:
    if routing_replay_out is None:
        return
    destination = rows(routing_replay_out, shape_of(topk_ids)[0])
    if is_torch(destination):
        destination.copy_(topk_ids)
    else:
        destination[...] = topk_ids


def _moe_fields(*, hidden_states: Any, num_experts: int, top_k: int, intermediate_size: int,
                local_expert_offset: int, local_num_experts: int, activation_type: Any,
                gemm1_alpha: Any = None, gemm1_beta: Any = None, gemm1_clamp_limit: Any = None,
                weight_format: WeightFormat, activation_quant: ActivationQuant,
                on_input: bool) -> dict:
    chosen = activation(activation_type, gemm1_alpha, gemm1_beta, gemm1_clamp_limit)
    return dict(
        hidden_size=int(shape_of(hidden_states)[1]), intermediate_size=int(intermediate_size),
        num_experts=int(num_experts), top_k=int(top_k),
        local_expert_offset=int(local_expert_offset), num_local_experts=int(local_num_experts),
        activation=chosen.activation, activation_params=chosen.params,
        gate_up_layout=gemm1_row_order(chosen.activation), weight_format=weight_format,
        activation_quant=activation_quant,
        router_weight_apply=RouterWeightApply.ON_INPUT if on_input else RouterWeightApply.ON_OUTPUT)


def _run_fused(moe_fields: dict, routing: RoutingConfig, *, hidden_states: Any, routing_logits: Any,
               correction_bias: Any, weights: Any, routing_replay_out: Any, output: Any,
               tune_max_num_tokens: int) -> Any:
    tokens = shape_of(hidden_states)[0]
    try:
        plan, workspace = _plan(moe_fields, routing, hidden_states, tokens, tune_max_num_tokens)
        replay = rows(routing_replay_out, tokens) if routing_replay_out is not None else None
        return functional.fused(plan, hidden_states, routing_logits, weights,
                                correction_bias=correction_bias, routed_experts_out=replay,
                                output=output, workspace=workspace)
    except _C.FusedMoeError as error:
        raise _renamed(error) from error


def _run_routed(moe_fields: dict, *, hidden_states: Any, topk_ids: Any, weights: Any,
                routing_replay_out: Any, output: Any, tune_max_num_tokens: int) -> Any:
    ids, topk_weights = _routed_inputs(topk_ids)
    tokens = shape_of(hidden_states)[0]
    try:
        # Pre-routed: weights as given, no routed_scaling_factor (RoutingConfig default 1.0).
        plan, workspace = _plan(moe_fields, RoutingConfig(), hidden_states, tokens,
                                tune_max_num_tokens)
        out = functional.routed(plan, hidden_states, ids, topk_weights, weights, output=output,
                                workspace=workspace)
    except _C.FusedMoeError as error:
        raise _renamed(error) from error
    _copy_replay(routing_replay_out, ids)
    return out


# ---- BF16 ------------------------------------------------------------------------------------
def trtllm_bf16_moe(
    routing_logits: Any, routing_bias: Optional[Any], hidden_states: Any, gemm1_weights: Any,
    gemm2_weights: Any, num_experts: int, top_k: int, n_group: Optional[int],
    topk_group: Optional[int], intermediate_size: int, local_expert_offset: int,
    local_num_experts: int, routed_scaling_factor: Optional[float] = None,
    routing_method_type: int = 0, use_shuffled_weight: bool = True,
    weight_layout: int = WeightLayout.BlockMajorK, do_finalize: bool = True,
    enable_pdl: bool = True, tune_max_num_tokens: int = 8192,
    activation_type: int = ActivationType.Swiglu.value, norm_topk_prob: bool = True,
    routing_replay_out: Optional[Any] = None, gemm1_alpha: Optional[Any] = None,
    gemm1_beta: Optional[Any] = None, gemm1_clamp_limit: Optional[Any] = None,
    output: Optional[Any] = None,
) -> Any:
    """FlashInfer's trtllm_bf16_moe: bf16 hidden states and weights, logits in."""
    _require_finalize(do_finalize)
    routing = fused_routing(routing_method_type, n_group=n_group, topk_group=topk_group,
                            routed_scaling_factor=routed_scaling_factor,
                            norm_topk_prob=norm_topk_prob)
    weights = expert_weights(gemm1_weights, gemm2_weights, use_shuffled_weight=use_shuffled_weight,
                             weight_layout=weight_layout)
    fields = _moe_fields(
        hidden_states=hidden_states, num_experts=num_experts, top_k=top_k,
        intermediate_size=intermediate_size, local_expert_offset=local_expert_offset,
        local_num_experts=local_num_experts, activation_type=activation_type,
        gemm1_alpha=gemm1_alpha, gemm1_beta=gemm1_beta, gemm1_clamp_limit=gemm1_clamp_limit,
        weight_format=WeightFormat.BF16, activation_quant=ActivationQuant.NONE, on_input=False)
    return _run_fused(fields, routing.config, hidden_states=hidden_states,
                      routing_logits=routing_logits,
                      correction_bias=_selection_bias(routing.uses_bias, routing_bias,
                                                      routing_method_type),
                      weights=weights, routing_replay_out=routing_replay_out, output=output,
                      tune_max_num_tokens=tune_max_num_tokens)


def trtllm_bf16_routed_moe(
    topk_ids: Union[Any, Tuple[Any, Any]], hidden_states: Any, gemm1_weights: Any,
    gemm2_weights: Any, num_experts: int, top_k: int, n_group: Optional[int],
    topk_group: Optional[int], intermediate_size: int, local_expert_offset: int,
    local_num_experts: int, routed_scaling_factor: Optional[float] = None,
    routing_method_type: int = 0, use_shuffled_weight: bool = True,
    weight_layout: int = WeightLayout.BlockMajorK, do_finalize: bool = True,
    enable_pdl: bool = True, gemm1_lora_delta: Optional[Any] = None,
    tune_max_num_tokens: int = 8192, activation_type: int = ActivationType.Swiglu.value,
    routing_replay_out: Optional[Any] = None, gemm1_alpha: Optional[Any] = None,
    gemm1_beta: Optional[Any] = None, gemm1_clamp_limit: Optional[Any] = None,
    output: Optional[Any] = None,
) -> Any:
    """FlashInfer's trtllm_bf16_routed_moe: packed int32 topk_ids or (ids, weights), weights used
    as given (routed_scaling_factor and routing_method_type do not change the result)."""
    _require_finalize(do_finalize)
    _reject("gemm1_lora_delta", gemm1_lora_delta, "fusedmoe has no LoRA path")
    check_routed_method(routing_method_type)
    weights = expert_weights(gemm1_weights, gemm2_weights, use_shuffled_weight=use_shuffled_weight,
                             weight_layout=weight_layout)
    fields = _moe_fields(
        hidden_states=hidden_states, num_experts=num_experts, top_k=top_k,
        intermediate_size=intermediate_size, local_expert_offset=local_expert_offset,
        local_num_experts=local_num_experts, activation_type=activation_type,
        gemm1_alpha=gemm1_alpha, gemm1_beta=gemm1_beta, gemm1_clamp_limit=gemm1_clamp_limit,
        weight_format=WeightFormat.BF16, activation_quant=ActivationQuant.NONE, on_input=False)
    return _run_routed(fields, hidden_states=hidden_states, topk_ids=topk_ids, weights=weights,
                       routing_replay_out=routing_replay_out, output=output,
                       tune_max_num_tokens=tune_max_num_tokens)


# ---- FP8 per-tensor ------------------------------------------------------------------------
def _per_tensor_inputs(hidden_states: Any, output1_scales_scalar: Any,
                       output1_scales_gate_scalar: Any, output2_scales_scalar: Any):
    """FlashInfer folds the activation scales into three per-expert scalars:
    out1 = w13_s * a1_s / a2_s, gate = w13_s * a1_s, out2 = a2_s * w2_s. fusedmoe keeps them
    apart: hidden states go in as bf16 (exact for e4m3) with a1_scale = 1, w13_scale = gate,
    a2_scale = gate / out1 and w2_scale = out2 / a2_scale give the same products."""
    if dtype_of(hidden_states, "hidden_states") != DType.FLOAT8_E4M3:
        raise unsupported("hidden_states", dtype_of(hidden_states).name,
                          "expected float8_e4m3fn: the output scales fold a1_scale, so only "
                          "already-quantized hidden states keep their meaning")
    gate = _float32(output1_scales_gate_scalar)
    a2 = gate / _float32(output1_scales_scalar)
    w2 = _float32(output2_scales_scalar) / a2
    ones = gate.new_ones(1) if is_torch(gate) else np.ones(1, np.float32)
    return _fp8_to_bf16(hidden_states), dict(w13_scale=gate, w2_scale=w2, a1_scale=ones,
                                             a2_scale=a2)


def _per_tensor_setup(hidden_states: Any, gemm1_weights: Any, gemm2_weights: Any,
                      output1_scales_scalar: Any, output1_scales_gate_scalar: Any,
                      output2_scales_scalar: Any, *, num_experts: int, top_k: int,
                      intermediate_size: int, local_expert_offset: int, local_num_experts: int,
                      activation_type: int, use_routing_scales_on_input: bool):
    """What the fused and routed FP8 per-tensor entries share: bf16 hidden states, the expert
    weights with unfolded scales, and the layer's fields."""
    hidden_bf16, scales = _per_tensor_inputs(hidden_states, output1_scales_scalar,
                                             output1_scales_gate_scalar, output2_scales_scalar)
    weights = expert_weights(gemm1_weights, gemm2_weights, use_shuffled_weight=False,
                             weight_layout=WeightLayout.MajorK, **scales)
    fields = _moe_fields(
        hidden_states=hidden_states, num_experts=num_experts, top_k=top_k,
        intermediate_size=intermediate_size, local_expert_offset=local_expert_offset,
        local_num_experts=local_num_experts, activation_type=activation_type,
        weight_format=WeightFormat.FP8_PER_TENSOR, activation_quant=ActivationQuant.FP8_PER_TENSOR,
        on_input=bool(use_routing_scales_on_input))
    return hidden_bf16, weights, fields


def trtllm_fp8_per_tensor_scale_moe(
    routing_logits: Any, routing_bias: Optional[Any], hidden_states: Any, gemm1_weights: Any,
    output1_scales_scalar: Any, output1_scales_gate_scalar: Any, gemm2_weights: Any,
    output2_scales_scalar: Any, num_experts: int, top_k: int, n_group: Optional[int],
    topk_group: Optional[int], intermediate_size: int, local_expert_offset: int,
    local_num_experts: int, routed_scaling_factor: Optional[float],
    use_routing_scales_on_input: bool, routing_method_type: int = 0, do_finalize: bool = True,
    enable_pdl: Optional[bool] = None, tune_max_num_tokens: int = 8192,
    activation_type: int = ActivationType.Swiglu.value, norm_topk_prob: bool = True,
    routing_replay_out: Optional[Any] = None, output: Optional[Any] = None,
) -> Any:
    """FlashInfer's trtllm_fp8_per_tensor_scale_moe: e4m3 hidden states and weights."""
    _require_finalize(do_finalize)
    routing = fused_routing(routing_method_type, n_group=n_group, topk_group=topk_group,
                            routed_scaling_factor=routed_scaling_factor,
                            norm_topk_prob=norm_topk_prob)
    hidden_bf16, weights, fields = _per_tensor_setup(
        hidden_states, gemm1_weights, gemm2_weights, output1_scales_scalar,
        output1_scales_gate_scalar, output2_scales_scalar, num_experts=num_experts, top_k=top_k,
        intermediate_size=intermediate_size, local_expert_offset=local_expert_offset,
        local_num_experts=local_num_experts, activation_type=activation_type,
        use_routing_scales_on_input=use_routing_scales_on_input)
    return _run_fused(fields, routing.config, hidden_states=hidden_bf16,
                      routing_logits=routing_logits,
                      correction_bias=_selection_bias(routing.uses_bias, routing_bias,
                                                      routing_method_type),
                      weights=weights, routing_replay_out=routing_replay_out, output=output,
                      tune_max_num_tokens=tune_max_num_tokens)


def trtllm_fp8_per_tensor_scale_routed_moe(
    topk_ids: Union[Any, Tuple[Any, Any]], routing_bias: Optional[Any], hidden_states: Any,
    gemm1_weights: Any, output1_scales_scalar: Any, output1_scales_gate_scalar: Any,
    gemm2_weights: Any, output2_scales_scalar: Any, num_experts: int, top_k: int,
    n_group: Optional[int], topk_group: Optional[int], intermediate_size: int,
    local_expert_offset: int, local_num_experts: int, routed_scaling_factor: Optional[float],
    use_routing_scales_on_input: bool, routing_method_type: int = 0, do_finalize: bool = True,
    enable_pdl: Optional[bool] = None, tune_max_num_tokens: int = 8192,
    activation_type: int = ActivationType.Swiglu.value,
    routing_replay_out: Optional[Any] = None, output: Optional[Any] = None,
) -> Any:
    """FlashInfer's trtllm_fp8_per_tensor_scale_routed_moe (routing_bias is unused: pre-routed)."""
    _require_finalize(do_finalize)
    check_routed_method(routing_method_type)
    hidden_bf16, weights, fields = _per_tensor_setup(
        hidden_states, gemm1_weights, gemm2_weights, output1_scales_scalar,
        output1_scales_gate_scalar, output2_scales_scalar, num_experts=num_experts, top_k=top_k,
        intermediate_size=intermediate_size, local_expert_offset=local_expert_offset,
        local_num_experts=local_num_experts, activation_type=activation_type,
        use_routing_scales_on_input=use_routing_scales_on_input)
    return _run_routed(fields, hidden_states=hidden_bf16, topk_ids=topk_ids, weights=weights,
                       routing_replay_out=routing_replay_out, output=output,
                       tune_max_num_tokens=tune_max_num_tokens)


# ---- FP8 block-scale (DeepSeek) ------------------------------------------------------------
def _block_scale_hidden(hidden_states: Any, hidden_states_scale: Any,
                        fp8_quantization_type: Any) -> Any:
    kind = _enum(Fp8QuantizationType, fp8_quantization_type, "fp8_quantization_type")
    if kind != Fp8QuantizationType.DeepSeekFp8:
        raise unsupported("fp8_quantization_type", f"{int(kind)} ({kind.name})",
                          "fusedmoe runs DeepSeekFp8 (1): e4m3 with fp32 128x128 / 1x128 scales")
    if dtype_of(hidden_states, "hidden_states") == DType.FLOAT8_E4M3:
        if hidden_states_scale is None:
            raise _C.InvalidArgumentError(
                "fusedmoe.compat.flashinfer: argument 'hidden_states_scale': expected fp32 "
                "[hidden_size // 128, num_tokens] for float8_e4m3fn hidden states, got None")
        return _dequantize_groups(hidden_states, hidden_states_scale)
    return hidden_states  # bf16 / fp16: fusedmoe quantizes per 1x128 group itself


def _block_scale_fields(hidden_states, num_experts, top_k, intermediate_size, local_expert_offset,
                        local_num_experts, activation_type, gemm1_alpha, gemm1_beta,
                        gemm1_clamp_limit) -> dict:
    return _moe_fields(
        hidden_states=hidden_states, num_experts=num_experts, top_k=top_k,
        intermediate_size=intermediate_size, local_expert_offset=local_expert_offset,
        local_num_experts=local_num_experts, activation_type=activation_type,
        gemm1_alpha=gemm1_alpha, gemm1_beta=gemm1_beta, gemm1_clamp_limit=gemm1_clamp_limit,
        weight_format=WeightFormat.FP8_BLOCK128, activation_quant=ActivationQuant.FP8_GROUP128,
        on_input=False)


def trtllm_fp8_block_scale_moe(
    routing_logits: Any, routing_bias: Optional[Any], hidden_states: Any,
    hidden_states_scale: Any, gemm1_weights: Any, gemm1_weights_scale: Any, gemm2_weights: Any,
    gemm2_weights_scale: Any, num_experts: int, top_k: int, n_group: Optional[int],
    topk_group: Optional[int], intermediate_size: int, local_expert_offset: int,
    local_num_experts: int, routed_scaling_factor: Optional[float],
    routing_method_type: int = 0, use_shuffled_weight: bool = False, weight_layout: int = 0,
    do_finalize: bool = True, enable_pdl: Optional[bool] = None,
    tune_max_num_tokens: int = 8192,
    fp8_quantization_type: Fp8QuantizationType = Fp8QuantizationType.DeepSeekFp8,
    num_fused_shared_experts: Optional[int] = None,
    activation_type: int = ActivationType.Swiglu.value, norm_topk_prob: bool = True,
    routing_replay_out: Optional[Any] = None, gemm1_alpha: Optional[Any] = None,
    gemm1_beta: Optional[Any] = None, gemm1_clamp_limit: Optional[Any] = None,
    output: Optional[Any] = None,
) -> Any:
    """FlashInfer's trtllm_fp8_block_scale_moe (DeepSeekFp8)."""
    _require_finalize(do_finalize)
    if num_fused_shared_experts:
        raise unsupported("num_fused_shared_experts", num_fused_shared_experts,
                          "fusedmoe adds shared experts through shared_output, not fused slots")
    routing = fused_routing(routing_method_type, n_group=n_group, topk_group=topk_group,
                            routed_scaling_factor=routed_scaling_factor,
                            norm_topk_prob=norm_topk_prob)
    hidden = _block_scale_hidden(hidden_states, hidden_states_scale, fp8_quantization_type)
    weights = expert_weights(gemm1_weights, gemm2_weights, use_shuffled_weight=use_shuffled_weight,
                             weight_layout=weight_layout, w13_scale=gemm1_weights_scale,
                             w2_scale=gemm2_weights_scale)
    fields = _block_scale_fields(hidden_states, num_experts, top_k, intermediate_size,
                                 local_expert_offset, local_num_experts, activation_type,
                                 gemm1_alpha, gemm1_beta, gemm1_clamp_limit)
    return _run_fused(fields, routing.config, hidden_states=hidden, routing_logits=routing_logits,
                      correction_bias=_selection_bias(routing.uses_bias, routing_bias,
                                                      routing_method_type),
                      weights=weights, routing_replay_out=routing_replay_out, output=output,
                      tune_max_num_tokens=tune_max_num_tokens)


def trtllm_fp8_block_scale_routed_moe(
    topk_ids: Union[Any, Tuple[Any, Any]], routing_bias: Optional[Any], hidden_states: Any,
    hidden_states_scale: Any, gemm1_weights: Any, gemm1_weights_scale: Any, gemm2_weights: Any,
    gemm2_weights_scale: Any, num_experts: int, top_k: int, n_group: Optional[int],
    topk_group: Optional[int], intermediate_size: int, local_expert_offset: int,
    local_num_experts: int, routed_scaling_factor: Optional[float],
    routing_method_type: int = 0, use_shuffled_weight: bool = False, weight_layout: int = 0,
    do_finalize: bool = True, enable_pdl: Optional[bool] = None,
    gemm1_lora_delta: Optional[Any] = None, output: Optional[Any] = None,
    tune_max_num_tokens: int = 8192,
    fp8_quantization_type: Fp8QuantizationType = Fp8QuantizationType.DeepSeekFp8,
    activation_type: int = ActivationType.Swiglu.value, gemm1_alpha: Optional[Any] = None,
    gemm1_beta: Optional[Any] = None, gemm1_clamp_limit: Optional[Any] = None,
) -> Any:
    """FlashInfer's trtllm_fp8_block_scale_routed_moe (routing_bias is unused: pre-routed)."""
    _require_finalize(do_finalize)
    _reject("gemm1_lora_delta", gemm1_lora_delta, "fusedmoe has no LoRA path")
    check_routed_method(routing_method_type)
    hidden = _block_scale_hidden(hidden_states, hidden_states_scale, fp8_quantization_type)
    weights = expert_weights(gemm1_weights, gemm2_weights, use_shuffled_weight=use_shuffled_weight,
                             weight_layout=weight_layout, w13_scale=gemm1_weights_scale,
                             w2_scale=gemm2_weights_scale)
    fields = _block_scale_fields(hidden_states, num_experts, top_k, intermediate_size,
                                 local_expert_offset, local_num_experts, activation_type,
                                 gemm1_alpha, gemm1_beta, gemm1_clamp_limit)
    return _run_routed(fields, hidden_states=hidden, topk_ids=topk_ids, weights=weights,
                       routing_replay_out=None, output=output,
                       tune_max_num_tokens=tune_max_num_tokens)
