"""Fused routing through numpy arrays against the numpy model, method by method."""

import numpy as np
import pytest

import fusedmoe
import numpy_moe as ref
from helpers import bf16, values

M = fusedmoe.RoutingMethod
EXPERTS, TOP_K = 16, 4


def plan(routing, *, experts=EXPERTS, top_k=TOP_K):
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=experts,
                             top_k=top_k)
    return fusedmoe.make_plan(moe, routing, backend="cpu", max_num_tokens=64)


def check(ids, weights, expected_ids, expected_weights):
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("renormalize", [False, True])
def test_softmax_topk(rng, renormalize):
    logits = rng.standard_normal((7, EXPERTS)).astype(np.float32)
    ids, w = fusedmoe.route(plan(fusedmoe.RoutingConfig(method=M.SOFTMAX_TOPK,
                                                        renormalize=renormalize)), logits)
    assert ids.dtype == np.int32 and w.dtype == np.float32 and ids.shape == (7, TOP_K)
    check(ids, w, *ref.route_softmax_topk(logits, TOP_K, renormalize))


def test_topk_softmax(rng):
    logits = rng.standard_normal((7, EXPERTS)).astype(np.float32)
    ids, w = fusedmoe.route(plan(fusedmoe.RoutingConfig(method=M.TOPK_SOFTMAX)), logits)
    check(ids, w, *ref.route_topk_softmax(logits, TOP_K))


@pytest.mark.parametrize("renormalize", [False, True])
def test_sigmoid_topk(rng, renormalize):
    logits = rng.standard_normal((7, EXPERTS)).astype(np.float32)
    ids, w = fusedmoe.route(plan(fusedmoe.RoutingConfig(method=M.SIGMOID_TOPK,
                                                        renormalize=renormalize)), logits)
    check(ids, w, *ref.route_sigmoid_topk(logits, TOP_K, renormalize))


@pytest.mark.parametrize("n_group,topk_group", [(1, 1), (4, 2)])
def test_sigmoid_grouped_with_bias_and_no_scaling_in_weights(rng, n_group, topk_group):
    logits = rng.standard_normal((9, EXPERTS)).astype(np.float32)
    bias = rng.standard_normal(EXPERTS).astype(np.float32)
    routing = fusedmoe.RoutingConfig(method=M.SIGMOID_GROUPED_TOPK, n_group=n_group,
                                     topk_group=topk_group, routed_scaling_factor=2.5)
    ids, w = fusedmoe.route(plan(routing), logits, correction_bias=bias)
    # routed_scaling_factor is applied in combine, never folded into the routing weights.
    check(ids, w, *ref.route_sigmoid_grouped(logits, bias, TOP_K, n_group, topk_group, True))


def test_llama4_top1(rng):
    logits = rng.standard_normal((5, EXPERTS)).astype(np.float32)
    ids, w = fusedmoe.route(plan(fusedmoe.RoutingConfig(method=M.LLAMA4_TOP1_SIGMOID), top_k=1),
                            logits)
    check(ids, w, np.argmax(logits, axis=1)[:, None],
          1 / (1 + np.exp(-logits.max(axis=1, keepdims=True))))


def test_bf16_logits_read_natively(rng):
    logits = bf16(rng.standard_normal((6, EXPERTS)))
    ids, w = fusedmoe.route(plan(fusedmoe.RoutingConfig(method=M.TOPK_SOFTMAX)), logits)
    check(ids, w, *ref.route_topk_softmax(values(logits), TOP_K))


@pytest.mark.parametrize("dtype", [np.int16, np.int32])
def test_routed_experts_out_captures_ids(rng, dtype):
    logits = rng.standard_normal((6, EXPERTS)).astype(np.float32)
    capture = np.full((6, TOP_K), -7, dtype)
    ids, _ = fusedmoe.route(plan(fusedmoe.RoutingConfig()), logits, routed_experts_out=capture)
    np.testing.assert_array_equal(capture, ids)


def test_nan_and_inf_logits_give_distinct_valid_ids(rng):
    logits = rng.standard_normal((4, EXPERTS)).astype(np.float32)
    logits[0, :] = np.nan
    logits[1, ::2] = np.nan
    logits[2, 3] = np.inf
    logits[3, :] = -np.inf
    for method in M:
        top_k = 1 if method == M.LLAMA4_TOP1_SIGMOID else TOP_K
        ids, w = fusedmoe.route(plan(fusedmoe.RoutingConfig(method=method), top_k=top_k), logits)
        assert ((ids >= 0) & (ids < EXPERTS)).all(), method
        for row in ids:
            assert len(set(row.tolist())) == top_k, (method, row)


def test_bias_with_wrong_shape_is_named(rng):
    routing = fusedmoe.RoutingConfig(method=M.SIGMOID_GROUPED_TOPK)
    with pytest.raises(fusedmoe.InvalidArgumentError, match="correction_bias"):
        fusedmoe.route(plan(routing), np.zeros((2, EXPERTS), np.float32),
                       correction_bias=np.zeros(EXPERTS + 1, np.float32))
