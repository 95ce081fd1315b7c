"""fusedmoe.compat.flashinfer on the CPU reference: every convention mapping, and the errors."""

import inspect

import numpy as np
import pytest

import fusedmoe
import fusedmoe.compat.flashinfer as fi
import numpy_moe as ref
from fusedmoe.compat._flashinfer_conventions import fused_routing
from helpers import assert_close_bf16, bf16, values

RM = fusedmoe.RoutingMethod
T, H, I, E, K = 5, 64, 32, 8, 2


@pytest.fixture
def bf16_layer(rng):
    """Weights in FlashInfer's convention: GEMM1 rows [up; gate], MajorK."""
    return dict(x=bf16(rng.standard_normal((T, H))),
                w13=bf16(rng.standard_normal((E, 2 * I, H)) / np.sqrt(H)),
                w2=bf16(rng.standard_normal((E, H, I)) / np.sqrt(I)),
                logits=rng.standard_normal((T, E)).astype(np.float32))


def bf16_call(layer, **kwargs):
    args = dict(routing_logits=layer["logits"], routing_bias=None, hidden_states=layer["x"],
                gemm1_weights=layer["w13"], gemm2_weights=layer["w2"], num_experts=E, top_k=K,
                n_group=None, topk_group=None, intermediate_size=I, local_expert_offset=0,
                local_num_experts=E, use_shuffled_weight=False, weight_layout=0)
    args.update(kwargs)
    return fi.trtllm_bf16_moe(**args)


def model(layer, ids, weights, **kwargs):
    return ref.moe(values(layer["x"]), ids, weights, values(layer["w13"]), values(layer["w2"]),
                   layout="up_gate", **kwargs)


# ---- signatures ---------------------------------------------------------------------------------
# FlashInfer fb28d72's parameter lists (flashinfer/fused_moe/core.py), in order.
FLASHINFER_PARAMETERS = {
    "trtllm_bf16_moe": "routing_logits routing_bias hidden_states gemm1_weights gemm2_weights "
    "num_experts top_k n_group topk_group intermediate_size local_expert_offset "
    "local_num_experts routed_scaling_factor routing_method_type use_shuffled_weight "
    "weight_layout do_finalize enable_pdl tune_max_num_tokens activation_type norm_topk_prob "
    "routing_replay_out gemm1_alpha gemm1_beta gemm1_clamp_limit output",
    "trtllm_bf16_routed_moe": "topk_ids hidden_states gemm1_weights gemm2_weights num_experts "
    "top_k n_group topk_group intermediate_size local_expert_offset local_num_experts "
    "routed_scaling_factor routing_method_type use_shuffled_weight weight_layout do_finalize "
    "enable_pdl gemm1_lora_delta tune_max_num_tokens activation_type routing_replay_out "
    "gemm1_alpha gemm1_beta gemm1_clamp_limit output",
    "trtllm_fp8_per_tensor_scale_moe": "routing_logits routing_bias hidden_states gemm1_weights "
    "output1_scales_scalar output1_scales_gate_scalar gemm2_weights output2_scales_scalar "
    "num_experts top_k n_group topk_group intermediate_size local_expert_offset "
    "local_num_experts routed_scaling_factor use_routing_scales_on_input routing_method_type "
    "do_finalize enable_pdl tune_max_num_tokens activation_type norm_topk_prob "
    "routing_replay_out output",
    "trtllm_fp8_per_tensor_scale_routed_moe": "topk_ids routing_bias hidden_states gemm1_weights "
    "output1_scales_scalar output1_scales_gate_scalar gemm2_weights output2_scales_scalar "
    "num_experts top_k n_group topk_group intermediate_size local_expert_offset "
    "local_num_experts routed_scaling_factor use_routing_scales_on_input routing_method_type "
    "do_finalize enable_pdl tune_max_num_tokens activation_type routing_replay_out output",
    "trtllm_fp8_block_scale_moe": "routing_logits routing_bias hidden_states hidden_states_scale "
    "gemm1_weights gemm1_weights_scale gemm2_weights gemm2_weights_scale num_experts top_k "
    "n_group topk_group intermediate_size local_expert_offset local_num_experts "
    "routed_scaling_factor routing_method_type use_shuffled_weight weight_layout do_finalize "
    "enable_pdl tune_max_num_tokens fp8_quantization_type num_fused_shared_experts "
    "activation_type norm_topk_prob routing_replay_out gemm1_alpha gemm1_beta "
    "gemm1_clamp_limit output",
    "trtllm_fp8_block_scale_routed_moe": "topk_ids routing_bias hidden_states hidden_states_scale "
    "gemm1_weights gemm1_weights_scale gemm2_weights gemm2_weights_scale num_experts top_k "
    "n_group topk_group intermediate_size local_expert_offset local_num_experts "
    "routed_scaling_factor routing_method_type use_shuffled_weight weight_layout do_finalize "
    "enable_pdl gemm1_lora_delta output tune_max_num_tokens fp8_quantization_type "
    "activation_type gemm1_alpha gemm1_beta gemm1_clamp_limit",
}


@pytest.mark.parametrize("name", sorted(FLASHINFER_PARAMETERS))
def test_signatures_match_flashinfer(name):
    parameters = list(inspect.signature(getattr(fi, name)).parameters)
    assert parameters == FLASHINFER_PARAMETERS[name].split()


# ---- routing_method_type ------------------------------------------------------------------------
@pytest.mark.parametrize("method_type,method,renormalize,bias", [
    (0, RM.SOFTMAX_TOPK, False, False),         # Default
    (1, RM.TOPK_SOFTMAX, True, False),          # Renormalize
    (2, RM.SIGMOID_GROUPED_TOPK, True, True),   # DeepSeekV3
    (3, RM.LLAMA4_TOP1_SIGMOID, False, False),  # Llama4
    (4, RM.SOFTMAX_TOPK, True, False),          # RenormalizeNaive
    (6, RM.SIGMOID_TOPK, True, False),          # SigmoidRenorm (norm_topk_prob=True)
    (7, RM.SIGMOID_GROUPED_TOPK, True, True),   # MiniMax2
    (8, RM.SIGMOID_TOPK, False, False),         # Sigmoid
    (9, RM.SIGMOID_TOPK, False, False),         # TopKSigmoid
])
def test_routing_method_table(method_type, method, renormalize, bias):
    routing = fused_routing(method_type, n_group=4, topk_group=2, routed_scaling_factor=2.5,
                            norm_topk_prob=True)
    assert routing.config.method == method
    assert routing.config.renormalize == renormalize
    assert routing.uses_bias == bias
    # FlashInfer applies rsf (in-kernel) for DeepSeekV3 and MiniMax2 only.
    assert routing.config.routed_scaling_factor == (2.5 if method_type in (2, 7) else 1.0)
    assert (routing.config.n_group, routing.config.topk_group) == (
        (4, 2) if method_type == 2 else (1, 1))


def test_sigmoid_renorm_obeys_norm_topk_prob():
    routing = fused_routing(6, n_group=None, topk_group=None, routed_scaling_factor=None,
                            norm_topk_prob=False)
    assert routing.config.renormalize is False


@pytest.mark.parametrize("method_type", [5, 10, 11, -1])
def test_unsupported_routing_methods_name_the_argument(bf16_layer, method_type):
    with pytest.raises(fusedmoe.FusedMoeError, match="argument 'routing_method_type'"):
        bf16_call(bf16_layer, routing_method_type=method_type)


@pytest.mark.parametrize("method_type,route", [
    (0, lambda l: ref.route_softmax_topk(l, K, False)),
    (1, lambda l: ref.route_topk_softmax(l, K)),
    (4, lambda l: ref.route_softmax_topk(l, K, True)),
    (8, lambda l: ref.route_sigmoid_topk(l, K, False)),
    (9, lambda l: ref.route_sigmoid_topk(l, K, False)),
])
def test_bf16_moe_matches_the_model(bf16_layer, method_type, route):
    out = bf16_call(bf16_layer, routing_method_type=method_type)
    ids, weights = route(bf16_layer["logits"])
    assert_close_bf16(values(out), model(bf16_layer, ids, weights))


def test_deepseek_v3_scaling_factor_applied_once(bf16_layer, rng):
    bias = rng.standard_normal(E).astype(np.float32) * 0.1
    out = bf16_call(bf16_layer, routing_method_type=2, routing_bias=bias, n_group=4,
                    topk_group=2, routed_scaling_factor=2.5)
    ids, weights = ref.route_sigmoid_grouped(bf16_layer["logits"], bias, K, 4, 2, True)
    assert_close_bf16(values(out), model(bf16_layer, ids, weights, rsf=2.5))


def test_scaling_factor_ignored_like_flashinfer_for_renormalize(bf16_layer):
    with_factor = bf16_call(bf16_layer, routing_method_type=1, routed_scaling_factor=2.5)
    without = bf16_call(bf16_layer, routing_method_type=1)
    np.testing.assert_array_equal(with_factor.array, without.array)


def test_bias_for_a_method_without_one_is_refused(bf16_layer):
    with pytest.raises(fusedmoe.UnsupportedError, match="argument 'routing_bias'"):
        bf16_call(bf16_layer, routing_method_type=1, routing_bias=np.zeros(E, np.float32))


def test_routing_replay_out_rows_and_output(bf16_layer):
    replay = np.full((T + 3, K), -5, np.int16)  # larger than T, as for CUDA-graph buffers
    output = fusedmoe.TypedArray(np.zeros((T, H), np.uint16), fusedmoe.DType.BFLOAT16)
    out = bf16_call(bf16_layer, routing_method_type=1, routing_replay_out=replay, output=output)
    assert out is output
    ids, _ = ref.route_topk_softmax(bf16_layer["logits"], K)
    np.testing.assert_array_equal(replay[:T], ids)
    assert (replay[T:] == -5).all()


# ---- expert parallelism: global ids, local_expert_offset ----------------------------------------
def test_local_expert_offset_with_global_ids(bf16_layer):
    bf16_type = fusedmoe.DType.BFLOAT16
    shard = dict(bf16_layer, w13=fusedmoe.TypedArray(bf16_layer["w13"].array[4:], bf16_type),
                 w2=fusedmoe.TypedArray(bf16_layer["w2"].array[4:], bf16_type))
    out = bf16_call(shard, routing_method_type=1, local_expert_offset=4, local_num_experts=4)
    ids, weights = ref.route_topk_softmax(bf16_layer["logits"], K)
    expected = ref.moe(values(shard["x"]), ids, weights, values(shard["w13"]),
                       values(shard["w2"]), layout="up_gate", local_offset=4)
    assert_close_bf16(values(out), expected)


# ---- routed calls ----------------------------------------------------------------------------
def packed(ids, weights):
    return (ids.astype(np.int32) << 16) | ref.bf16_bits(weights).astype(np.int32)


def routed_call(layer, topk_ids, **kwargs):
    args = dict(topk_ids=topk_ids, hidden_states=layer["x"], gemm1_weights=layer["w13"],
                gemm2_weights=layer["w2"], num_experts=E, top_k=K, n_group=None,
                topk_group=None, intermediate_size=I, local_expert_offset=0, local_num_experts=E,
                use_shuffled_weight=False, weight_layout=0)
    args.update(kwargs)
    return fi.trtllm_bf16_routed_moe(**args)


def test_packed_topk_ids_are_unpacked(bf16_layer, rng):
    ids = rng.integers(0, E, size=(T, K)).astype(np.int32)
    ids[2, 1] = -1  # no expert
    weights = ref.round_bf16(rng.random((T, K)))
    replay = np.zeros((T, K), np.int16)
    out = routed_call(bf16_layer, packed(ids, weights), routing_replay_out=replay,
                      routed_scaling_factor=2.5, routing_method_type=2)
    # Weights used as given: routed_scaling_factor and the method change nothing.
    assert_close_bf16(values(out), model(bf16_layer, ids, weights))
    np.testing.assert_array_equal(replay, ids)


def test_unpacked_pair_matches_packed(bf16_layer, rng):
    ids = rng.integers(0, E, size=(T, K)).astype(np.int32)
    weights = ref.round_bf16(rng.random((T, K)))
    from_pair = routed_call(bf16_layer, (ids, weights.astype(np.float32)))
    from_packed = routed_call(bf16_layer, packed(ids, weights))
    np.testing.assert_array_equal(from_pair.array, from_packed.array)


def test_routed_equals_fused_with_the_same_routing(bf16_layer):
    fused = bf16_call(bf16_layer, routing_method_type=1)
    ids, weights = ref.route_topk_softmax(bf16_layer["logits"], K)
    routed = routed_call(bf16_layer, (ids.astype(np.int32), weights.astype(np.float32)))
    assert_close_bf16(values(routed), values(fused), ulps=1)


# ---- options fusedmoe does not take -------------------------------------------------------------
@pytest.mark.parametrize("kwargs,argument", [
    (dict(do_finalize=False), "do_finalize"),
    (dict(use_shuffled_weight=True), "use_shuffled_weight"),
    (dict(weight_layout=2), "weight_layout"),
    (dict(weight_layout=1), "weight_layout"),
    (dict(activation_type=0), "activation_type"),
    (dict(activation_type=5), "activation_type"),
    (dict(activation_type=99), "activation_type"),
])
def test_unsupported_options_name_the_argument(bf16_layer, kwargs, argument):
    with pytest.raises(fusedmoe.FusedMoeError, match=f"argument '{argument}'"):
        bf16_call(bf16_layer, routing_method_type=1, **kwargs)


def test_lora_delta_is_refused(bf16_layer):
    with pytest.raises(fusedmoe.UnsupportedError, match="argument 'gemm1_lora_delta'"):
        routed_call(bf16_layer, np.zeros((T, K), np.int32), gemm1_lora_delta=np.zeros(1))


def test_library_errors_use_flashinfer_names(bf16_layer):
    short = fusedmoe.TypedArray(bf16_layer["w2"].array[:, :, :16], fusedmoe.DType.BFLOAT16)
    with pytest.raises(fusedmoe.InvalidArgumentError,
                       match=r"argument 'gemm2_weights' \(fusedmoe: weights.w2\)"):
        bf16_call(bf16_layer, routing_method_type=1, gemm2_weights=short)


# ---- activations ------------------------------------------------------------------------------
def test_relu2_non_gated(rng):
    x = bf16(rng.standard_normal((T, H)))
    w1 = bf16(rng.standard_normal((E, I, H)) / np.sqrt(H))
    w2 = bf16(rng.standard_normal((E, H, I)) / np.sqrt(I))
    logits = rng.standard_normal((T, E)).astype(np.float32)
    out = fi.trtllm_bf16_moe(logits, None, x, w1, w2, E, K, None, None, I, 0, E,
                             routing_method_type=1, use_shuffled_weight=False, weight_layout=0,
                             activation_type=6)
    ids, weights = ref.route_topk_softmax(logits, K)
    expected = ref.moe(values(x), ids, weights, values(w1), values(w2), activation="relu2")
    assert_close_bf16(values(out), expected)


def test_swiglu_oai_parameters_must_agree_across_experts(bf16_layer):
    alpha = np.full(E, 1.702, np.float32)
    out = bf16_call(bf16_layer, routing_method_type=1, gemm1_alpha=alpha,
                    gemm1_beta=np.ones(E, np.float32),
                    gemm1_clamp_limit=np.full(E, 7.0, np.float32))
    assert out.shape == (T, H)
    alpha[3] = 1.0
    with pytest.raises(fusedmoe.UnsupportedError, match="argument 'gemm1_alpha'"):
        bf16_call(bf16_layer, routing_method_type=1, gemm1_alpha=alpha)


# ---- weights prepared once -------------------------------------------------------------------
def block_major_k(weights: fusedmoe.TypedArray, block: int) -> fusedmoe.TypedArray:
    experts, rows, k = weights.shape
    blocked = weights.array.reshape(experts, rows, k // block, block).transpose(0, 2, 1, 3)
    return fusedmoe.TypedArray(np.ascontiguousarray(blocked), weights.dtype)


def test_prepare_weights_converts_block_major_k(bf16_layer):
    expected = bf16_call(bf16_layer, routing_method_type=1)
    # bf16 BlockMajorK blocks are 128 bytes = 64 elements along K.
    g1, g2 = fi.prepare_weights(block_major_k(bf16_layer["w13"], 64),
                                block_major_k(bf16_layer["w2"], 32), weight_layout=2)
    assert g1.shape == (E, 2 * I, H) and g2.shape == (E, H, I)
    try:
        # Recorded: flags describing FlashInfer's own layout no longer matter.
        out = bf16_call(bf16_layer, routing_method_type=1, gemm1_weights=g1, gemm2_weights=g2,
                        use_shuffled_weight=True, weight_layout=2)
        np.testing.assert_array_equal(out.array, expected.array)
    finally:
        fi.release_weights(g1)
    with pytest.raises(fusedmoe.UnsupportedError, match="argument 'use_shuffled_weight'"):
        bf16_call(bf16_layer, routing_method_type=1, gemm1_weights=g1, gemm2_weights=g2,
                  use_shuffled_weight=True)


# ---- fp8 per-tensor ----------------------------------------------------------------------------
def e4m3_codes(rng, shape):
    """Random e4m3 codes with magnitudes in [2^-2, 2^2): no NaN, no saturation."""
    sign = rng.integers(0, 2, size=shape) << 7
    exponent = rng.integers(5, 9, size=shape) << 3
    return (sign | exponent | rng.integers(0, 8, size=shape)).astype(np.uint8)


def test_fp8_per_tensor_scales_are_unfolded(rng):
    x = e4m3_codes(rng, (T, H))
    w13 = e4m3_codes(rng, (E, 2 * I, H))
    w2 = e4m3_codes(rng, (E, H, I))
    w13_scale = (rng.random(E) * 0.02 + 0.01).astype(np.float32)
    w2_scale = (rng.random(E) * 0.02 + 0.01).astype(np.float32)
    a1, a2 = np.float32(0.5), np.float32(0.25)
    logits = rng.standard_normal((T, E)).astype(np.float32)
    # FlashInfer's folded scalars for activations quantized with a1: out1 = w13*a1/a2,
    # gate = w13*a1, out2 = a2*w2.
    out = fi.trtllm_fp8_per_tensor_scale_moe(
        logits, None, fusedmoe.host.float8_e4m3(x), fusedmoe.host.float8_e4m3(w13),
        w13_scale * a1 / a2, w13_scale * a1, fusedmoe.host.float8_e4m3(w2), a2 * w2_scale,
        E, K, None, None, I, 0, E, None, False, routing_method_type=1)
    ids, weights = ref.route_topk_softmax(logits, K)
    xv, w13v, w2v = ref.e4m3_decode(x) * a1, ref.e4m3_decode(w13), ref.e4m3_decode(w2)
    expected = np.zeros((T, H))
    for t in range(T):
        for s in range(K):
            e = ids[t, s]
            y = ref.expert_row_fp8(xv[t], w13v[e], w2v[e], w13_scale[e], w2_scale[e], a1, a2)
            expected[t] += weights[t, s] * y
    assert_close_bf16(values(out), ref.round_bf16(expected), ulps=4, floor=0.1)


def test_fp8_per_tensor_routed_twin_matches_fused_given_its_ids(rng):
    x = fusedmoe.host.float8_e4m3(e4m3_codes(rng, (T, H)))
    w13 = fusedmoe.host.float8_e4m3(e4m3_codes(rng, (E, 2 * I, H)))
    w2 = fusedmoe.host.float8_e4m3(e4m3_codes(rng, (E, H, I)))
    out1 = (rng.random(E) * 0.02 + 0.01).astype(np.float32)
    gate = (rng.random(E) * 0.02 + 0.01).astype(np.float32)
    out2 = (rng.random(E) * 0.02 + 0.01).astype(np.float32)
    logits = rng.standard_normal((T, E)).astype(np.float32)
    fused = fi.trtllm_fp8_per_tensor_scale_moe(
        logits, None, x, w13, out1, gate, w2, out2, E, K, None, None, I, 0, E, None, False,
        routing_method_type=1)
    ids, weights = ref.route_topk_softmax(logits, K)
    routed = fi.trtllm_fp8_per_tensor_scale_routed_moe(
        (ids.astype(np.int32), weights.astype(np.float32)), None, x, w13, out1, gate, w2, out2,
        E, K, None, None, I, 0, E, None, False, routing_method_type=1)
    assert np.array_equal(values(routed), values(fused))


def test_fp8_per_tensor_needs_fp8_hidden_states(bf16_layer):
    ones = np.ones(E, np.float32)
    with pytest.raises(fusedmoe.UnsupportedError, match="argument 'hidden_states'"):
        fi.trtllm_fp8_per_tensor_scale_moe(
            bf16_layer["logits"], None, bf16_layer["x"], bf16_layer["w13"], ones, ones,
            bf16_layer["w2"], ones, E, K, None, None, I, 0, E, None, False)


# ---- fp8 block scale (DeepSeek) ---------------------------------------------------------------
BH, BI = 256, 128  # two 128-blocks along H


@pytest.fixture
def block_layer(rng):
    return dict(
        w13=fusedmoe.host.float8_e4m3(e4m3_codes(rng, (E, 2 * BI, BH))),
        w2=fusedmoe.host.float8_e4m3(e4m3_codes(rng, (E, BH, BI))),
        w13_scale=(rng.random((E, 2 * BI // 128, BH // 128)) * 0.01 + 0.005).astype(np.float32),
        w2_scale=(rng.random((E, BH // 128, BI // 128)) * 0.01 + 0.005).astype(np.float32),
        logits=rng.standard_normal((T, E)).astype(np.float32))


def block_call(layer, hidden_states, hidden_states_scale, **kwargs):
    return fi.trtllm_fp8_block_scale_moe(
        layer["logits"], None, hidden_states, hidden_states_scale, layer["w13"],
        layer["w13_scale"], layer["w2"], layer["w2_scale"], E, K, None, None, BI, 0, E, None,
        routing_method_type=1, **kwargs)


def test_fp8_block_scale_maps_onto_fusedmoe(block_layer, rng):
    x = bf16(rng.standard_normal((T, BH)))
    out = block_call(block_layer, x, None)
    moe = fusedmoe.MoeConfig(hidden_size=BH, intermediate_size=BI, num_experts=E, top_k=K,
                             gate_up_layout=fusedmoe.GateUpLayout.UP_THEN_GATE,
                             weight_format=fusedmoe.WeightFormat.FP8_BLOCK128,
                             activation_quant=fusedmoe.ActivationQuant.FP8_GROUP128)
    plan = fusedmoe.make_plan(moe, fusedmoe.RoutingConfig(method=RM.TOPK_SOFTMAX), backend="cpu",
                              max_num_tokens=8)
    direct = fusedmoe.fused(plan, x, block_layer["logits"], fusedmoe.ExpertWeights(
        w13=block_layer["w13"], w2=block_layer["w2"], w13_scale=block_layer["w13_scale"],
        w2_scale=block_layer["w2_scale"]))
    np.testing.assert_array_equal(out.array, direct.array)


def test_fp8_block_hidden_states_with_transposed_scales(block_layer, rng):
    # Power-of-two group scales: dequantizing to bf16 is exact, so the fp8 input path must give
    # exactly the bf16 input path's result.
    codes = e4m3_codes(rng, (T, BH))
    scale = np.exp2(rng.integers(-3, 3, size=(BH // 128, T))).astype(np.float32)  # [H/128, T]
    dequantized = ref.e4m3_decode(codes) * np.repeat(scale.T, 128, axis=1)
    from_fp8 = block_call(block_layer, fusedmoe.host.float8_e4m3(codes), scale)
    from_bf16 = block_call(block_layer, bf16(dequantized), None)
    np.testing.assert_array_equal(from_fp8.array, from_bf16.array)


@pytest.mark.parametrize("kwargs,argument", [
    (dict(fp8_quantization_type=2), "fp8_quantization_type"),
    (dict(num_fused_shared_experts=1), "num_fused_shared_experts"),
    (dict(do_finalize=False), "do_finalize"),
])
def test_fp8_block_unsupported_options(block_layer, rng, kwargs, argument):
    with pytest.raises(fusedmoe.FusedMoeError, match=f"argument '{argument}'"):
        block_call(block_layer, bf16(rng.standard_normal((T, BH))), None, **kwargs)


def test_fp8_block_hidden_states_need_their_scale(block_layer, rng):
    with pytest.raises(fusedmoe.InvalidArgumentError, match="argument 'hidden_states_scale'"):
        block_call(block_layer, fusedmoe.host.float8_e4m3(e4m3_codes(rng, (T, BH))), None)


def test_fp8_block_routed(block_layer, rng):
    x = bf16(rng.standard_normal((T, BH)))
    fused = block_call(block_layer, x, None)
    ids, weights = ref.route_topk_softmax(block_layer["logits"], K)
    routed = fi.trtllm_fp8_block_scale_routed_moe(
        (ids.astype(np.int32), weights.astype(np.float32)), None, x, None, block_layer["w13"],
        block_layer["w13_scale"], block_layer["w2"], block_layer["w2_scale"], E, K, None, None,
        BI, 0, E, None)
    assert_close_bf16(values(routed), values(fused), ulps=1)
