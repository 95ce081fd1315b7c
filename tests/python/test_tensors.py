"""How Python arrays become TensorViews: dtypes, strides, read-only inputs, argument names."""

import numpy as np
import pytest

import fusedmoe
from helpers import bf16


def plan(top_k=2, experts=8):
    moe = fusedmoe.MoeConfig(hidden_size=64, intermediate_size=32, num_experts=experts,
                             top_k=top_k)
    return fusedmoe.make_plan(moe, fusedmoe.RoutingConfig(), backend="cpu", max_num_tokens=64)


def test_float64_is_rejected_naming_the_argument():
    with pytest.raises(fusedmoe.InvalidArgumentError,
                       match=r"argument 'router_logits': expected a fusedmoe dtype.*got float64"):
        fusedmoe.route(plan(), np.zeros((3, 8)))


def test_bf16_from_numpy_bits_equals_float32_routing(rng):
    logits = bf16(rng.standard_normal((6, 8)))
    from_bf16 = fusedmoe.route(plan(), logits)
    from_f32 = fusedmoe.route(plan(), (logits.array.astype(np.uint32) << 16).view(np.float32))
    np.testing.assert_array_equal(from_bf16[0], from_f32[0])
    np.testing.assert_array_equal(from_bf16[1], from_f32[1])


def test_tuple_dtype_must_match_the_storage_size():
    with pytest.raises(fusedmoe.InvalidArgumentError, match="argument 'router_logits'.*bfloat16"):
        fusedmoe.route(plan(), fusedmoe.TypedArray(np.zeros((3, 8), np.float32),
                                                   fusedmoe.DType.BFLOAT16))


def test_read_only_inputs_are_accepted(rng):
    logits = rng.standard_normal((4, 8)).astype(np.float32)
    logits.flags.writeable = False
    ids, _ = fusedmoe.route(plan(), logits)
    assert ids.shape == (4, 2)


def test_read_only_outputs_are_rejected(rng):
    logits = rng.standard_normal((4, 8)).astype(np.float32)
    ids = np.zeros((4, 2), np.int32)
    ids.flags.writeable = False
    with pytest.raises(fusedmoe.InvalidArgumentError, match="argument 'topk_ids'.*writable"):
        fusedmoe.route(plan(), logits, topk_ids=ids)


def test_strided_rows_are_read_in_place(rng):
    wide = rng.standard_normal((4, 16)).astype(np.float32)
    view = wide[:, :8]  # row stride 16: zero-copy, not contiguous
    expected = fusedmoe.route(plan(), np.ascontiguousarray(view))
    got = fusedmoe.route(plan(), view)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_non_arrays_and_too_many_dimensions():
    with pytest.raises(fusedmoe.InvalidArgumentError, match="argument 'router_logits'.*list"):
        fusedmoe.route(plan(), [[0.0] * 8])
    with pytest.raises(fusedmoe.InvalidArgumentError, match="at most 4 dimensions"):
        fusedmoe.route(plan(), np.zeros((1, 1, 1, 1, 8), np.float32))


def test_shape_errors_come_from_the_library_with_names(rng):
    with pytest.raises(fusedmoe.InvalidArgumentError, match="router_logits"):
        fusedmoe.route(plan(), rng.standard_normal((4, 7)).astype(np.float32))
    with pytest.raises(fusedmoe.InvalidArgumentError, match="topk_weights"):
        fusedmoe.route(plan(), np.zeros((4, 8), np.float32),
                       topk_weights=np.zeros((4, 3), np.float32))
