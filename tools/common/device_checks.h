// Cheap device-side checks of a benchmark's output: poison it before the first run, then count
// what the run left non-finite. A bf16 NaN poison that survives means an element was never
// written; a NaN the kernels produced is just as wrong, so both fail the row.
#pragma once

#include <cstdint>

#include "fusedmoe/moe.h"

namespace fusedmoe::tools {

// A quiet bf16 NaN with a payload no arithmetic produces, so a dump shows poison as poison.
constexpr uint16_t kBf16Poison = 0x7fa5;

// Fills a contiguous CUDA bf16 tensor with `bits`, enqueued on `stream`. Throws fusedmoe::Error
// naming `what` for another dtype or a host / non-contiguous tensor.
void fill_bf16_bits_on_device(const TensorView& tensor, const char* what, uint16_t bits,
                              Stream stream);

// Elements of a contiguous CUDA bf16 tensor that are NaN or infinite. Synchronizes `stream`.
int64_t count_nonfinite_bf16_on_device(const TensorView& tensor, const char* what, Stream stream);

}  // namespace fusedmoe::tools
