"""fusedmoe: Mixture-of-Experts layers for LLM inference on NVIDIA Hopper (sm_90a).

    import fusedmoe
    moe = fusedmoe.MoeConfig(hidden_size=4096, intermediate_size=1536, num_experts=128, top_k=8)
    layer = fusedmoe.MoELayer(moe, fusedmoe.ExpertWeights(w13=w13, w2=w2),
                              fusedmoe.RoutingConfig(method=fusedmoe.RoutingMethod.TOPK_SOFTMAX))
    out = layer.forward(hidden_states, router_logits)

CUDA tensors run the sm_90a kernels, CPU tensors (torch or numpy) the CPU reference. Errors are
fusedmoe.FusedMoeError subclasses whose message names the argument, the expected and the given
value. docs/PYTHON.md has the whole story; fusedmoe.compat.flashinfer keeps FlashInfer's
trtllm_*_moe signatures; fusedmoe.integrations.hf.from_hf_block converts a transformers MoE block.
"""

from . import _C
from ._arrays import TypedArray
from ._C import (
    MAX_EXPERTS,
    MAX_TOP_K,
    Activation,
    ActivationParams,
    ActivationQuant,
    Backend,
    CombineMode,
    ExpertKernel,
    CudaError,
    DType,
    EntryPoint,
    ErrorKind,
    ExpertInputLayout,
    FusedMoeError,
    GateUpLayout,
    InternalError,
    InvalidArgumentError,
    MoeConfig,
    MoePlan,
    PlanOptions,
    RouterWeightApply,
    TokenGather,
    RoutingConfig,
    RoutingMethod,
    ScaleFormat,
    Support,
    UnsupportedError,
    WeightFormat,
    WeightLayout,
    cuda_device_info,
    prepare_scratch_bytes,
    query_support,
)
from . import host
from . import integrations
from .functional import (DispatchResult, combine, dispatch, dispatch_rows, experts, fused,
                         prepare_weights, route, routed)
from .layer import MoELayer
from .plan import make_plan
from .weights import ExpertWeights

__version__ = _C.version()

__all__ = [
    "MAX_EXPERTS", "MAX_TOP_K", "Activation", "ActivationParams", "ActivationQuant", "Backend",
    "CombineMode", "CudaError", "ExpertKernel", "DType", "DispatchResult", "EntryPoint", "ErrorKind",
    "ExpertInputLayout", "ExpertWeights", "FusedMoeError", "GateUpLayout", "InternalError",
    "InvalidArgumentError", "MoELayer", "MoeConfig", "MoePlan", "PlanOptions",
    "RouterWeightApply", "RoutingConfig", "RoutingMethod", "ScaleFormat", "Support",
    "TokenGather", "TypedArray", "UnsupportedError", "WeightFormat", "WeightLayout", "combine",
    "cuda_device_info", "dispatch", "dispatch_rows", "experts", "fused", "host", "integrations",
    "make_plan", "prepare_scratch_bytes", "prepare_weights", "query_support", "route", "routed",
]
