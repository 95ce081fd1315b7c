"""An independent numpy model of the MoE layer, the oracle of the Python tests.

Written from the contracts (docs/CONTRACTS.md, docs/NUMERICS.md), not from the C++ reference:
float64 math, rounded to bf16 (through fp32) where the bf16 pipeline rounds: GEMM1's output, the
activation, each expert's output row (unweighted), and the combined output, which sums
weight * row over the slots. bf16 is built by hand here (uint16 bits, round to nearest even) so
the tests need no bf16-capable array library.
"""

from __future__ import annotations

import numpy as np

# ---- bf16 by hand ---------------------------------------------------------------------------


def bf16_bits(values) -> np.ndarray:
    """float -> bf16 bit patterns (uint16), round to nearest even; NaN -> 0x7FC0."""
    f32 = np.asarray(values, dtype=np.float32)
    bits = f32.view(np.uint32).astype(np.uint64)
    lsb = (bits >> 16) & 1
    out = ((bits + 0x7FFF + lsb) >> 16).astype(np.uint16)
    return np.where(np.isnan(f32), np.uint16(0x7FC0), out)


def bf16_values(bits) -> np.ndarray:
    """bf16 bit patterns -> float64 values."""
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32).astype(np.float64)


def round_bf16(values) -> np.ndarray:
    return bf16_values(bf16_bits(values))


# ---- routing --------------------------------------------------------------------------------


def _topk(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest per row, ties to the lower index (a stable sort)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def route_softmax_topk(logits, k, renormalize):
    p = _softmax(np.asarray(logits, np.float64))
    ids = _topk(p, k)
    w = np.take_along_axis(p, ids, axis=1)
    if renormalize:
        w = w / w.sum(axis=1, keepdims=True)
    return ids, w


def route_topk_softmax(logits, k):
    x = np.asarray(logits, np.float64)
    ids = _topk(x, k)
    return ids, _softmax(np.take_along_axis(x, ids, axis=1))


def route_sigmoid_topk(logits, k, renormalize):
    s = _sigmoid(np.asarray(logits, np.float64))
    ids = _topk(s, k)
    w = np.take_along_axis(s, ids, axis=1)
    if renormalize:
        w = w / (w.sum(axis=1, keepdims=True) + 1e-20)
    return ids, w


def route_sigmoid_grouped(logits, bias, k, n_group, topk_group, renormalize):
    s = _sigmoid(np.asarray(logits, np.float64))
    choice = s + np.asarray(bias, np.float64)[None, :]
    tokens, experts = s.shape
    per_group = experts // n_group
    if n_group > 1:
        grouped = choice.reshape(tokens, n_group, per_group)
        top2 = -np.sort(-grouped, axis=2)[:, :, :2].sum(axis=2)
        kept = _topk(top2, topk_group)
        mask = np.zeros((tokens, n_group), bool)
        np.put_along_axis(mask, kept, True, axis=1)
        choice = np.where(np.repeat(mask, per_group, axis=1), choice, -np.inf)
    ids = _topk(choice, k)
    w = np.take_along_axis(s, ids, axis=1)
    if renormalize:
        w = w / (w.sum(axis=1, keepdims=True) + 1e-20)
    return ids, w


# ---- experts and combine ---------------------------------------------------------------------


def _silu(x):
    return x * _sigmoid(x)


def split_gate_up(h: np.ndarray, layout: str):
    half = h.shape[-1] // 2
    if layout == "gate_up":
        return h[..., :half], h[..., half:]
    if layout == "up_gate":
        return h[..., half:], h[..., :half]
    return h[..., 0::2], h[..., 1::2]  # interleaved: gate on even rows


def expert_row(x, w13, w2, layout="gate_up", activation="swiglu"):
    """One expert on one row (all float64), bf16-rounded where the kernels round."""
    h = round_bf16(w13 @ x)
    if activation == "swiglu":
        gate, up = split_gate_up(h, layout)
        a = _silu(gate) * up
    elif activation == "relu2":
        a = np.maximum(h, 0.0) ** 2
    else:
        raise ValueError(activation)
    return round_bf16(w2 @ round_bf16(a))


def moe(x, ids, weights, w13, w2, *, local_offset=0, rsf=1.0, layout="gate_up",
        activation="swiglu", shared=None):
    """out[t] = rsf * sum_slot w * expert(x[t]) (+ shared[t]), ids global, non-local skipped."""
    tokens, top_k = ids.shape
    local = w13.shape[0]
    out = np.zeros((tokens, w2.shape[1]))
    for t in range(tokens):
        for slot in range(top_k):
            e = int(ids[t, slot]) - local_offset
            if 0 <= e < local:
                out[t] += weights[t, slot] * expert_row(x[t], w13[e], w2[e], layout, activation)
    out = out * rsf
    if shared is not None:
        out = out + shared
    return round_bf16(out)


# ---- dispatch ---------------------------------------------------------------------------------


def dispatch_maps(ids, local_offset, local_experts, row_alignment):
    """(offsets, counts, row_to_slot, slot_to_row) of a stable (expert, token, slot) ordering."""
    tokens, top_k = ids.shape
    rows = tokens * top_k + local_experts * (row_alignment - 1)
    row_to_slot = np.full(rows, -1, np.int64)
    slot_to_row = np.full((tokens, top_k), -1, np.int64)
    offsets = np.zeros(local_experts + 1, np.int64)
    counts = np.zeros(local_experts, np.int64)
    row = 0
    for e in range(local_experts):
        offsets[e] = row
        for t in range(tokens):
            for slot in range(top_k):
                if ids[t, slot] - local_offset == e:
                    row_to_slot[row] = t * top_k + slot
                    slot_to_row[t, slot] = row
                    row += 1
        counts[e] = row - offsets[e]
        row = offsets[e] + -(-counts[e] // row_alignment) * row_alignment
    offsets[local_experts] = row
    return offsets, counts, row_to_slot, slot_to_row


# ---- fp8 e4m3 (OCP e4m3fn) ---------------------------------------------------------------------


def _e4m3_positive_values() -> np.ndarray:
    codes = np.arange(127)
    exponent, mantissa = codes >> 3, (codes & 7).astype(np.float64)
    return np.where(exponent == 0, mantissa / 8 * 2.0 ** -6,
                    (1 + mantissa / 8) * 2.0 ** (exponent - 7.0))


E4M3_POSITIVE = _e4m3_positive_values()  # codes 0..126, ascending; 448 is the largest


def e4m3_decode(codes) -> np.ndarray:
    codes = np.asarray(codes, np.int64)
    magnitude = E4M3_POSITIVE[np.minimum(codes & 0x7F, 126)]
    out = np.where(codes & 0x80, -magnitude, magnitude)
    return np.where((codes & 0x7F) == 0x7F, np.nan, out)


def round_e4m3(values) -> np.ndarray:
    """Round to the nearest e4m3 value, ties to the even code, saturating at +-448."""
    x = np.asarray(values, np.float64)
    magnitude = np.minimum(np.abs(x), 448.0)
    upper = np.clip(np.searchsorted(E4M3_POSITIVE, magnitude), 1, 126)
    lower = upper - 1
    below, above = E4M3_POSITIVE[lower], E4M3_POSITIVE[upper]
    pick_upper = (above - magnitude < magnitude - below) | (
        (above - magnitude == magnitude - below) & (upper % 2 == 0))
    return np.sign(x) * np.where(pick_upper, above, below)


def expert_row_fp8(x, w13, w2, w13_scale, w2_scale, a1, a2, layout="up_gate"):
    """One fp8 per-tensor expert: x, w13, w2 as e4m3 values (float64), static scales; GEMM1's
    output is not rounded (it is quantized), GEMM2's is rounded to bf16."""
    xq = round_e4m3(x / a1)
    h = (w13 @ xq) * (a1 * w13_scale)
    gate, up = split_gate_up(h, layout)
    aq = round_e4m3(_silu(gate) * up / a2)
    return round_bf16((w2 @ aq) * (a2 * w2_scale))
