"""One function per entry point of include/fusedmoe/moe.h, for numpy arrays and torch tensors.

Outputs that are not given are allocated with the library and on the device of the inputs;
`workspace` (a byte buffer of at least plan.workspace_bytes) is allocated per call when not given:
layers pass their own, allocated once. `stream` defaults to torch's current CUDA stream for CUDA
tensors. Errors are fusedmoe.FusedMoeError subclasses whose message names the argument.
These calls run eagerly; fusedmoe.MoELayer routes torch tensors through the registered custom
ops instead, so torch.compile sees them as opaque ops with known output shapes.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

from . import _C
from ._arrays import ceil_div, dtype_of, empty, is_cuda, shape_of, stream_of, to_c
from ._arrays import workspace as alloc_workspace
from ._C import ActivationQuant, DType, ExpertInputLayout, MoeConfig, MoePlan
from .plan import backend_for
from .weights import ExpertWeights


def _workspace(plan: MoePlan, like: Any, given: Any):
    return given if given is not None else alloc_workspace(like, plan.workspace_bytes)


def route(plan: MoePlan, router_logits: Any, *, correction_bias: Any = None,
          logits_bias: Any = None, routed_experts_out: Any = None, topk_ids: Any = None,
          topk_weights: Any = None, workspace: Any = None,
          stream: Optional[int] = None) -> Tuple[Any, Any]:
    """Fused routing: router_logits [M, E] (fp32 or bf16) -> (topk_ids int32, topk_weights fp32).

    The weights never include routed_scaling_factor (combine applies it). routed_experts_out
    (int16/int32 [M, top_k]) captures the chosen ids when given.
    """
    rows = shape_of(router_logits, "router_logits")[0]
    shape = (rows, plan.moe.top_k)
    if topk_ids is None:
        topk_ids = empty(router_logits, shape, DType.INT32)
    if topk_weights is None:
        topk_weights = empty(router_logits, shape, DType.FLOAT32)
    _C.route(plan=plan, router_logits=to_c(router_logits), correction_bias=to_c(correction_bias),
             logits_bias=to_c(logits_bias), routed_experts_out=to_c(routed_experts_out),
             topk_ids=to_c(topk_ids), topk_weights=to_c(topk_weights),
             workspace=to_c(_workspace(plan, router_logits, workspace)),
             stream=stream_of(router_logits, stream))
    return topk_ids, topk_weights


class DispatchResult(NamedTuple):
    """Permutation maps of one dispatch (moe.h DispatchMaps) and the gathered rows, if any."""

    expert_offsets: Any         # int32 [E_l + 1]
    expert_counts: Any          # int32 [E_l]
    row_to_slot: Any            # int32 [R]: permuted row -> token * top_k + slot, -1 for padding
    slot_to_row: Any            # int32 [M, top_k]: -1 where the expert is not local
    permuted_hidden: Any        # [R, H] or None
    permuted_hidden_scale: Any  # fp32 [R, ceil(H/128)] / [R] for dynamic fp8, else None


def dispatch_rows(moe: MoeConfig, num_tokens: int, row_alignment: int) -> int:
    """R, the rows of the permuted buffer: M * top_k + E_l * (row_alignment - 1)."""
    return num_tokens * moe.top_k + moe.local_experts() * (row_alignment - 1)


def dispatch(plan: MoePlan, topk_ids: Any, *, row_alignment: int = 1, hidden_states: Any = None,
             quantize: Optional[bool] = None, out: Optional[DispatchResult] = None,
             workspace: Any = None, stream: Optional[int] = None) -> DispatchResult:
    """Builds the permutation maps for topk_ids (int32/int64 [M, top_k], global ids).

    With hidden_states, its rows are gathered into permuted_hidden. For dynamic fp8 activation
    quantization (FP8_PER_TOKEN / FP8_GROUP128) they are quantized while gathering unless
    quantize=False. `out` gives every output buffer at once (a DispatchResult).
    """
    moe = plan.moe
    tokens = shape_of(topk_ids, "topk_ids")[0]
    if out is None:
        rows = dispatch_rows(moe, tokens, row_alignment)
        local = moe.local_experts()
        permuted = scale = None
        if hidden_states is not None:
            dynamic_fp8 = moe.activation_quant in (ActivationQuant.FP8_PER_TOKEN,
                                                   ActivationQuant.FP8_GROUP128)
            if dynamic_fp8 and quantize is not False:
                permuted = empty(hidden_states, (rows, moe.hidden_size), DType.FLOAT8_E4M3)
                scale_shape = ((rows, ceil_div(moe.hidden_size, 128))
                               if moe.activation_quant == ActivationQuant.FP8_GROUP128 else (rows,))
                scale = empty(hidden_states, scale_shape, DType.FLOAT32)
            else:
                permuted = empty(hidden_states, (rows, moe.hidden_size),
                                 dtype_of(hidden_states, "hidden_states"))
        out = DispatchResult(
            expert_offsets=empty(topk_ids, (local + 1,), DType.INT32),
            expert_counts=empty(topk_ids, (local,), DType.INT32),
            row_to_slot=empty(topk_ids, (rows,), DType.INT32),
            slot_to_row=empty(topk_ids, (tokens, moe.top_k), DType.INT32),
            permuted_hidden=permuted, permuted_hidden_scale=scale)
    _C.dispatch(plan=plan, topk_ids=to_c(topk_ids), row_alignment=int(row_alignment),
                expert_offsets=to_c(out.expert_offsets), expert_counts=to_c(out.expert_counts),
                row_to_slot=to_c(out.row_to_slot), slot_to_row=to_c(out.slot_to_row),
                hidden_states=to_c(hidden_states), permuted_hidden=to_c(out.permuted_hidden),
                permuted_hidden_scale=to_c(out.permuted_hidden_scale),
                workspace=to_c(_workspace(plan, topk_ids, workspace)),
                stream=stream_of(topk_ids, stream))
    return out


def _output_dtype(hidden_states: Any) -> DType:
    """Expert outputs are bf16 when the input arrives already quantized to fp8."""
    dtype = dtype_of(hidden_states, "hidden_states")
    return DType.BFLOAT16 if dtype == DType.FLOAT8_E4M3 else dtype


def experts(plan: MoePlan, hidden_states: Any, weights: ExpertWeights, *,
            layout: ExpertInputLayout = ExpertInputLayout.CONTIGUOUS,
            hidden_states_scale: Any = None, expert_offsets: Any = None,
            expert_counts: Any = None, row_weights: Any = None, expert_output: Any = None,
            workspace: Any = None, stream: Optional[int] = None) -> Any:
    """Expert compute (GEMM1 + activation + GEMM2) on rows already grouped by local expert.

    CONTIGUOUS: hidden_states [R, H] with expert_offsets [E_l + 1]; MASKED: [E_l, capacity, H]
    with expert_counts [E_l]. row_weights (optional fp32) multiply each row's output.
    """
    if expert_output is None:
        expert_output = empty(hidden_states, shape_of(hidden_states, "hidden_states"),
                              _output_dtype(hidden_states))
    _C.experts(plan=plan, layout=layout, hidden_states=to_c(hidden_states),
               hidden_states_scale=to_c(hidden_states_scale), expert_offsets=to_c(expert_offsets),
               expert_counts=to_c(expert_counts), row_weights=to_c(row_weights),
               weights=weights.for_extension(to_c), expert_output=to_c(expert_output),
               workspace=to_c(_workspace(plan, hidden_states, workspace)),
               stream=stream_of(hidden_states, stream))
    return expert_output


def combine(plan: MoePlan, expert_output: Any, slot_to_row: Any, *, topk_weights: Any = None,
            shared_output: Any = None, output: Any = None, stream: Optional[int] = None) -> Any:
    """output[t] = routed_scaling_factor * sum over slots (fixed order) of w * expert row
    (+ shared_output[t]). Without topk_weights the rows are taken as already weighted."""
    if output is None:
        tokens = shape_of(slot_to_row, "slot_to_row")[0]
        output = empty(expert_output, (tokens, plan.moe.hidden_size),
                       dtype_of(expert_output, "expert_output"))
    _C.combine(plan=plan, expert_output=to_c(expert_output), slot_to_row=to_c(slot_to_row),
               topk_weights=to_c(topk_weights), shared_output=to_c(shared_output),
               output=to_c(output), stream=stream_of(expert_output, stream))
    return output


def fused(plan: MoePlan, hidden_states: Any, router_logits: Any, weights: ExpertWeights, *,
          correction_bias: Any = None, logits_bias: Any = None, routed_experts_out: Any = None,
          shared_output: Any = None, output: Any = None, workspace: Any = None,
          stream: Optional[int] = None) -> Any:
    """The whole layer: logits [M, E] and hidden_states [M, H] in, output [M, H] out."""
    if output is None:
        output = empty(hidden_states, shape_of(hidden_states, "hidden_states"),
                       dtype_of(hidden_states, "hidden_states"))
    _C.fused(plan=plan, hidden_states=to_c(hidden_states), router_logits=to_c(router_logits),
             correction_bias=to_c(correction_bias), logits_bias=to_c(logits_bias),
             routed_experts_out=to_c(routed_experts_out), shared_output=to_c(shared_output),
             weights=weights.for_extension(to_c), output=to_c(output),
             workspace=to_c(_workspace(plan, hidden_states, workspace)),
             stream=stream_of(hidden_states, stream))
    return output


def routed(plan: MoePlan, hidden_states: Any, topk_ids: Any, topk_weights: Any,
           weights: ExpertWeights, *, shared_output: Any = None, output: Any = None,
           workspace: Any = None, stream: Optional[int] = None) -> Any:
    """Pre-routed layer (routing replay): global topk_ids (-1 = none) and weights used as given.

    routed_scaling_factor is applied in combine only when the plan's routing sets it
    (default 1.0: the weights already include it)."""
    if output is None:
        output = empty(hidden_states, shape_of(hidden_states, "hidden_states"),
                       dtype_of(hidden_states, "hidden_states"))
    _C.routed(plan=plan, hidden_states=to_c(hidden_states), topk_ids=to_c(topk_ids),
              topk_weights=to_c(topk_weights), shared_output=to_c(shared_output),
              weights=weights.for_extension(to_c), output=to_c(output),
              workspace=to_c(_workspace(plan, hidden_states, workspace)),
              stream=stream_of(hidden_states, stream))
    return output


def prepare_weights(moe: MoeConfig, weights: ExpertWeights, *, backend: Any = None,
                    scratch: Any = None, stream: Optional[int] = None) -> ExpertWeights:
    """Converts checkpoint-layout weights in place into the backend's kernel layout, one expert
    at a time with bounded scratch, and sets weights.layout. The CPU reference reads checkpoint
    layout, so there it only validates. Returns `weights`."""
    backend = backend if backend is not None else backend_for(weights.w13)
    own_scratch = scratch is None
    if own_scratch:
        scratch = alloc_workspace(weights.w13, _C.prepare_scratch_bytes(moe, backend))
    weights.layout = _C.prepare_weights(moe=moe, backend=backend,
                                        weights=weights.for_extension(to_c), scratch=to_c(scratch),
                                        stream=stream_of(weights.w13, stream))
    if own_scratch and stream is not None and is_cuda(weights.w13):
        # The scratch came from torch's allocator on its current stream; the reorder ran on
        # another one, so the memory must not be handed out again before that stream is done.
        import torch

        torch.cuda.ExternalStream(int(stream), device=weights.w13.device).synchronize()
    return weights
