// Python tensors -> fusedmoe::TensorView, zero-copy, through DLPack (numpy, torch, cupy, ...).
//
// An argument is one of:
//   * None                      -> an absent (undefined) view, for optional arguments;
//   * a DLPack-capable array    -> its dtype, shape, strides (elements) and device, as given;
//   * a tuple (array, dtype)    -> the array's memory read as fusedmoe DType `dtype` (an int):
//                                  how numpy (no bf16 / fp8) and torch builds whose DLPack has no
//                                  fp8 codes pass those dtypes. The stored element size must match.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <vector>

#include "fusedmoe/types.h"

namespace fusedmoe::python {

namespace nb = nanobind;

// Converts the tensor arguments of one call and keeps their DLPack handles alive until the call
// returns. Errors name the argument: "fusedmoe: argument 'topk_ids': expected ..., got ...".
class ViewScope {
 public:
  // An input: read-only arrays are accepted.
  TensorView in(nb::handle obj, const char* name);
  // An output or an in-place argument: the array must be writable.
  TensorView out(nb::handle obj, const char* name);

 private:
  TensorView convert(nb::handle obj, const char* name, bool writable);

  std::vector<nb::ndarray<nb::ro>> inputs_;
  std::vector<nb::ndarray<>> outputs_;
};

}  // namespace fusedmoe::python
