// Argument checks shared by every entry point. Each failing check throws fusedmoe::Error with the
// message "fusedmoe: argument '<name>': expected <what>, got <what>", so users see which argument
// was wrong, what was expected and what was given.
#pragma once

#include <initializer_list>
#include <string>

#include "fusedmoe/error.h"
#include "fusedmoe/types.h"

namespace fusedmoe::detail {

[[noreturn]] void throw_invalid(const std::string& argument, const std::string& expected,
                                const std::string& given);
[[noreturn]] void throw_unsupported(const std::string& what);

std::string shape_string(const TensorView& view);
std::string device_string(const Device& device);  // "cuda:0", "cpu:0"
std::string dtypes_string(std::initializer_list<DType> dtypes);

void check_defined(const TensorView& view, const char* name);
void check_pointer(const TensorView& view, const char* name);
void check_dtype(const TensorView& view, const char* name, std::initializer_list<DType> allowed);
// Shape check; -1 in `expected` matches any extent.
void check_shape(const TensorView& view, const char* name, std::initializer_list<int64_t> expected);
// Innermost dimension has stride 1 (other strides free, non-negative, no overlap across rows).
void check_inner_contiguous(const TensorView& view, const char* name);
void check_contiguous(const TensorView& view, const char* name);
// Base pointer and every outer stride are multiples of `bytes` (vectorized / TMA access).
void check_alignment(const TensorView& view, const char* name, size_t bytes);
void check_device(const TensorView& view, const char* name, const Device& expected);
// `note` (optional) says why the range is what it is, e.g. "at most num_experts".
void check_int_range(long long value, const std::string& name, long long low, long long high,
                     const std::string& note = "");
// ndim within [0, kMaxTensorDims]: checked before anything reads shape[] or strides[].
void check_ndim(const TensorView& view, const char* name);
// Either of two shapes (e.g. a per-tensor scale [1] or a per-expert one [E_l]).
void check_shape_either(const TensorView& view, const char* name,
                        std::initializer_list<int64_t> first,
                        std::initializer_list<int64_t> second);

// An enum value read from user memory may hold any integer: reject values outside
// [0, last] before a switch over the enum silently takes no branch.
template <typename Enum>
void check_enum(Enum value, const std::string& name, const char* type_name, Enum last) {
  const long long raw = static_cast<long long>(value);
  if (raw < 0 || raw > static_cast<long long>(last)) {
    throw_invalid(name, std::string("a fusedmoe::") + type_name + " value in [0, " +
                            std::to_string(static_cast<long long>(last)) + "]",
                  std::to_string(raw));
  }
}

}  // namespace fusedmoe::detail
