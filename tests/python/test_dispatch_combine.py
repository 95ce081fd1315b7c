"""Dispatch maps, the row gather and the weighted combine, through numpy arrays."""

import numpy as np
import pytest

import fusedmoe
import numpy_moe as ref
from helpers import assert_close_bf16, bf16, values


def plan(*, experts=8, top_k=3, offset=0, local=0, rsf=1.0, hidden=64):
    moe = fusedmoe.MoeConfig(hidden_size=hidden, intermediate_size=32, num_experts=experts,
                             top_k=top_k, local_expert_offset=offset, num_local_experts=local)
    routing = fusedmoe.RoutingConfig(routed_scaling_factor=rsf)
    return fusedmoe.make_plan(moe, routing, backend="cpu", max_num_tokens=64)


@pytest.mark.parametrize("alignment", [1, 4])
@pytest.mark.parametrize("offset,local", [(0, 0), (2, 4)])
def test_maps_match_the_model(rng, alignment, offset, local):
    ids = rng.integers(-1, 8, size=(6, 3)).astype(np.int32)  # -1 and non-local ids included
    p = plan(offset=offset, local=local)
    maps = fusedmoe.dispatch(p, ids, row_alignment=alignment)
    expected = ref.dispatch_maps(ids, offset, p.moe.local_experts(), alignment)
    for got, want in zip(maps[:4], expected):
        np.testing.assert_array_equal(got, want)
    assert maps.permuted_hidden is None and maps.permuted_hidden_scale is None


def test_gather_copies_rows_and_zeroes_segment_padding(rng):
    ids = rng.integers(0, 8, size=(5, 3)).astype(np.int32)
    x = bf16(rng.standard_normal((5, 64)))
    maps = fusedmoe.dispatch(plan(), ids, row_alignment=4, hidden_states=x)
    permuted = maps.permuted_hidden
    assert isinstance(permuted, fusedmoe.TypedArray) and permuted.shape == (15 + 8 * 3, 64)
    # Rows past the last segment are left as they were (docs/CONTRACTS.md, "Dispatch buffers").
    for row in range(maps.expert_offsets[-1]):
        slot = maps.row_to_slot[row]
        if slot < 0:
            assert not permuted.array[row].any()
        else:
            np.testing.assert_array_equal(permuted.array[row], x.array[slot // 3])


def test_int64_ids_accepted(rng):
    ids = rng.integers(0, 8, size=(4, 3))
    maps = fusedmoe.dispatch(plan(), ids.astype(np.int64))
    np.testing.assert_array_equal(maps.slot_to_row, ref.dispatch_maps(ids, 0, 8, 1)[3])


def test_bad_alignment_is_named():
    with pytest.raises(fusedmoe.InvalidArgumentError, match="row_alignment"):
        fusedmoe.dispatch(plan(), np.zeros((2, 3), np.int32), row_alignment=3)


@pytest.mark.parametrize("rsf", [1.0, 2.5])
def test_combine_weights_scale_and_shared(rng, rsf):
    tokens, top_k, hidden = 5, 3, 64
    rows = tokens * top_k
    expert_out = bf16(rng.standard_normal((rows, hidden)))
    slot_to_row = rng.permutation(rows).reshape(tokens, top_k).astype(np.int32)
    slot_to_row[1, 2] = -1  # contributes nothing
    weights = rng.random((tokens, top_k)).astype(np.float32)
    shared = bf16(rng.standard_normal((tokens, hidden)))
    out = fusedmoe.combine(plan(rsf=rsf), expert_out, slot_to_row, topk_weights=weights,
                           shared_output=shared)
    assert isinstance(out, fusedmoe.TypedArray) and out.dtype == fusedmoe.DType.BFLOAT16
    rows_f = values(expert_out)
    expected = np.zeros((tokens, hidden))
    for t in range(tokens):
        for s in range(top_k):
            if slot_to_row[t, s] >= 0:
                expected[t] += weights[t, s] * rows_f[slot_to_row[t, s]]
    assert_close_bf16(values(out), rsf * expected + values(shared), ulps=1)


def test_combine_without_weights_sums_rows(rng):
    expert_out = bf16(rng.standard_normal((6, 64)))
    slot_to_row = np.arange(6, dtype=np.int32).reshape(3, 2)
    out = fusedmoe.combine(plan(top_k=2), expert_out, slot_to_row)
    rows_f = values(expert_out)
    assert_close_bf16(values(out), rows_f[0::2] + rows_f[1::2], ulps=1)


def test_combine_is_bitwise_reproducible(rng):
    expert_out = bf16(rng.standard_normal((12, 64)))
    slot_to_row = np.arange(12, dtype=np.int32).reshape(4, 3)
    weights = rng.random((4, 3)).astype(np.float32)
    first = fusedmoe.combine(plan(), expert_out, slot_to_row, topk_weights=weights)
    second = fusedmoe.combine(plan(), expert_out, slot_to_row, topk_weights=weights)
    np.testing.assert_array_equal(first.array, second.array)
