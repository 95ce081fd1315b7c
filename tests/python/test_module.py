"""The extension's surface: configs, plans, capability queries and the error classes."""

import numpy as np
import pytest

import fusedmoe
from helpers import bf16


def test_version_and_device_info():
    assert fusedmoe.__version__ == fusedmoe._C.version()
    info = fusedmoe.cuda_device_info()
    assert info.available or info.reason  # never silent about why there is no device


def test_configs_take_keywords_and_print_them():
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=8, top_k=2,
                             activation=fusedmoe.Activation.RELU2)
    assert (moe.hidden_size, moe.top_k, moe.activation) == (64, 2, fusedmoe.Activation.RELU2)
    assert moe.weight_format == fusedmoe.WeightFormat.BF16  # C++ default kept
    assert "hidden_size=64" in repr(moe) and "Activation.RELU2" in repr(moe)
    assert moe.local_experts() == 8
    moe.activation_params.alpha = 2.5  # nested struct fields are writable in place
    assert moe.activation_params.alpha == 2.5


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'hidden'"):
        fusedmoe.MoeConfig(hidden=64)


def test_make_plan_cpu_has_no_workspace():
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=8, top_k=2)
    plan = fusedmoe.make_plan(moe, backend="cpu", max_num_tokens=16)
    assert plan.options.backend == fusedmoe.Backend.CPU_REFERENCE
    assert plan.options.max_num_tokens == 16
    assert plan.workspace_bytes == 0
    assert plan.routing.method == fusedmoe.RoutingMethod.SOFTMAX_TOPK


def test_make_plan_keeps_the_requested_expert_kernel():
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=8, top_k=2)
    assert fusedmoe.make_plan(moe, backend="cpu").options.expert_kernel == fusedmoe.ExpertKernel.AUTO
    plan = fusedmoe.make_plan(moe, backend="cpu", expert_kernel=fusedmoe.ExpertKernel.GROUPED_TILE)
    assert plan.options.expert_kernel == fusedmoe.ExpertKernel.GROUPED_TILE


def test_make_plan_keeps_the_requested_token_gather():
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=8, top_k=2)
    assert fusedmoe.make_plan(moe, backend="cpu").options.token_gather == fusedmoe.TokenGather.AUTO
    plan = fusedmoe.make_plan(moe, backend="cpu", token_gather=fusedmoe.TokenGather.COPY)
    assert plan.options.token_gather == fusedmoe.TokenGather.COPY
    plan = fusedmoe.make_plan(moe, backend="cpu", token_gather=fusedmoe.TokenGather.INDEX)
    assert plan.options.token_gather == fusedmoe.TokenGather.INDEX


def test_make_plan_keeps_a_gemm2_tile_forced_apart_from_gemm1s():
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=8, top_k=2)
    assert fusedmoe.make_plan(moe, backend="cpu").options.gemm2_tactic == -1
    plan = fusedmoe.make_plan(moe, backend="cpu", expert_kernel=fusedmoe.ExpertKernel.GROUPED_TILE,
                              tactic=3, gemm2_tactic=4)
    assert (plan.options.tactic, plan.options.gemm2_tactic) == (3, 4)
    with pytest.raises(fusedmoe.UnsupportedError, match=r"gemm2_tactic = 4 with expert_kernel 'auto'"):
        fusedmoe.make_plan(moe, backend="cpu", gemm2_tactic=4)
    weights = fusedmoe.ExpertWeights(w13=bf16(np.zeros((8, 64, 64))), w2=bf16(np.zeros((8, 64, 32))))
    layer = fusedmoe.MoELayer(moe, weights, max_num_tokens=4,
                              expert_kernel=fusedmoe.ExpertKernel.GROUPED_TILE, gemm2_tactic=0)
    assert layer.plan.options.gemm2_tactic == 0


def test_invalid_config_names_the_argument():
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=8, top_k=9)
    with pytest.raises(fusedmoe.InvalidArgumentError, match=r"argument 'moe\.top_k'") as info:
        fusedmoe.make_plan(moe, backend="cpu", max_num_tokens=16)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, fusedmoe.FusedMoeError)
    assert error.kind == fusedmoe.ErrorKind.INVALID_ARGUMENT
    assert "expected" in str(error) and "got 9" in str(error)


def test_error_classes():
    assert issubclass(fusedmoe.FusedMoeError, RuntimeError)
    assert issubclass(fusedmoe.InvalidArgumentError, ValueError)
    for cls, kind in [(fusedmoe.UnsupportedError, fusedmoe.ErrorKind.UNSUPPORTED),
                      (fusedmoe.CudaError, fusedmoe.ErrorKind.CUDA),
                      (fusedmoe.InternalError, fusedmoe.ErrorKind.INTERNAL)]:
        assert issubclass(cls, fusedmoe.FusedMoeError) and cls.kind == kind
        assert not issubclass(cls, ValueError)


def test_backend_names():
    with pytest.raises(fusedmoe.InvalidArgumentError, match="argument 'backend'"):
        fusedmoe.make_plan(fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32,
                                              num_experts=8, top_k=2), backend="tpu")


def test_query_support_cpu_reference():
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=8, top_k=2)
    for entry in fusedmoe.EntryPoint:
        support = fusedmoe.query_support(moe, fusedmoe.RoutingConfig(),
                                         fusedmoe.Backend.CPU_REFERENCE, entry)
        assert bool(support) == support.supported
        assert support.supported or support.reason


def test_query_support_cuda_explains_itself():
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=8, top_k=2)
    support = fusedmoe.query_support(moe, fusedmoe.RoutingConfig(), fusedmoe.Backend.CUDA_SM90,
                                     fusedmoe.EntryPoint.FUSED)
    assert support.supported or support.reason  # a reason whenever it cannot run


def test_prepare_on_cpu_validates_and_keeps_checkpoint_layout(rng):
    from helpers import random_layer

    layer = random_layer(rng)
    weights = fusedmoe.prepare_weights(layer.moe, layer.weights())
    assert weights.layout == fusedmoe.WeightLayout.CHECKPOINT
    bad = fusedmoe.ExpertWeights(w13=layer.w13, w2=np.zeros((8, 64, 32), np.float32))
    with pytest.raises(fusedmoe.InvalidArgumentError, match="weights.w2"):
        fusedmoe.prepare_weights(layer.moe, bad)
