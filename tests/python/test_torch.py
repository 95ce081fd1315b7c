"""torch tensors: DLPack interop, the custom ops (opcheck, torch.compile, CUDA graphs) and the GPU
entry points that exist. Skips, saying why, without torch (CI) or without an sm_90 device.

GPU entry points are tested where query_support says this build runs them, against the CPU
reference with docs/NUMERICS.md's bounds; configurations it does not run must raise
UnsupportedError (never zeros).
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


def cpu_layer(routing=None, **kwargs):
    moe = moe_config(**kwargs)
    return fusedmoe.MoELayer(moe, random_weights("cpu", moe.local_experts()), routing,
                             max_num_tokens=256)


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


def test_layer_forward_on_cpu_torch_tensors():
    layer = cpu_layer(fusedmoe.RoutingConfig(method=RM.TOPK_SOFTMAX))
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
    layer = cpu_layer()
    logits = torch.randn(5, E)
    x = torch.randn(5, H).to(torch.bfloat16)
    ids, weights = layer.route(logits)
    maps = layer.dispatch(ids, hidden_states=x)
    rows = layer.experts(maps.permuted_hidden, expert_offsets=maps.expert_offsets)
    checks = [
        (torch.ops.fusedmoe.route.default, (logits, layer.handle)),
        (torch.ops.fusedmoe.route_capture.default, (logits, torch.zeros(5, K, dtype=torch.int32),
                                                    layer.handle)),
        (torch.ops.fusedmoe.dispatch.default, (ids, x, 4, True, layer.handle)),
        (torch.ops.fusedmoe.experts.default, (maps.permuted_hidden, None, maps.expert_offsets,
                                              None, None, 0, layer.handle)),
        (torch.ops.fusedmoe.combine.default, (rows, maps.slot_to_row, weights, None,
                                              layer.handle)),
        (torch.ops.fusedmoe.fused.default, (x, logits, None, layer.handle)),
        (torch.ops.fusedmoe.fused_capture.default, (x, logits, None,
                                                    torch.zeros(5, K, dtype=torch.int16),
                                                    layer.handle)),
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
    model = TinyModel(cpu_layer())
    x = torch.randn(6, H).to(torch.bfloat16)
    with torch.inference_mode():  # as serving runs: the ops have no backward
        eager = model(x)
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        assert torch.equal(compiled(x), eager)


# ---- CUDA ---------------------------------------------------------------------------------------
def require(entry, routing=None, **kwargs):
    support = cuda_supports(entry, routing, **kwargs)
    if not support:
        pytest.skip(f"{entry.name} is not in this build's CUDA backend: {support.reason}")


def cuda_layer(routing=None, *, weights=None, **kwargs):
    """A CUDA layer and its CPU-reference twin (same checkpoint weights, copied before the CUDA
    copy is prepared in place). CUDA weights are prepared where this build can."""
    moe = moe_config(**kwargs)
    weights = weights or random_weights("cpu", moe.local_experts())
    oracle = fusedmoe.MoELayer(moe, weights, routing, max_num_tokens=256)
    on_gpu = fusedmoe.ExpertWeights(**{name: t.cuda() for name, t in weights.tensors()})
    prepare = bool(cuda_supports(fusedmoe.EntryPoint.PREPARE, routing, **kwargs))
    layer = fusedmoe.MoELayer(moe, on_gpu, routing, max_num_tokens=256, prepare=prepare)
    return layer, oracle


def assert_matches_reference(out, expected, rel_l2=2e-3, max_rel=1.6e-2):
    """docs/NUMERICS.md's bounds (bf16 out, activation_quant none by default)."""
    out, expected = out.float().cpu(), expected.float()
    assert torch.isfinite(out).all(), "NaN/Inf in the GPU output"
    diff = out - expected
    assert (diff.norm() / expected.norm()).item() <= rel_l2, (diff.norm() / expected.norm()).item()
    assert (diff.abs().max() / expected.abs().max()).item() <= max_rel


@cuda_only
@pytest.mark.parametrize("method", [RM.SOFTMAX_TOPK, RM.TOPK_SOFTMAX, RM.SIGMOID_GROUPED_TOPK,
                                    RM.SIGMOID_TOPK])
def test_cuda_route_matches_the_reference(method):
    grouped = method == RM.SIGMOID_GROUPED_TOPK
    routing = fusedmoe.RoutingConfig(method=method, n_group=4 if grouped else 1,
                                     topk_group=2 if grouped else 1)
    require(EP.ROUTE, routing)
    layer, oracle = cuda_layer(routing)
    if grouped:
        layer.correction_bias = torch.randn(E, device="cuda")
        oracle.correction_bias = layer.correction_bias.cpu()
    for dtype in (torch.float32, torch.bfloat16):
        logits = torch.randn(37, E, device="cuda").to(dtype)
        capture = torch.zeros(37, K, dtype=torch.int16, device="cuda")
        ids, weights = layer.route(logits, routed_experts_out=capture)
        ref_ids, ref_weights = oracle.route(logits.cpu())
        assert torch.equal(ids.cpu(), ref_ids)
        assert torch.equal(capture.cpu().to(torch.int32), ref_ids)
        torch.testing.assert_close(weights.cpu(), ref_weights, rtol=1e-4, atol=1e-6)


@cuda_only
@pytest.mark.parametrize("alignment", [1, 16])
def test_cuda_dispatch_and_combine_match_the_reference(alignment):
    require(EP.DISPATCH)
    require(EP.COMBINE)
    layer, oracle = cuda_layer(local_expert_offset=4, num_local_experts=8)
    ids = torch.randint(-1, E, (29, K), dtype=torch.int32, device="cuda")
    x = torch.randn(29, H, device="cuda").to(torch.bfloat16)
    maps = layer.dispatch(ids, hidden_states=x, row_alignment=alignment)
    expected = oracle.dispatch(ids.cpu(), hidden_states=x.cpu(), row_alignment=alignment)
    for name in ("expert_offsets", "expert_counts", "row_to_slot", "slot_to_row"):
        assert torch.equal(getattr(maps, name).cpu(), getattr(expected, name)), name
    used = int(expected.expert_offsets[-1])  # rows past the last segment are left untouched
    assert torch.equal(maps.permuted_hidden[:used].cpu(), expected.permuted_hidden[:used])

    rows = torch.randn(maps.row_to_slot.shape[0], H, device="cuda").to(torch.bfloat16)
    weights = torch.rand(29, K, device="cuda")
    out = layer.combine(rows, maps.slot_to_row, topk_weights=weights)
    ref_out = oracle.combine(rows.cpu(), expected.slot_to_row, topk_weights=weights.cpu())
    assert_matches_reference(out, ref_out, rel_l2=1e-3, max_rel=2 ** -7)
    assert torch.equal(layer.combine(rows, maps.slot_to_row, topk_weights=weights), out)


@cuda_only
def test_cuda_route_runs_on_the_current_stream():
    require(EP.ROUTE)
    layer, _ = cuda_layer()
    logits = torch.randn(64, E, device="cuda")
    expected = layer.route(logits)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        ids, weights = layer.route(logits)
    torch.cuda.current_stream().wait_stream(side)
    assert torch.equal(ids, expected[0]) and torch.equal(weights, expected[1])


@cuda_only
@pytest.mark.parametrize("tokens", [1, 37, 200])
def test_cuda_routed_and_fused_match_the_reference(tokens):
    require(EP.ROUTE)
    require(EP.ROUTED)
    layer, oracle = cuda_layer(fusedmoe.RoutingConfig(method=RM.TOPK_SOFTMAX))
    x = torch.randn(tokens, H, device="cuda").to(torch.bfloat16)
    logits = torch.randn(tokens, E, device="cuda")
    ids, weights = layer.route(logits)  # the GPU's own routing: no near-tie ambiguity below
    routed = layer.forward_routed(x, ids, weights)
    assert_matches_reference(routed, oracle.forward_routed(x.cpu(), ids.cpu(), weights.cpu()))
    if cuda_supports(EP.FUSED, layer.routing):
        assert torch.equal(layer.forward(x, logits), routed)  # moe.h: routed == fused bitwise


@cuda_only
def test_cuda_expert_parallel_shard():
    require(EP.ROUTED, local_expert_offset=4, num_local_experts=8)
    layer, oracle = cuda_layer(local_expert_offset=4, num_local_experts=8)
    x = torch.randn(33, H, device="cuda").to(torch.bfloat16)
    ids = torch.randint(-1, E, (33, K), dtype=torch.int32, device="cuda")
    ids[0] = torch.tensor([0, 1, 2, -1])  # no local expert: exactly zero
    weights = torch.rand(33, K, device="cuda")
    out = layer.forward_routed(x, ids, weights)
    assert_matches_reference(out, oracle.forward_routed(x.cpu(), ids.cpu(), weights.cpu()))
    assert not out[0].any()


@cuda_only
def test_cuda_modular_stages_compose_to_fused():
    for entry in (EP.ROUTE, EP.DISPATCH, EP.EXPERTS, EP.COMBINE):
        require(entry)
    layer, oracle = cuda_layer()
    x = torch.randn(45, H, device="cuda").to(torch.bfloat16)
    logits = torch.randn(45, E, device="cuda")
    out = modular_pipeline(layer, logits, x)
    ids, weights = layer.route(logits)
    assert_matches_reference(out, oracle.forward_routed(x.cpu(), ids.cpu(), weights.cpu()))


def modular_pipeline(layer, logits, x):
    """route -> dispatch -> experts -> combine, as an expert-parallel engine calls them."""
    ids, weights = layer.route(logits)
    maps = layer.dispatch(ids, hidden_states=x, row_alignment=8)
    rows = layer.experts(maps.permuted_hidden, expert_offsets=maps.expert_offsets,
                         expert_counts=maps.expert_counts)
    return layer.combine(rows, maps.slot_to_row, topk_weights=weights)


def fused_or_modular(layer):
    if cuda_supports(EP.FUSED):
        return lambda logits, x: layer.forward(x, logits)
    for entry in (EP.ROUTE, EP.DISPATCH, EP.EXPERTS, EP.COMBINE):
        require(entry)
    return lambda logits, x: modular_pipeline(layer, logits, x)


@cuda_only
def test_cuda_graph_capture_and_replay():
    layer, _ = cuda_layer()
    run = fused_or_modular(layer)
    logits = torch.randn(48, E, device="cuda")
    x = torch.randn(48, H, device="cuda").to(torch.bfloat16)
    run(logits, x)  # warm-up outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = run(logits, x)
    for _ in range(3):
        logits.copy_(torch.randn_like(logits))
        x.copy_(torch.randn_like(x))
        graph.replay()
        assert torch.equal(captured, run(logits, x))


class CudaModel(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.router = torch.nn.Linear(H, E, bias=False)
        self.run = fused_or_modular(layer)

    def forward(self, x):
        return self.run(self.router(x.float()), x)


@cuda_only
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_cuda_torch_compile(mode):
    layer, _ = cuda_layer()
    model = CudaModel(layer).cuda()
    x = torch.randn(40, H, device="cuda").to(torch.bfloat16)
    with torch.inference_mode():  # as serving runs: the ops have no backward
        eager = model(x)
        compiled = torch.compile(model, fullgraph=True, mode=mode)
        for _ in range(3):  # reduce-overhead records a CUDA graph after warm-up runs
            assert torch.equal(compiled(x), eager)


class CapturingModel(torch.nn.Module):
    """Records its routing decisions in a buffer, as RL routing replay does."""

    def __init__(self, layer, tokens):
        super().__init__()
        self.router = torch.nn.Linear(H, E, bias=False)
        self.register_buffer("replay", torch.zeros(tokens, K, dtype=torch.int16))
        self.moe = layer

    def forward(self, x):
        return self.moe.forward(x, self.router(x.float()), routed_experts_out=self.replay)


@cuda_only
def test_cuda_torch_compile_with_routing_capture():
    require(EP.FUSED)
    layer, _ = cuda_layer()
    model = CapturingModel(layer, 24).cuda()
    x = torch.randn(24, H, device="cuda").to(torch.bfloat16)
    with torch.inference_mode():
        eager = model(x)
        expected_ids = model.replay.clone()
        model.replay.zero_()
        compiled = torch.compile(model, fullgraph=True)
        assert torch.equal(compiled(x), eager)
        assert torch.equal(model.replay, expected_ids)
        ids, _ = layer.route(model.router(x.float()))
        assert torch.equal(expected_ids.to(torch.int32), ids)


def fp8_block_weights(experts):
    g = torch.Generator().manual_seed(11)
    return fusedmoe.ExpertWeights(
        w13=torch.randn(experts, 2 * I, H, generator=g).to(torch.float8_e4m3fn),
        w2=torch.randn(experts, H, I, generator=g).to(torch.float8_e4m3fn),
        w13_scale=torch.rand(experts, (2 * I + 127) // 128, (H + 127) // 128, generator=g) * 0.02,
        w2_scale=torch.rand(experts, (H + 127) // 128, (I + 127) // 128, generator=g) * 0.02)


@cuda_only
def test_cuda_fp8_block_runs_or_says_unsupported():
    config = dict(weight_format=fusedmoe.WeightFormat.FP8_BLOCK128,
                  activation_quant=fusedmoe.ActivationQuant.FP8_GROUP128)
    support = {entry: cuda_supports(entry, **config) for entry in (EP.PREPARE, EP.ROUTED)}
    if not support[EP.PREPARE]:
        with pytest.raises(fusedmoe.UnsupportedError, match=".+"):
            fusedmoe.prepare_weights(moe_config(**config), fusedmoe.ExpertWeights(
                **{name: t.cuda() for name, t in fp8_block_weights(E).tensors()}))
        return
    layer, oracle = cuda_layer(weights=fp8_block_weights(E), **config)
    x = torch.randn(21, H, device="cuda").to(torch.bfloat16)
    ids = torch.randint(0, E, (21, K), dtype=torch.int32, device="cuda")
    weights = torch.rand(21, K, device="cuda")
    if not support[EP.ROUTED]:
        with pytest.raises(fusedmoe.UnsupportedError, match=".+"):
            layer.forward_routed(x, ids, weights)
        return
    out = layer.forward_routed(x, ids, weights)
    assert_matches_reference(out, oracle.forward_routed(x.cpu(), ids.cpu(), weights.cpu()),
                             rel_l2=3e-3, max_rel=3e-2)
