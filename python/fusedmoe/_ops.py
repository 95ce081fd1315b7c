"""torch custom ops (torch.library) over fusedmoe.MoELayer, with fake (meta) implementations.

Imported by fusedmoe/layer.py only when torch is installed. Each op names its layer by the
integer handle of fusedmoe/_registry.py (a constant to torch.compile) and allocates its outputs,
so torch.compile traces it as an opaque op with known output shapes, and CUDA graph capture
records its kernels on the current stream. The ops run on CPU tensors (the reference) too.

    torch.ops.fusedmoe.fused(hidden_states, router_logits, shared_output, layer)
    torch.ops.fusedmoe.fused_capture(hidden_states, router_logits, shared_output,
                                     routed_experts_out, layer)   # also writes the chosen ids
    torch.ops.fusedmoe.routed(hidden_states, topk_ids, topk_weights, shared_output, layer)
    torch.ops.fusedmoe.route(router_logits, layer) -> (topk_ids, topk_weights)
    torch.ops.fusedmoe.route_capture(router_logits, routed_experts_out, layer) -> (ids, weights)
    torch.ops.fusedmoe.dispatch(topk_ids, hidden_states, row_alignment, quantize, layer)
        -> (expert_offsets, expert_counts, row_to_slot, slot_to_row, permuted_hidden, scale)
    torch.ops.fusedmoe.experts(hidden_states, hidden_states_scale, expert_offsets, expert_counts,
                               row_weights, layout, layer)
    torch.ops.fusedmoe.combine(expert_output, slot_to_row, topk_weights, shared_output, layer)

dispatch returns 0-element placeholders for permuted_hidden / scale when they are not produced
(custom ops cannot return None); MoELayer.dispatch turns them back into None.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from . import _registry, functional
from ._arrays import ceil_div, torch_dtype
from ._C import ActivationQuant, DType, ExpertInputLayout

Tensor = torch.Tensor


def wanted(x) -> bool:
    """Whether a MoELayer call on `x` goes through the ops: while torch.compile / export traces,
    and for tensor subclasses (FakeTensor). Plain eager calls skip the dispatcher, which costs
    ~25 us a call (H100, M=1: 114 us through the op against 88 us direct)."""
    if not isinstance(x, torch.Tensor):
        return False
    return type(x) is not torch.Tensor or torch.compiler.is_compiling()


def _placeholder(like: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.empty((0,), dtype=dtype, device=like.device)


# ---- fused / routed -----------------------------------------------------------------------------
# Capturing the routing decisions is a separate op with a required mutated argument: an optional
# mutated argument passed as None broke inductor's lowering (torch 2.11).
@torch.library.custom_op("fusedmoe::fused", mutates_args=())
def fused(hidden_states: Tensor, router_logits: Tensor, shared_output: Optional[Tensor],
          layer: int) -> Tensor:
    return _registry.lookup(layer)._run_fused(hidden_states, router_logits, shared_output, None)


@fused.register_fake
def _(hidden_states, router_logits, shared_output, layer):
    return hidden_states.new_empty(hidden_states.shape)


@torch.library.custom_op("fusedmoe::fused_capture", mutates_args=("routed_experts_out",))
def fused_capture(hidden_states: Tensor, router_logits: Tensor, shared_output: Optional[Tensor],
                  routed_experts_out: Tensor, layer: int) -> Tensor:
    return _registry.lookup(layer)._run_fused(hidden_states, router_logits, shared_output,
                                              routed_experts_out)


@fused_capture.register_fake
def _(hidden_states, router_logits, shared_output, routed_experts_out, layer):
    return hidden_states.new_empty(hidden_states.shape)


@torch.library.custom_op("fusedmoe::routed", mutates_args=())
def routed(hidden_states: Tensor, topk_ids: Tensor, topk_weights: Tensor,
           shared_output: Optional[Tensor], layer: int) -> Tensor:
    return _registry.lookup(layer)._run_routed(hidden_states, topk_ids, topk_weights,
                                               shared_output)


@routed.register_fake
def _(hidden_states, topk_ids, topk_weights, shared_output, layer):
    return hidden_states.new_empty(hidden_states.shape)


# ---- modular stages -----------------------------------------------------------------------------
def _route_fake(router_logits, layer):
    shape = (router_logits.shape[0], _registry.lookup(layer).moe.top_k)
    return (router_logits.new_empty(shape, dtype=torch.int32),
            router_logits.new_empty(shape, dtype=torch.float32))


@torch.library.custom_op("fusedmoe::route", mutates_args=())
def route(router_logits: Tensor, layer: int) -> Tuple[Tensor, Tensor]:
    return _registry.lookup(layer)._run_route(router_logits, None)


@route.register_fake
def _(router_logits, layer):
    return _route_fake(router_logits, layer)


@torch.library.custom_op("fusedmoe::route_capture", mutates_args=("routed_experts_out",))
def route_capture(router_logits: Tensor, routed_experts_out: Tensor,
                  layer: int) -> Tuple[Tensor, Tensor]:
    return _registry.lookup(layer)._run_route(router_logits, routed_experts_out)


@route_capture.register_fake
def _(router_logits, routed_experts_out, layer):
    return _route_fake(router_logits, layer)


@torch.library.custom_op("fusedmoe::dispatch", mutates_args=())
def dispatch(topk_ids: Tensor, hidden_states: Optional[Tensor], row_alignment: int,
             quantize: bool, layer: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    result = _registry.lookup(layer)._run_dispatch(topk_ids, hidden_states, row_alignment,
                                                   quantize)
    permuted = result.permuted_hidden
    scale = result.permuted_hidden_scale
    return (result.expert_offsets, result.expert_counts, result.row_to_slot, result.slot_to_row,
            permuted if permuted is not None else _placeholder(topk_ids, torch.bfloat16),
            scale if scale is not None else _placeholder(topk_ids, torch.float32))


@dispatch.register_fake
def _(topk_ids, hidden_states, row_alignment, quantize, layer):
    moe = _registry.lookup(layer).moe
    tokens = topk_ids.shape[0]
    rows = functional.dispatch_rows(moe, tokens, row_alignment)
    local = moe.local_experts()
    int32 = torch.int32
    permuted = _placeholder(topk_ids, torch.bfloat16)
    scale = _placeholder(topk_ids, torch.float32)
    if hidden_states is not None:
        dynamic_fp8 = moe.activation_quant in (ActivationQuant.FP8_PER_TOKEN,
                                               ActivationQuant.FP8_GROUP128)
        if dynamic_fp8 and quantize:
            permuted = hidden_states.new_empty((rows, moe.hidden_size),
                                               dtype=torch_dtype(DType.FLOAT8_E4M3))
            scale_shape = ((rows, ceil_div(moe.hidden_size, 128))
                           if moe.activation_quant == ActivationQuant.FP8_GROUP128 else (rows,))
            scale = hidden_states.new_empty(scale_shape, dtype=torch.float32)
        else:
            permuted = hidden_states.new_empty((rows, moe.hidden_size))
    return (topk_ids.new_empty((local + 1,), dtype=int32),
            topk_ids.new_empty((local,), dtype=int32),
            topk_ids.new_empty((rows,), dtype=int32),
            topk_ids.new_empty((tokens, moe.top_k), dtype=int32), permuted, scale)


@torch.library.custom_op("fusedmoe::experts", mutates_args=())
def experts(hidden_states: Tensor, hidden_states_scale: Optional[Tensor],
            expert_offsets: Optional[Tensor], expert_counts: Optional[Tensor],
            row_weights: Optional[Tensor], layout: int, layer: int) -> Tensor:
    return _registry.lookup(layer)._run_experts(hidden_states, hidden_states_scale, expert_offsets,
                                                expert_counts, row_weights,
                                                ExpertInputLayout(layout))


@experts.register_fake
def _(hidden_states, hidden_states_scale, expert_offsets, expert_counts, row_weights, layout,
      layer):
    dtype = torch.bfloat16 if hidden_states.element_size() == 1 else hidden_states.dtype
    return hidden_states.new_empty(hidden_states.shape, dtype=dtype)


@torch.library.custom_op("fusedmoe::combine", mutates_args=())
def combine(expert_output: Tensor, slot_to_row: Tensor, topk_weights: Optional[Tensor],
            shared_output: Optional[Tensor], layer: int) -> Tensor:
    return _registry.lookup(layer)._run_combine(expert_output, slot_to_row, topk_weights,
                                                shared_output)


@combine.register_fake
def _(expert_output, slot_to_row, topk_weights, shared_output, layer):
    hidden = _registry.lookup(layer).moe.hidden_size
    return expert_output.new_empty((slot_to_row.shape[0], hidden))
