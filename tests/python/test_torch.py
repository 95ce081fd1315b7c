"""torch tensors: DLPack interop, the custom ops (opcheck, torch.compile, CUDA graphs) and the GPU
entry points that exist. Skips, saying why, without torch (CI) or without an sm_90 device.

GPU entry points are tested where query_support says this build runs them; the others must
raise UnsupportedError with that reason (never zeros).
"""

import numpy as np
import pytest

import fusedmoe
import numpy_moe as ref

torch = pytest.importorskip(
    "torch", reason="torch is not installed (CI drives the CPU reference through numpy; these "
                    "tests run on the GPU machine)")

_DEVICE = fusedmoe.cuda_device_info()
cuda_only = pytest.mark.skipif(
    not (_DEVICE.available and torch.cuda.is_available()),
    reason=f"needs an sm_90 CUDA device visible to torch: {_DEVICE.reason or 'torch sees none'}")

H, I, E, K = 128, 64, 16, 4
RM = fusedmoe.RoutingMethod
EP = fusedmoe.EntryPoint


def moe_config(**kwargs):
    return fusedmoe.MoeConfig(hidden_size=H, intermediate_size=I, num_experts=E, top_k=K,
                              **kwargs)


def random_weights(device, experts=E):
    g = torch.Generator().manual_seed(7)
    w13 = (torch.randn(experts, 2 * I, H, generator=g) / H ** 0.5).to(torch.bfloat16)
    w2 = (torch.randn(experts, H, I, generator=g) / I ** 0.5).to(torch.bfloat16)
    return fusedmoe.ExpertWeights(w13=w13.to(device), w2=w2.to(device))


def make_layer(device, routing=None, **kwargs):
    # Modular stages need no expert weights; CUDA layers skip prepare (no GEMMs in this build
    # yet: prepare raises UnsupportedError, tested below).
    moe = moe_config(**kwargs)
    return fusedmoe.MoELayer(moe, random_weights(device, moe.local_experts()), routing,
                             max_num_tokens=256, prepare=(device == "cpu"))


def cuda_supports(entry, routing=None, **kwargs):
    return fusedmoe.query_support(moe_config(**kwargs), routing or fusedmoe.RoutingConfig(),
                                  fusedmoe.Backend.CUDA_SM90, entry)


# ---- torch on the CPU: interop and the custom ops ------------------------------------------------
def test_bf16_torch_tensors_match_numpy():
    logits = torch.randn(9, E)
    plan = fusedmoe.make_plan(moe_config(), fusedmoe.RoutingConfig(method=RM.TOPK_SOFTMAX),
                              backend="cpu", max_num_tokens=16)
    ids, weights = fusedmoe.route(plan, logits.to(torch.bfloat16))
    assert ids.dtype == torch.int32 and weights.dtype == torch.float32
    expected = ref.route_topk_softmax(logits.to(torch.bfloat16).float().numpy(), K)
    np.testing.assert_array_equal(ids.numpy(), expected[0])
    np.testing.assert_allclose(weights.numpy(), expected[1], rtol=1e-5)


def test_layer_forward_on_cpu_tensors_goes_through_the_ops():
    layer = make_layer("cpu", fusedmoe.RoutingConfig(method=RM.TOPK_SOFTMAX))
    x = torch.randn(6, H).to(torch.bfloat16)
    logits = torch.randn(6, E)
    out = layer.forward(x, logits)
    ids, weights = ref.route_topk_softmax(logits.numpy(), K)
    w = layer.weights
    expected = ref.moe(x.float().numpy(), ids, weights, w.w13.float().numpy(),
                       w.w2.float().numpy())
    np.testing.assert_allclose(out.float().numpy(), expected, rtol=2 ** -7,
                               atol=2 ** -7 * np.abs(expected).max())
    topk_ids, topk_weights = layer.route(logits)
    assert torch.equal(layer.forward_routed(x, topk_ids, topk_weights), out)


def test_fp8_torch_tensors_pass_as_bytes():
    import fusedmoe.compat.flashinfer as fi

    g = torch.Generator().manual_seed(3)
    x = (torch.randn(5, H, generator=g)).to(torch.float8_e4m3fn)
    w13 = torch.randn(E, 2 * I, H, generator=g).to(torch.float8_e4m3fn)
    w2 = torch.randn(E, H, I, generator=g).to(torch.float8_e4m3fn)
    scale = torch.full((E,), 0.01)
    logits = torch.randn(5, E, generator=g)
    out = fi.trtllm_fp8_per_tensor_scale_moe(logits, None, x, w13, scale, scale, w2, scale, E, K,
                                             None, None, I, 0, E, None, False,
                                             routing_method_type=1)
    numpy_out = fi.trtllm_fp8_per_tensor_scale_moe(
        logits.numpy(), None, fusedmoe.host.float8_e4m3(x.view(torch.uint8).numpy()),
        fusedmoe.host.float8_e4m3(w13.view(torch.uint8).numpy()), scale.numpy(), scale.numpy(),
        fusedmoe.host.float8_e4m3(w2.view(torch.uint8).numpy()), scale.numpy(), E, K, None, None,
        I, 0, E, None, False, routing_method_type=1)
    assert torch.equal(out.view(torch.uint16).to(torch.int32),
                       torch.from_numpy(numpy_out.array.astype(np.int32)))


def test_custom_ops_pass_opcheck():
    layer = make_layer("cpu")
    logits = torch.randn(5, E)
    x = torch.randn(5, H).to(torch.bfloat16)
    ids, weights = layer.route(logits)
    maps = layer.dispatch(ids, hidden_states=x)
    rows = layer.experts(maps.permuted_hidden, expert_offsets=maps.expert_offsets)
    checks = [
        (torch.ops.fusedmoe.route.default, (logits, torch.zeros(5, K, dtype=torch.int32),
                                            layer.handle)),
        (torch.ops.fusedmoe.dispatch.default, (ids, x, 4, True, layer.handle)),
        (torch.ops.fusedmoe.experts.default, (maps.permuted_hidden, None, maps.expert_offsets,
                                              None, None, 0, layer.handle)),
        (torch.ops.fusedmoe.combine.default, (rows, maps.slot_to_row, weights, None,
                                              layer.handle)),
        (torch.ops.fusedmoe.fused.default, (x, logits, None, None, layer.handle)),
        (torch.ops.fusedmoe.routed.default, (x, ids, weights, None, layer.handle)),
    ]
    for op, args in checks:
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))


class TinyModel(torch.nn.Module):
    """A router and a fusedmoe layer, as a model would hold them."""

    def __init__(self, layer):
        super().__init__()
        self.router = torch.nn.Linear(H, E, bias=False)
        self.moe = layer

    def forward(self, x):
        return self.moe.forward(x, self.router(x.float()))


def test_torch_compile_of_a_model_with_the_layer_on_cpu():
    model = TinyModel(make_layer("cpu"))
    x = torch.randn(6, H).to(torch.bfloat16)
    eager = model(x)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    assert torch.equal(compiled(x), eager)


# ---- CUDA ------------------------------------------------------------------------------------------
def cpu_copy(layer):
    """The same layer on the CPU reference (checkpoint weights), the oracle for the GPU."""
    w = layer.weights
    return fusedmoe.MoELayer(layer.moe, fusedmoe.ExpertWeights(w13=w.w13.cpu(), w2=w.w2.cpu()),
                             layer.routing, max_num_tokens=256)


def require(entry, routing=None, **kwargs):
    support = cuda_supports(entry, routing, **kwargs)
    if not support:
        pytest.skip(f"{entry.name} is not in this build's CUDA backend: {support.reason}")


@cuda_only
@pytest.mark.parametrize("method", [RM.SOFTMAX_TOPK, RM.TOPK_SOFTMAX, RM.SIGMOID_GROUPED_TOPK,
                                    RM.SIGMOID_TOPK])
def test_cuda_route_matches_the_reference(method):
    routing = fusedmoe.RoutingConfig(method=method, n_group=4 if method == RM.SIGMOID_GROUPED_TOPK else 1,
                                     topk_group=2 if method == RM.SIGMOID_GROUPED_TOPK else 1)
    require(EP.ROUTE, routing)
    bias = torch.randn(E, device="cuda") if method == RM.SIGMOID_GROUPED_TOPK else None
    layer = make_layer("cuda", routing)
    layer.correction_bias = bias
    oracle = cpu_copy(layer)
    oracle.correction_bias = bias.cpu() if bias is not None else None
    for dtype in (torch.float32, torch.bfloat16):
        logits = torch.randn(37, E, device="cuda").to(dtype)
        capture = torch.zeros(37, K, dtype=torch.int16, device="cuda")
        ids, weights = layer.route(logits, routed_experts_out=capture)
        ref_ids, ref_weights = oracle.route(logits.cpu())
        assert torch.equal(ids.cpu(), ref_ids)
        assert torch.equal(capture.cpu().to(torch.int32), ref_ids)
        torch.testing.assert_close(weights.cpu(), ref_weights, rtol=1e-5, atol=1e-6)


@cuda_only
@pytest.mark.parametrize("alignment", [1, 16])
def test_cuda_dispatch_and_combine_match_the_reference(alignment):
    require(EP.DISPATCH)
    require(EP.COMBINE)
    layer = make_layer("cuda", local_expert_offset=4, num_local_experts=8)
    oracle = cpu_copy(layer)
    ids = torch.randint(-1, E, (29, K), dtype=torch.int32, device="cuda")
    x = torch.randn(29, H, device="cuda").to(torch.bfloat16)
    maps = layer.dispatch(ids, hidden_states=x, row_alignment=alignment)
    expected = oracle.dispatch(ids.cpu(), hidden_states=x.cpu(), row_alignment=alignment)
    for name in ("expert_offsets", "expert_counts", "row_to_slot", "slot_to_row"):
        assert torch.equal(getattr(maps, name).cpu(), getattr(expected, name)), name
    valid = expected.row_to_slot >= 0
    assert torch.equal(maps.permuted_hidden.cpu()[valid], expected.permuted_hidden[valid])

    rows = torch.randn(maps.row_to_slot.shape[0], H, device="cuda").to(torch.bfloat16)
    weights = torch.rand(29, K, device="cuda")
    out = layer.combine(rows, maps.slot_to_row, topk_weights=weights)
    ref_out = oracle.combine(rows.cpu(), expected.slot_to_row, topk_weights=weights.cpu())
    torch.testing.assert_close(out.cpu().float(), ref_out.float(), rtol=2 ** -7, atol=1e-2)
    again = layer.combine(rows, maps.slot_to_row, topk_weights=weights)
    assert torch.equal(again, out)  # fixed-order combine: bitwise reproducible


@cuda_only
def test_cuda_route_runs_on_the_current_stream():
    require(EP.ROUTE)
    layer = make_layer("cuda")
    logits = torch.randn(64, E, device="cuda")
    expected = layer.route(logits)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        ids, weights = layer.route(logits)
    torch.cuda.current_stream().wait_stream(side)
    assert torch.equal(ids, expected[0]) and torch.equal(weights, expected[1])


def modular_pipeline(layer, logits, x):
    """route -> dispatch -> (a stand-in for the expert GEMMs) -> combine."""
    ids, weights = layer.route(logits)
    maps = layer.dispatch(ids, hidden_states=x, row_alignment=8)
    return layer.combine(maps.permuted_hidden * 2, maps.slot_to_row, topk_weights=weights)


@cuda_only
def test_cuda_graph_capture_and_replay():
    for entry in (EP.ROUTE, EP.DISPATCH, EP.COMBINE):
        require(entry)
    layer = make_layer("cuda")
    logits = torch.randn(48, E, device="cuda")
    x = torch.randn(48, H, device="cuda").to(torch.bfloat16)
    modular_pipeline(layer, logits, x)  # warm-up outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = modular_pipeline(layer, logits, x)
    for _ in range(3):
        logits.copy_(torch.randn_like(logits))
        x.copy_(torch.randn_like(x))
        graph.replay()
        assert torch.equal(captured, modular_pipeline(layer, logits, x))


class RoutedModel(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.router = torch.nn.Linear(H, E, bias=False)
        self.moe = layer

    def forward(self, x):
        return modular_pipeline(self.moe, self.router(x.float()), x)


@cuda_only
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_cuda_torch_compile(mode):
    for entry in (EP.ROUTE, EP.DISPATCH, EP.COMBINE):
        require(entry)
    model = RoutedModel(make_layer("cuda")).cuda()
    x = torch.randn(40, H, device="cuda").to(torch.bfloat16)
    eager = model(x)
    compiled = torch.compile(model, fullgraph=True, mode=mode)
    for _ in range(3):  # reduce-overhead records a CUDA graph after warm-up runs
        assert torch.equal(compiled(x), eager)


@cuda_only
@pytest.mark.parametrize("entry", [EP.FUSED, EP.ROUTED, EP.EXPERTS, EP.PREPARE])
def test_cuda_entry_points_without_kernels_say_so(entry):
    support = cuda_supports(entry)
    if support:
        pytest.skip(f"{entry.name} runs on CUDA in this build: covered by its own tests")
    layer = make_layer("cuda")
    x = torch.randn(8, H, device="cuda").to(torch.bfloat16)
    logits = torch.randn(8, E, device="cuda")
    ids = torch.randint(0, E, (8, K), dtype=torch.int32, device="cuda")
    weights = torch.rand(8, K, device="cuda")
    call = {
        EP.FUSED: lambda: layer.forward(x, logits),
        EP.ROUTED: lambda: layer.forward_routed(x, ids, weights),
        EP.EXPERTS: lambda: layer.experts(
            torch.zeros(32, H, dtype=torch.bfloat16, device="cuda"),
            expert_offsets=torch.zeros(E + 1, dtype=torch.int32, device="cuda")),
        EP.PREPARE: lambda: fusedmoe.prepare_weights(layer.moe, random_weights("cuda")),
    }[entry]
    with pytest.raises(fusedmoe.UnsupportedError) as info:
        call()
    assert str(info.value)  # the reason, same as query_support's
    assert info.value.kind == fusedmoe.ErrorKind.UNSUPPORTED
