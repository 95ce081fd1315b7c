"""HF transformers MoE blocks -> fusedmoe layers.

    from fusedmoe.integrations.hf import from_hf_block
    block = model.model.layers[3].mlp                  # a transformers MoE block (5.x layouts)
    moe = from_hf_block(block, model.config, max_num_tokens=8192)
    out = moe(hidden_states)                           # what the block returns (its hidden states)
    out = moe.forward_routed(hidden_states, topk_ids, topk_weights)   # the block's own routing

Families (config.model_type): deepseek_v3, glm4_moe, qwen3_moe, mixtral, minimax_m2, gpt_oss,
nemotron_h. What is read, per family (transformers 5.x):

- routed experts: ``experts.gate_up_proj`` [E, 2I, H] (gate rows, then up rows) and
  ``experts.down_proj`` [E, H, I]; gpt_oss stores them transposed, ``gate_up_proj`` [E, H, 2I]
  with gate/up interleaved by column (-> GateUpLayout.INTERLEAVED) plus ``gate_up_proj_bias`` /
  ``down_proj_bias``; nemotron_h is non-gated, ``experts.up_proj`` [E, I, H]. Older layouts (a
  ModuleList of per-expert MLPs with gate_proj/up_proj/down_proj or w1/w3/w2) are stacked.
  They are copied to bf16 on ``device`` (the block keeps its own weights) and prepared once.
- routing, from the block (then its router, then the config):
  deepseek_v3 / glm4_moe / nemotron_h: SIGMOID_GROUPED_TOPK with n_group/topk_group,
  ``gate.e_score_correction_bias``, renormalize = norm_topk_prob, routed_scaling_factor;
  minimax_m2: SIGMOID_GROUPED_TOPK with one group, the block's ``e_score_correction_bias``,
  always renormalized, no scaling factor (transformers applies none);
  qwen3_moe: SOFTMAX_TOPK, renormalize = norm_topk_prob; mixtral: SOFTMAX_TOPK, renormalized;
  gpt_oss: TOPK_SOFTMAX with the router's bias as ``logits_bias``.
- the router logits are computed here, in fp32, from the block's router weight
  (``F.linear(x.float(), W.float())``), as DeepSeek's router does and as every family's does in
  an fp32 model; a bf16 model's Qwen3/Mixtral/gpt-oss router computes them in bf16 instead
  (fp32 is the more accurate choice; routing may differ where bf16 logits tie).
- shared experts (deepseek_v3, glm4_moe, nemotron_h) stay the model's own module: it runs in the
  block's dtype and its output goes to fusedmoe as ``shared_output`` (added after
  routed_scaling_factor, as transformers adds it). nemotron_h's latent projections
  (``fc1_latent_proj`` / ``fc2_latent_proj``) also run as the block's modules, around the routed
  experts; the shared output is then added after ``fc2_latent_proj``.

The experts run in bf16 (fusedmoe's bf16 path); the output is cast back to the input's dtype.
Everything unsupported raises fusedmoe.UnsupportedError naming what is missing.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .. import _C
from .._C import (Activation, ActivationParams, GateUpLayout, MoeConfig, RoutingConfig,
                  RoutingMethod)
from ..layer import MoELayer
from ..weights import ExpertWeights

__all__ = ["HFMoE", "SUPPORTED_FAMILIES", "from_hf_block"]

# model_type -> family semantics.
_SIGMOID_GROUPED = ("deepseek_v3", "glm4_moe", "nemotron_h")
SUPPORTED_FAMILIES = _SIGMOID_GROUPED + ("minimax_m2", "qwen3_moe", "mixtral", "gpt_oss")

_GATED_ACTIVATIONS = {
    "silu": Activation.SWIGLU, "swish": Activation.SWIGLU,
    "gelu_pytorch_tanh": Activation.GEGLU_TANH, "gelu_tanh": Activation.GEGLU_TANH,
}
_NON_GATED_ACTIVATIONS = {
    "relu2": Activation.RELU2, "silu": Activation.SILU, "swish": Activation.SILU,
    "gelu_pytorch_tanh": Activation.GELU_TANH, "gelu_tanh": Activation.GELU_TANH,
}

_PREFIX = "fusedmoe.integrations.hf"


def _unsupported(family: str, what: str) -> Exception:
    return _C.UnsupportedError(f"{_PREFIX}: {family}: {what}")


def _invalid(family: str, what: str) -> Exception:
    return _C.InvalidArgumentError(f"{_PREFIX}: {family}: {what}")


def _present(obj: Any, name: str) -> Any:
    value = getattr(obj, name, None) if obj is not None else None
    return value


def _require(obj: Any, path: str, family: str, owner: str) -> Any:
    """obj.<path> (dotted), or UnsupportedError naming the missing attribute."""
    current = obj
    for part in path.split("."):
        current = _present(current, part)
        if current is None:
            raise _unsupported(family, f"the block has no '{owner}.{path}' "
                                       f"({type(obj).__name__}); fusedmoe reads transformers 5.x "
                                       f"MoE layouts (docs/PYTHON.md, 'HF transformers blocks')")
    return current


def _lookup(name: str, sources: Sequence[Any]) -> Any:
    """The first non-None attribute `name` among `sources` (block, router, config)."""
    for source in sources:
        value = _present(source, name)
        if value is not None:
            return value
    return None


def _is_identity(module: Any) -> bool:
    return module is None or isinstance(module, torch.nn.Identity)


def _bf16(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    # Always a copy: prepare_weights converts in place, and the block keeps its own weights.
    return t.detach().to(device=device, dtype=torch.bfloat16, copy=True).contiguous()


def _fp32(t: Optional[torch.Tensor], device: torch.device) -> Optional[torch.Tensor]:
    if t is None:
        return None
    return t.detach().to(device=device, dtype=torch.float32, copy=True).contiguous()


def _resolve_family(config: Any) -> Tuple[str, Any]:
    model_type = _present(config, "model_type")
    if model_type in SUPPORTED_FAMILIES:
        return model_type, config
    text = _present(config, "text_config")
    if text is not None and _present(text, "model_type") in SUPPORTED_FAMILIES:
        return text.model_type, text
    raise _C.UnsupportedError(
        f"{_PREFIX}: model_type {model_type!r} is not supported; supported: "
        f"{', '.join(SUPPORTED_FAMILIES)}")


def _linear_weight(module: Any) -> Optional[torch.Tensor]:
    return _present(module, "weight")


def _stack_module_list(experts: Any, family: str, gated: bool):
    """Per-expert MLP modules (older transformers layouts) -> w13 [E, N1, H], w2 [E, H, I]."""
    w13, w2, b13, b2 = [], [], [], []
    for index, expert in enumerate(experts):
        names = (("gate_proj", "up_proj", "down_proj") if _present(expert, "gate_proj") is not None
                 else ("w1", "w3", "w2"))
        if gated:
            gate = _require(expert, names[0], family, f"experts[{index}]")
            up = _require(expert, names[1], family, f"experts[{index}]")
            w13.append(torch.cat([gate.weight, up.weight], dim=0))
            biases = (_present(gate, "bias"), _present(up, "bias"))
            if any(b is not None for b in biases):
                if any(b is None for b in biases):
                    raise _unsupported(family, f"experts[{index}] has a bias on one of gate/up only")
                b13.append(torch.cat(biases, dim=0))
        else:
            up = _require(expert, "up_proj", family, f"experts[{index}]")
            w13.append(up.weight)
            if _present(up, "bias") is not None:
                b13.append(up.bias)
        down = _require(expert, names[2], family, f"experts[{index}]")
        w2.append(down.weight)
        if _present(down, "bias") is not None:
            b2.append(down.bias)
    if b13 and len(b13) != len(w13) or b2 and len(b2) != len(w2):
        raise _unsupported(family, "some experts have biases and others not")
    return (torch.stack(w13), torch.stack(w2), torch.stack(b13) if b13 else None,
            torch.stack(b2) if b2 else None)


def _expert_tensors(experts: Any, family: str, hidden: int, gated: bool):
    """(w13 [E, N1, H], w2 [E, H, I], w13_bias [E, N1] | None, w2_bias [E, H] | None), as views
    of the block's tensors (gpt-oss's transposed layout turned back to [E, N1, H])."""
    if isinstance(experts, torch.nn.ModuleList):
        return _stack_module_list(experts, family, gated)
    first_name = "gate_up_proj" if gated else "up_proj"
    first = _require(experts, first_name, family, "experts")
    down = _require(experts, "down_proj", family, "experts")
    if not (isinstance(first, torch.Tensor) and first.dim() == 3 and isinstance(down, torch.Tensor)
            and down.dim() == 3):
        raise _unsupported(family, f"experts.{first_name} / experts.down_proj are not 3-D tensors "
                                   f"(got {type(first).__name__}, {type(down).__name__})")
    flag = _lookup("experts_are_transposed", [experts])
    if flag is None:
        flag = _lookup("is_transposed", [experts])
    a, b = first.shape[1], first.shape[2]
    if b == hidden and a != hidden:
        transposed = False
    elif a == hidden and b != hidden:
        transposed = True
    elif a == hidden and b == hidden:
        transposed = bool(flag) if flag is not None else family == "gpt_oss"
    else:
        raise _invalid(family, f"experts.{first_name} has shape {tuple(first.shape)}, expected "
                               f"[E, N1, {hidden}] or [E, {hidden}, N1] (hidden_size {hidden})")
    w13 = first.transpose(1, 2) if transposed else first
    w2 = down.transpose(1, 2) if transposed else down
    n1 = w13.shape[1]
    inter = n1 // 2 if gated else n1
    if gated and n1 % 2:
        raise _invalid(family, f"experts.{first_name} has an odd gate/up width {n1}")
    if tuple(w2.shape) != (w13.shape[0], hidden, inter):
        raise _invalid(family, f"experts.down_proj has shape {tuple(down.shape)}, expected "
                               f"{'[E, I, H]' if transposed else '[E, H, I]'} with E "
                               f"{w13.shape[0]}, H {hidden}, I {inter}")
    b13 = _present(experts, f"{first_name}_bias")
    b2 = _present(experts, "down_proj_bias")
    return w13, w2, b13, b2


class HFMoE:
    """A transformers MoE block's routed experts on fusedmoe, with the block's router and shared
    experts: see the module docstring. Attributes: family, layer (the MoELayer), moe, routing,
    correction_bias, logits_bias, block."""

    def __init__(self, *, family: str, block: Any, layer: MoELayer, router_weight: torch.Tensor,
                 shared: Any, fc1_latent: Any, fc2_latent: Any,
                 weights_include_scaling: bool, device: torch.device, max_num_tokens: int):
        self.family = family
        self.block = block
        self.layer = layer
        self.moe = layer.moe
        self.routing = layer.routing
        self.correction_bias = layer.correction_bias
        self.logits_bias = layer.logits_bias
        self.device = device
        self._router_weight = router_weight          # fp32, on the router's device
        self._shared = shared
        self._fc1 = fc1_latent
        self._fc2 = fc2_latent
        self._weights_include_scaling = weights_include_scaling
        self._routed_layer: Optional[MoELayer] = None
        self._max_num_tokens = max_num_tokens

    # ---- pieces ----------------------------------------------------------------------------
    def _flatten(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states.reshape(-1, hidden_states.shape[-1])

    def router_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """fp32 [M, E] logits from the block's router weight (no bias: that is logits_bias)."""
        x = self._flatten(hidden_states)
        w = self._router_weight
        logits = F.linear(x.to(device=w.device, dtype=torch.float32), w)
        return logits.to(self.device)

    def _module_dtype_device(self, module: Any) -> Tuple[torch.dtype, torch.device]:
        for p in module.parameters():
            return p.dtype, p.device
        return torch.float32, self.device

    def _run_module(self, module: Any, x: torch.Tensor) -> torch.Tensor:
        dtype, device = self._module_dtype_device(module)
        return module(x.to(device=device, dtype=dtype))

    def shared_output(self, hidden_states: torch.Tensor) -> Optional[torch.Tensor]:
        """The block's shared experts on `hidden_states` ([M, H], the block's dtype), or None."""
        if self._shared is None:
            return None
        return self._flatten(self._run_module(self._shared, self._flatten(hidden_states)))

    def _expert_input(self, x: torch.Tensor) -> torch.Tensor:
        if self._fc1 is not None:
            x = self._run_module(self._fc1, x)
        return x.to(device=self.device, dtype=torch.bfloat16).contiguous()

    def _finish(self, routed: torch.Tensor, shared: Optional[torch.Tensor],
                like: torch.Tensor) -> torch.Tensor:
        out = routed
        if self._fc2 is not None:
            out = self._run_module(self._fc2, out)
            if shared is not None:
                out = out + shared.to(device=out.device, dtype=out.dtype)
        return out.to(device=like.device, dtype=like.dtype).reshape(like.shape)

    def _shared_for_layer(self, shared: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        if shared is None or self._fc2 is not None:
            return None                    # with a latent projection it is added after fc2
        return shared.to(device=self.device, dtype=torch.bfloat16).contiguous()

    # ---- entry points ----------------------------------------------------------------------
    def forward(self, hidden_states: torch.Tensor, *,
                routed_experts_out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The block's output for `hidden_states` ([..., H]): routing from the block's router
        weights (fp32 logits), routed experts on fusedmoe (bf16), plus the shared experts.
        routed_experts_out (int32/int16 [M, top_k] on the layer's device) captures the ids."""
        x = self._flatten(hidden_states)
        logits = self.router_logits(x)
        shared = self.shared_output(x)
        routed = self.layer.forward(self._expert_input(x), logits,
                                    shared_output=self._shared_for_layer(shared),
                                    routed_experts_out=routed_experts_out)
        return self._finish(routed, shared, hidden_states)

    __call__ = forward

    def forward_routed(self, hidden_states: torch.Tensor, topk_ids: torch.Tensor,
                       topk_weights: torch.Tensor) -> torch.Tensor:
        """Routed entry with the block's own routing: `topk_ids` [M, k] and `topk_weights` as
        the block's router hands them to its experts module ([M, k], or dense [M, E] scores as
        older gpt-oss routers give). For DeepSeek-V3 / GLM / Nemotron-H those weights already
        include routed_scaling_factor, so they are used as they are (a layer with factor 1)."""
        x = self._flatten(hidden_states)
        ids = topk_ids.reshape(x.shape[0], -1)
        weights = topk_weights.reshape(x.shape[0], -1)
        if weights.shape[1] != ids.shape[1]:
            if weights.shape[1] != self.moe.num_experts:
                raise _invalid(self.family, f"topk_weights has shape {tuple(topk_weights.shape)}, "
                                            f"expected [M, {ids.shape[1]}] or "
                                            f"[M, {self.moe.num_experts}]")
            weights = weights.gather(1, ids.to(device=weights.device, dtype=torch.int64))
        ids = ids.to(device=self.device).contiguous()
        weights = weights.to(device=self.device, dtype=torch.float32).contiguous()
        shared = self.shared_output(x)
        routed = self._layer_for_routed().forward_routed(
            self._expert_input(x), ids, weights, shared_output=self._shared_for_layer(shared))
        return self._finish(routed, shared, hidden_states)

    def _layer_for_routed(self) -> MoELayer:
        if not (self._weights_include_scaling and self.routing.routed_scaling_factor != 1.0):
            return self.layer
        if self._routed_layer is None:
            # Same prepared weights, routed_scaling_factor 1: the block's weights include it.
            r = self.routing
            unscaled = RoutingConfig(method=r.method, renormalize=r.renormalize, n_group=r.n_group,
                                     topk_group=r.topk_group, routed_scaling_factor=1.0)
            self._routed_layer = MoELayer(self.moe, self.layer.weights, unscaled,
                                          max_num_tokens=self._max_num_tokens,
                                          backend=self.layer.backend, prepare=False)
        return self._routed_layer

    def __repr__(self) -> str:
        r = self.routing
        return (f"HFMoE(family={self.family}, E={self.moe.num_experts}, top_k={self.moe.top_k}, "
                f"H={self.moe.hidden_size}, I={self.moe.intermediate_size}, "
                f"activation={self.moe.activation.name}, "
                f"gate_up_layout={self.moe.gate_up_layout.name}, routing={r.method.name} "
                f"(renormalize={r.renormalize}, n_group={r.n_group}, topk_group={r.topk_group}, "
                f"routed_scaling_factor={r.routed_scaling_factor}), "
                f"correction_bias={self.correction_bias is not None}, "
                f"logits_bias={self.logits_bias is not None}, shared={self._shared is not None}, "
                f"latent={self._fc1 is not None}, backend={self.layer.backend.name})")


def _routing_for(family: str, block: Any, router: Any, config: Any, family_label: str):
    """(RoutingConfig, correction_bias tensor | None, weights_include_scaling)."""
    sources = [block, router, config]
    if family in _SIGMOID_GROUPED:
        n_group = _lookup("n_group", sources)
        if n_group is None:
            n_group = _lookup("num_group", [router])     # transformers 5.x router attribute
        n_group = int(n_group or 1)
        topk_group = int(_lookup("topk_group", sources) or 1)
        norm = _lookup("norm_topk_prob", sources)
        if norm is None:
            raise _unsupported(family_label, "no 'norm_topk_prob' on the block or its config")
        scale = _lookup("routed_scaling_factor", sources)
        scale = 1.0 if scale is None else float(scale)
        bias = _lookup("e_score_correction_bias", [router, block])
        if bias is None:
            raise _unsupported(family_label, "the block has no 'gate.e_score_correction_bias'")
        if n_group == 1:
            topk_group = 1
        routing = RoutingConfig(method=RoutingMethod.SIGMOID_GROUPED_TOPK, renormalize=bool(norm),
                                n_group=n_group, topk_group=topk_group,
                                routed_scaling_factor=scale)
        return routing, bias, True
    if family == "minimax_m2":
        bias = _lookup("e_score_correction_bias", [block, router])
        if bias is None:
            raise _unsupported(family_label, "the block has no 'e_score_correction_bias'")
        routing = RoutingConfig(method=RoutingMethod.SIGMOID_GROUPED_TOPK, renormalize=True,
                                n_group=1, topk_group=1, routed_scaling_factor=1.0)
        return routing, bias, False
    if family == "qwen3_moe":
        norm = _lookup("norm_topk_prob", sources)
        if norm is None:
            raise _unsupported(family_label, "no 'norm_topk_prob' on the block or its config")
        return RoutingConfig(method=RoutingMethod.SOFTMAX_TOPK, renormalize=bool(norm)), None, False
    if family == "mixtral":
        return RoutingConfig(method=RoutingMethod.SOFTMAX_TOPK, renormalize=True), None, False
    if family == "gpt_oss":
        return RoutingConfig(method=RoutingMethod.TOPK_SOFTMAX, renormalize=True), None, False
    raise _C.UnsupportedError(f"{_PREFIX}: model_type {family!r} is not supported")


def _activation_for(family: str, experts: Any, config: Any, gated: bool):
    if family == "gpt_oss":
        alpha = _lookup("alpha", [experts])
        limit = _lookup("limit", [experts])
        if limit is None:
            limit = _lookup("swiglu_limit", [config])
        params = ActivationParams(alpha=float(1.702 if alpha is None else alpha), beta=1.0,
                                  clamp_limit=float(7.0 if limit is None else limit))
        return Activation.SWIGLU_OAI, params
    name_key = "mlp_hidden_act" if family == "nemotron_h" else "hidden_act"
    name = _lookup(name_key, [config])
    if name is None and family == "nemotron_h":
        name = _lookup("hidden_act", [config])
    table = _GATED_ACTIVATIONS if gated else _NON_GATED_ACTIVATIONS
    if name not in table:
        raise _unsupported(family, f"config.{name_key} = {name!r} ({'gated' if gated else 'non-gated'}"
                                   f" experts): fusedmoe has {', '.join(sorted(table))}")
    return table[name], ActivationParams()


def from_hf_block(block: Any, config: Any, *, device: Any = None, max_num_tokens: int = 8192,
                  backend: Any = None) -> HFMoE:
    """Converts a transformers MoE block (deepseek_v3, glm4_moe, qwen3_moe, mixtral, minimax_m2,
    gpt_oss, nemotron_h) into an HFMoE running its routed experts on fusedmoe.

    `config` is the model's config (or its text_config). `device` (default: the router weight's
    device) is where fusedmoe runs: CUDA -> the sm90 kernels, "cpu" -> the CPU reference.
    Raises fusedmoe.UnsupportedError naming what is missing for anything it cannot map.
    """
    family, config = _resolve_family(config)
    router = _lookup("gate", [block])
    if router is None:
        router = _lookup("router", [block])
    if router is None:
        raise _unsupported(family, f"the block ({type(block).__name__}) has neither 'gate' nor "
                                   f"'router'")
    router_weight = _linear_weight(router)
    if not isinstance(router_weight, torch.Tensor) or router_weight.dim() != 2:
        raise _unsupported(family, f"the block's router ({type(router).__name__}) has no 2-D "
                                   f"'weight' [E, H]")
    num_experts, hidden = int(router_weight.shape[0]), int(router_weight.shape[1])
    if _present(block, "shared_expert_gate") is not None:
        raise _unsupported(family, "a gated shared expert ('shared_expert_gate', Qwen2-MoE style) "
                                   "is not supported")
    experts = _require(block, "experts", family, "block")
    gated = family != "nemotron_h"
    fc1 = _present(block, "fc1_latent_proj")
    fc2 = _present(block, "fc2_latent_proj")
    latent = not (_is_identity(fc1) and _is_identity(fc2))
    if latent and (_is_identity(fc1) or _is_identity(fc2)):
        raise _unsupported(family, "only one of fc1_latent_proj / fc2_latent_proj is set")
    expert_hidden = hidden
    if latent:
        expert_hidden = int(_require(fc1, "weight", family, "fc1_latent_proj").shape[0])
    w13, w2, b13, b2 = _expert_tensors(experts, family, expert_hidden, gated)
    if w13.shape[0] != num_experts:
        raise _invalid(family, f"the router has {num_experts} experts, the experts tensors "
                               f"{w13.shape[0]}")
    inter = int(w13.shape[1] // 2 if gated else w13.shape[1])

    top_k = _lookup("top_k", [block, router])
    if top_k is None:
        top_k = _lookup("num_experts_per_tok", [config])
    if top_k is None:
        raise _unsupported(family, "no 'top_k' on the block and no 'num_experts_per_tok' in the "
                                   "config")
    activation, params = _activation_for(family, experts, config, gated)
    routing, correction_bias, includes_scaling = _routing_for(family, block, router, config, family)
    logits_bias = _present(router, "bias")
    if logits_bias is not None and not isinstance(logits_bias, torch.Tensor):
        logits_bias = None

    target = torch.device(device) if device is not None else router_weight.device
    moe = MoeConfig(hidden_size=expert_hidden, intermediate_size=inter, num_experts=num_experts,
                    top_k=int(top_k), activation=activation, activation_params=params,
                    gate_up_layout=(GateUpLayout.INTERLEAVED if family == "gpt_oss"
                                    else GateUpLayout.GATE_THEN_UP))
    with torch.no_grad():
        weights = ExpertWeights(w13=_bf16(w13, target), w2=_bf16(w2, target),
                                w13_bias=_fp32(b13, target), w2_bias=_fp32(b2, target))
        layer = MoELayer(moe, weights, routing, correction_bias=_fp32(correction_bias, target),
                         logits_bias=_fp32(logits_bias, target), max_num_tokens=max_num_tokens,
                         backend=backend)
        shared = _lookup("shared_experts", [block])
        if shared is None:
            shared = _lookup("shared_expert", [block])
        return HFMoE(family=family, block=block, layer=layer,
                     router_weight=router_weight.detach().float(), shared=shared,
                     fc1_latent=fc1 if latent else None, fc2_latent=fc2 if latent else None,
                     weights_include_scaling=includes_scaling, device=target,
                     max_num_tokens=max_num_tokens)
