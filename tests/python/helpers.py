"""Small builders shared by the tests: bf16 host tensors and random layers (numpy, CPU)."""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib

import numpy as np

import fusedmoe
from numpy_moe import bf16_bits, bf16_values


REPO = pathlib.Path(__file__).resolve().parents[2]


def load_repo_script(relative_path: str):
    """A script of the repository (bench/, scripts/) imported as a module, for testing its helpers."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bf16(values) -> fusedmoe.TypedArray:
    """A host bf16 tensor, bits made by the tests' own rounding (not fusedmoe.host)."""
    return fusedmoe.TypedArray(bf16_bits(values), fusedmoe.DType.BFLOAT16)


def values(typed: fusedmoe.TypedArray) -> np.ndarray:
    return bf16_values(typed.array)


@dataclasses.dataclass
class Layer:
    moe: fusedmoe.MoeConfig
    x: fusedmoe.TypedArray          # [M, H] bf16
    w13: fusedmoe.TypedArray        # [E_l, 2I, H] bf16
    w2: fusedmoe.TypedArray         # [E_l, H, I] bf16

    def weights(self) -> fusedmoe.ExpertWeights:
        return fusedmoe.ExpertWeights(w13=self.w13, w2=self.w2)


def random_layer(rng, *, tokens=5, hidden=64, inter=32, experts=8, top_k=2, local_offset=0,
                 local_experts=0, layout=fusedmoe.GateUpLayout.GATE_THEN_UP) -> Layer:
    local = local_experts or experts - local_offset
    moe = fusedmoe.MoeConfig(hidden_size=hidden, intermediate_size=inter, num_experts=experts,
                             top_k=top_k, local_expert_offset=local_offset,
                             num_local_experts=local_experts, gate_up_layout=layout)
    return Layer(
        moe=moe,
        x=bf16(rng.standard_normal((tokens, hidden))),
        w13=bf16(rng.standard_normal((local, 2 * inter, hidden)) / np.sqrt(hidden)),
        w2=bf16(rng.standard_normal((local, hidden, inter)) / np.sqrt(inter)))


def assert_close_bf16(actual, expected, ulps=2, floor=0.01):
    """Within `ulps` bf16 steps (2^-7 relative at most) of the expected values; values below
    `floor` times the largest are held to the step of that level (sums that cancel keep the
    absolute error of their terms)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert not np.isnan(actual).any(), "NaN in the output"
    scale = np.maximum(np.abs(expected), np.abs(expected).max() * floor)
    err = np.abs(actual - expected) / scale
    assert err.max() <= ulps * 2.0 ** -7, f"max error {err.max():.3g} (in units of |expected|)"
