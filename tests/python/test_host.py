"""fusedmoe.host: bf16 / e4m3 for numpy users, checked against known bit patterns."""

import numpy as np

import fusedmoe
from numpy_moe import bf16_bits


def test_bfloat16_rounds_to_nearest_even():
    values = np.array([1.0, -2.0, 1.00390625, 1.01171875, 3.0e38, np.inf, 1e-40], np.float32)
    typed = fusedmoe.host.bfloat16(values)
    assert typed.dtype == fusedmoe.DType.BFLOAT16
    # 1 + 2^-8 is a tie: even mantissa (1.0); 1 + 3*2^-8 is a tie: rounds up to 1 + 2^-6.
    assert typed.array.tolist() == [0x3F80, 0xC000, 0x3F80, 0x3F82, 0x7F62, 0x7F80, 0x0001]
    np.testing.assert_array_equal(typed.array, bf16_bits(values))


def test_bfloat16_nan_and_round_trip(rng):
    assert fusedmoe.host.bfloat16([np.nan]).array[0] == 0x7FC0
    x = rng.standard_normal(1000).astype(np.float32)
    once = fusedmoe.host.to_float32(fusedmoe.host.bfloat16(x))
    np.testing.assert_array_equal(fusedmoe.host.to_float32(fusedmoe.host.bfloat16(once)), once)
    assert np.max(np.abs(once - x) / np.abs(x)) <= 2.0 ** -8


def test_float8_e4m3_decoding():
    codes = np.array([0x00, 0x38, 0xB8, 0x7E, 0x01, 0x08, 0x7F], np.uint8)
    decoded = fusedmoe.host.to_float32(fusedmoe.host.float8_e4m3(codes))
    np.testing.assert_array_equal(decoded[:6], [0.0, 1.0, -1.0, 448.0, 2.0 ** -9, 2.0 ** -6])
    assert np.isnan(decoded[6])
