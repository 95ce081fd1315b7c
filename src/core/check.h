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
void check_int_range(long long value, const char* name, long long low, long long high);

}  // namespace fusedmoe::detail
