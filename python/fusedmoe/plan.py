"""Plans: a validated configuration plus its workspace size, made once per layer shape."""

from __future__ import annotations

from typing import Any, Optional, Union

from . import _C
from ._arrays import is_cuda
from ._C import Backend, ExpertKernel, MoeConfig, MoePlan, PlanOptions, RoutingConfig, TokenGather

_BACKEND_NAMES = {"cpu": Backend.CPU_REFERENCE, "cuda": Backend.CUDA_SM90}


def as_backend(backend: Union[Backend, str]) -> Backend:
    """A Backend from itself or from "cpu" / "cuda"."""
    if isinstance(backend, Backend):
        return backend
    try:
        return _BACKEND_NAMES[str(backend).split(":")[0]]
    except KeyError:
        raise _C.InvalidArgumentError(
            f"fusedmoe: argument 'backend': expected a fusedmoe.Backend, 'cpu' or 'cuda', "
            f"got {backend!r}") from None


def backend_for(tensor: Any) -> Backend:
    """The backend for `tensor`'s device: CUDA tensors -> sm90 kernels, else the reference."""
    return Backend.CUDA_SM90 if is_cuda(tensor) else Backend.CPU_REFERENCE


def make_plan(moe: MoeConfig, routing: Optional[RoutingConfig] = None,
              options: Optional[PlanOptions] = None, *, backend: Union[Backend, str, None] = None,
              max_num_tokens: Optional[int] = None, tactic: Optional[int] = None,
              gemm2_tactic: Optional[int] = None, expert_kernel: Optional[ExpertKernel] = None,
              token_gather: Optional[TokenGather] = None) -> MoePlan:
    """Validates the configuration and sizes the workspace (raises FusedMoeError).

    Keyword options override the matching fields of `options`; `routing` defaults to
    RoutingConfig() (softmax -> top-k, renormalized).
    """
    base = options if options is not None else PlanOptions()
    merged = PlanOptions(
        backend=as_backend(backend) if backend is not None else base.backend,
        max_num_tokens=int(max_num_tokens) if max_num_tokens is not None else base.max_num_tokens,
        combine_mode=base.combine_mode,
        tactic=int(tactic) if tactic is not None else base.tactic,
        gemm2_tactic=int(gemm2_tactic) if gemm2_tactic is not None else base.gemm2_tactic,
        expert_kernel=expert_kernel if expert_kernel is not None else base.expert_kernel,
        token_gather=token_gather if token_gather is not None else base.token_gather)
    return _C.make_plan(moe, routing if routing is not None else RoutingConfig(), merged)
