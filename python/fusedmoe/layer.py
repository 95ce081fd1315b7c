"""MoELayer: a MoE layer's plan, prepared weights and workspace, with the calls serving code makes.

    layer = fusedmoe.MoELayer(moe, weights, routing, correction_bias=bias, max_num_tokens=8192)
    out = layer.forward(hidden_states, router_logits)              # fused: logits in
    out = layer.forward_routed(hidden_states, topk_ids, topk_weights)  # routed: your own router

Weights are converted once, here, into the backend's layout (in place, bounded scratch), and the
workspace is allocated once. Under torch.compile (and for fake tensors) calls go through the
torch.ops.fusedmoe custom ops, opaque ops with known shapes; eager calls, torch or numpy, call the
extension directly (CUDA graph capture records the same kernels either way). The backend
follows the weights' device: CUDA -> sm90 kernels, CPU -> the reference.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import importlib.util

from . import _registry, functional
from ._arrays import workspace as alloc_workspace
from ._C import Backend, ExpertInputLayout, MoeConfig, RoutingConfig, WeightLayout
from .plan import as_backend, backend_for, make_plan
from .weights import ExpertWeights

# The torch custom ops exist only where torch is installed; numpy-only machines skip them.
if importlib.util.find_spec("torch") is not None:
    from . import _ops
else:
    _ops = None


def _use_ops(x: Any) -> bool:
    return _ops is not None and _ops.wanted(x)


class MoELayer:
    """A MoE layer ready to run: see the module docstring."""

    def __init__(self, moe: MoeConfig, weights: ExpertWeights,
                 routing: Optional[RoutingConfig] = None, *, correction_bias: Any = None,
                 logits_bias: Any = None, max_num_tokens: int = 8192, backend: Any = None,
                 prepare: bool = True, tactic: Optional[int] = None,
                 gemm2_tactic: Optional[int] = None, expert_kernel: Any = None,
                 token_gather: Any = None):
        self.moe = moe
        self.routing = routing if routing is not None else RoutingConfig()
        self.backend: Backend = (as_backend(backend) if backend is not None
                                 else backend_for(weights.w13))
        self.plan = make_plan(moe, self.routing, backend=self.backend,
                              max_num_tokens=max_num_tokens, tactic=tactic,
                              gemm2_tactic=gemm2_tactic, expert_kernel=expert_kernel,
                              token_gather=token_gather)
        if prepare and weights.layout == WeightLayout.CHECKPOINT:
            functional.prepare_weights(moe, weights, backend=self.backend)
        self.weights = weights
        self.correction_bias = correction_bias
        self.logits_bias = logits_bias
        self.workspace = alloc_workspace(weights.w13, self.plan.workspace_bytes)
        self.handle = _registry.register(self)

    # ---- what serving code calls ------------------------------------------------------------
    def forward(self, hidden_states: Any, router_logits: Any, *, shared_output: Any = None,
                routed_experts_out: Any = None) -> Any:
        """Fused: routing (with the layer's biases) + experts + combine. routed_experts_out
        (int16/int32 [M, top_k]) captures the chosen global expert ids."""
        if _use_ops(hidden_states):
            if routed_experts_out is None:
                return _ops.fused(hidden_states, router_logits, shared_output, self.handle)
            return _ops.fused_capture(hidden_states, router_logits, shared_output,
                                      routed_experts_out, self.handle)
        return self._run_fused(hidden_states, router_logits, shared_output, routed_experts_out)

    __call__ = forward

    def forward_routed(self, hidden_states: Any, topk_ids: Any, topk_weights: Any, *,
                       shared_output: Any = None) -> Any:
        """Routed: your router's global ids (-1 = none) and weights, used as given; the layer's
        routed_scaling_factor (RoutingConfig) is applied once, in combine, as for forward."""
        if _use_ops(hidden_states):
            return _ops.routed(hidden_states, topk_ids, topk_weights, shared_output, self.handle)
        return self._run_routed(hidden_states, topk_ids, topk_weights, shared_output)

    # ---- modular stages (expert parallelism: route -> dispatch -> all-to-all -> experts ...) --
    def route(self, router_logits: Any, *, routed_experts_out: Any = None) -> Tuple[Any, Any]:
        if _use_ops(router_logits):
            if routed_experts_out is None:
                return _ops.route(router_logits, self.handle)
            return _ops.route_capture(router_logits, routed_experts_out, self.handle)
        return self._run_route(router_logits, routed_experts_out)

    def dispatch(self, topk_ids: Any, *, hidden_states: Any = None, row_alignment: int = 1,
                 quantize: bool = True) -> functional.DispatchResult:
        if _use_ops(topk_ids):
            parts = _ops.dispatch(topk_ids, hidden_states, row_alignment, quantize, self.handle)
            permuted, scale = parts[4], parts[5]
            gathered = hidden_states is not None
            quantized = gathered and permuted.element_size() == 1
            return functional.DispatchResult(*parts[:4], permuted if gathered else None,
                                             scale if quantized else None)
        return self._run_dispatch(topk_ids, hidden_states, row_alignment, quantize)

    def experts(self, hidden_states: Any, *, expert_offsets: Any = None, expert_counts: Any = None,
                hidden_states_scale: Any = None, row_weights: Any = None,
                layout: ExpertInputLayout = ExpertInputLayout.CONTIGUOUS) -> Any:
        if _use_ops(hidden_states):
            return _ops.experts(hidden_states, hidden_states_scale, expert_offsets, expert_counts,
                                row_weights, int(layout.value), self.handle)
        return self._run_experts(hidden_states, hidden_states_scale, expert_offsets, expert_counts,
                                 row_weights, layout)

    def combine(self, expert_output: Any, slot_to_row: Any, *, topk_weights: Any = None,
                shared_output: Any = None) -> Any:
        if _use_ops(expert_output):
            return _ops.combine(expert_output, slot_to_row, topk_weights, shared_output,
                                self.handle)
        return self._run_combine(expert_output, slot_to_row, topk_weights, shared_output)

    def __repr__(self) -> str:
        return f"MoELayer(backend={self.backend.name}, plan={self.plan!r})"

    # ---- implementations, shared by the eager path and the custom ops ----------------------
    def _run_fused(self, hidden_states, router_logits, shared_output, routed_experts_out):
        return functional.fused(self.plan, hidden_states, router_logits, self.weights,
                                correction_bias=self.correction_bias, logits_bias=self.logits_bias,
                                routed_experts_out=routed_experts_out, shared_output=shared_output,
                                workspace=self.workspace)

    def _run_routed(self, hidden_states, topk_ids, topk_weights, shared_output):
        return functional.routed(self.plan, hidden_states, topk_ids, topk_weights, self.weights,
                                 shared_output=shared_output, workspace=self.workspace)

    def _run_route(self, router_logits, routed_experts_out):
        return functional.route(self.plan, router_logits, correction_bias=self.correction_bias,
                                logits_bias=self.logits_bias,
                                routed_experts_out=routed_experts_out, workspace=self.workspace)

    def _run_dispatch(self, topk_ids, hidden_states, row_alignment, quantize):
        return functional.dispatch(self.plan, topk_ids, row_alignment=row_alignment,
                                   hidden_states=hidden_states, quantize=quantize,
                                   workspace=self.workspace)

    def _run_experts(self, hidden_states, hidden_states_scale, expert_offsets, expert_counts,
                     row_weights, layout):
        return functional.experts(self.plan, hidden_states, self.weights, layout=layout,
                                  hidden_states_scale=hidden_states_scale,
                                  expert_offsets=expert_offsets, expert_counts=expert_counts,
                                  row_weights=row_weights, workspace=self.workspace)

    def _run_combine(self, expert_output, slot_to_row, topk_weights, shared_output):
        return functional.combine(self.plan, expert_output, slot_to_row,
                                  topk_weights=topk_weights, shared_output=shared_output)
