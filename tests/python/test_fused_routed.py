"""The whole layer through numpy arrays: fused, routed, the modular pipeline and MoELayer."""

import numpy as np
import pytest

import fusedmoe
import numpy_moe as ref
from helpers import assert_close_bf16, bf16, random_layer, values

LAYOUTS = {fusedmoe.GateUpLayout.GATE_THEN_UP: "gate_up",
           fusedmoe.GateUpLayout.UP_THEN_GATE: "up_gate",
           fusedmoe.GateUpLayout.INTERLEAVED: "interleaved"}


def cpu_plan(layer, routing=None):
    return fusedmoe.make_plan(layer.moe, routing, backend="cpu", max_num_tokens=64)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_fused_matches_the_model(rng, layout):
    layer = random_layer(rng, layout=layout)
    logits = rng.standard_normal((5, 8)).astype(np.float32)
    routing = fusedmoe.RoutingConfig(method=fusedmoe.RoutingMethod.TOPK_SOFTMAX)
    out = fusedmoe.fused(cpu_plan(layer, routing), layer.x, logits, layer.weights())
    assert isinstance(out, fusedmoe.TypedArray) and out.shape == (5, 64)
    ids, w = ref.route_topk_softmax(logits, 2)
    expected = ref.moe(values(layer.x), ids, w, values(layer.w13), values(layer.w2),
                       layout=LAYOUTS[layout])
    assert_close_bf16(values(out), expected)


def test_fused_applies_routed_scaling_factor_once(rng):
    layer = random_layer(rng)
    logits = rng.standard_normal((5, 8)).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32) * 0.1
    shared = bf16(rng.standard_normal((5, 64)))
    routing = fusedmoe.RoutingConfig(method=fusedmoe.RoutingMethod.SIGMOID_GROUPED_TOPK,
                                     routed_scaling_factor=2.5)
    out = fusedmoe.fused(cpu_plan(layer, routing), layer.x, logits, layer.weights(),
                         correction_bias=bias, shared_output=shared)
    ids, w = ref.route_sigmoid_grouped(logits, bias, 2, 1, 1, True)
    expected = ref.moe(values(layer.x), ids, w, values(layer.w13), values(layer.w2), rsf=2.5,
                       shared=values(shared))
    assert_close_bf16(values(out), expected)


def test_routed_is_bitwise_the_fused_result(rng):
    layer = random_layer(rng)
    logits = rng.standard_normal((5, 8)).astype(np.float32)
    plan = cpu_plan(layer)
    capture = np.zeros((5, 2), np.int32)
    fused = fusedmoe.fused(plan, layer.x, logits, layer.weights(), routed_experts_out=capture)
    ids, weights = fusedmoe.route(plan, logits)
    np.testing.assert_array_equal(capture, ids)
    routed = fusedmoe.routed(plan, layer.x, ids, weights, layer.weights())
    np.testing.assert_array_equal(routed.array, fused.array)


def test_routed_with_expert_parallel_shard(rng):
    # This rank holds experts [4, 8) of 8: other ids and -1 add nothing.
    layer = random_layer(rng, local_offset=4)
    ids = np.array([[0, 5], [7, -1], [4, 4], [1, 2], [6, 3]], np.int32)
    weights = rng.random((5, 2)).astype(np.float32)
    out = fusedmoe.routed(cpu_plan(layer), layer.x, ids, weights, layer.weights())
    expected = ref.moe(values(layer.x), ids, weights, values(layer.w13), values(layer.w2),
                       local_offset=4)
    assert_close_bf16(values(out), expected)
    assert not values(out)[3].any()  # no local expert: exactly zero


def test_modular_pipeline_is_bitwise_the_fused_result(rng):
    # fused = route -> dispatch -> experts (unweighted rows) -> combine with the slot weights,
    # so the stages called one by one round at the same places.
    layer = random_layer(rng)
    logits = rng.standard_normal((5, 8)).astype(np.float32)
    plan = cpu_plan(layer)
    ids, weights = fusedmoe.route(plan, logits)
    maps = fusedmoe.dispatch(plan, ids, row_alignment=4, hidden_states=layer.x)
    expert_out = fusedmoe.experts(plan, maps.permuted_hidden, layer.weights(),
                                  expert_offsets=maps.expert_offsets,
                                  expert_counts=maps.expert_counts)
    out = fusedmoe.combine(plan, expert_out, maps.slot_to_row, topk_weights=weights)
    fused = fusedmoe.fused(plan, layer.x, logits, layer.weights())
    np.testing.assert_array_equal(out.array, fused.array)


def test_row_weights_scale_the_stored_rows(rng):
    layer = random_layer(rng)
    plan = cpu_plan(layer)
    rows = bf16(rng.standard_normal((6, 64)))
    offsets = np.array([0, 2, 2, 4, 4, 4, 6, 6, 6], np.int32)
    row_weights = rng.random(6).astype(np.float32)
    plain = fusedmoe.experts(plan, rows, layer.weights(), expert_offsets=offsets)
    weighted = fusedmoe.experts(plan, rows, layer.weights(), expert_offsets=offsets,
                                row_weights=row_weights)
    expected = ref.round_bf16(values(plain) * row_weights[:, None].astype(np.float64))
    np.testing.assert_array_equal(values(weighted), expected)


def test_weight_errors_name_the_argument(rng):
    layer = random_layer(rng)
    weights = fusedmoe.ExpertWeights(w13=layer.w13, w2=bf16(np.zeros((8, 64, 31))))
    with pytest.raises(fusedmoe.InvalidArgumentError, match="weights.w2"):
        fusedmoe.fused(cpu_plan(layer), layer.x, np.zeros((5, 8), np.float32), weights)


def test_moe_layer_forward_and_forward_routed(rng):
    layer = random_layer(rng)
    logits = rng.standard_normal((5, 8)).astype(np.float32)
    routing = fusedmoe.RoutingConfig(method=fusedmoe.RoutingMethod.TOPK_SOFTMAX)
    moe_layer = fusedmoe.MoELayer(layer.moe, layer.weights(), routing, max_num_tokens=16)
    assert moe_layer.backend == fusedmoe.Backend.CPU_REFERENCE
    out = moe_layer.forward(layer.x, logits)
    ids, w = ref.route_topk_softmax(logits, 2)
    expected = ref.moe(values(layer.x), ids, w, values(layer.w13), values(layer.w2))
    assert_close_bf16(values(out), expected)
    topk_ids, topk_weights = moe_layer.route(logits)
    routed = moe_layer.forward_routed(layer.x, topk_ids, topk_weights)
    np.testing.assert_array_equal(routed.array, out.array)
    assert "CPU_REFERENCE" in repr(moe_layer)


def test_moe_layer_modular_methods(rng):
    layer = random_layer(rng)
    logits = rng.standard_normal((5, 8)).astype(np.float32)
    moe_layer = fusedmoe.MoELayer(layer.moe, layer.weights(), max_num_tokens=16)
    ids, weights = moe_layer.route(logits)
    maps = moe_layer.dispatch(ids, hidden_states=layer.x)
    rows = moe_layer.experts(maps.permuted_hidden, expert_offsets=maps.expert_offsets)
    out = moe_layer.combine(rows, maps.slot_to_row, topk_weights=weights)
    np.testing.assert_array_equal(out.array, moe_layer.forward(layer.x, logits).array)
