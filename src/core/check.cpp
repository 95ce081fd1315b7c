#include "core/check.h"

#include <sstream>

namespace fusedmoe::detail {

void throw_invalid(const std::string& argument, const std::string& expected,
                   const std::string& given) {
  throw Error(ErrorKind::kInvalidArgument,
              "fusedmoe: argument '" + argument + "': expected " + expected + ", got " + given);
}

void throw_unsupported(const std::string& what) {
  throw Error(ErrorKind::kUnsupported, "fusedmoe: unsupported: " + what);
}

std::string shape_string(const TensorView& view) {
  std::ostringstream out;
  out << "[";
  for (int i = 0; i < view.ndim; ++i) out << (i ? ", " : "") << view.shape[i];
  out << "]";
  return out.str();
}

std::string device_string(const Device& device) {
  const char* type = device.type == DeviceType::kCUDA  ? "cuda:"
                     : device.type == DeviceType::kCPU ? "cpu:"
                                                       : "unknown-device:";
  return type + std::to_string(device.index);
}

std::string dtypes_string(std::initializer_list<DType> dtypes) {
  std::string text;
  size_t index = 0;
  for (DType dtype : dtypes) {
    if (index > 0) text += (index + 1 == dtypes.size()) ? " or " : ", ";
    text += dtype_name(dtype);
    ++index;
  }
  return text;
}

void check_defined(const TensorView& view, const char* name) {
  if (!view.defined()) throw_invalid(name, "a tensor", "none (absent)");
  check_pointer(view, name);
}

void check_pointer(const TensorView& view, const char* name) {
  if (view.data == nullptr && view.numel() > 0) {
    throw_invalid(name, "a non-null data pointer", "nullptr for " + view.describe());
  }
}

void check_dtype(const TensorView& view, const char* name, std::initializer_list<DType> allowed) {
  for (DType dtype : allowed) {
    if (view.dtype == dtype) return;
  }
  throw_invalid(name, "dtype " + dtypes_string(allowed), dtype_name(view.dtype));
}

namespace {
// "[4, *]" for an expected shape (-1 matches any extent).
std::string expected_shape_text(std::initializer_list<int64_t> expected) {
  std::ostringstream text;
  text << "[";
  int i = 0;
  for (int64_t extent : expected) {
    text << (i++ ? ", " : "") << (extent < 0 ? std::string("*") : std::to_string(extent));
  }
  text << "]";
  return text.str();
}

bool shape_matches(const TensorView& view, std::initializer_list<int64_t> expected) {
  if (view.ndim != static_cast<int32_t>(expected.size())) return false;
  int i = 0;
  for (int64_t extent : expected) {
    if (extent >= 0 && view.shape[i] != extent) return false;
    ++i;
  }
  return true;
}

void check_non_negative_extents(const TensorView& view, const char* name) {
  for (int d = 0; d < view.ndim; ++d) {
    if (view.shape[d] < 0) {
      throw_invalid(name, "non-negative extents", "shape " + shape_string(view));
    }
  }
}
}  // namespace

void check_shape(const TensorView& view, const char* name,
                 std::initializer_list<int64_t> expected) {
  if (!shape_matches(view, expected)) {
    throw_invalid(name, "shape " + expected_shape_text(expected), "shape " + shape_string(view));
  }
  check_non_negative_extents(view, name);
}

void check_shape_either(const TensorView& view, const char* name,
                        std::initializer_list<int64_t> first,
                        std::initializer_list<int64_t> second) {
  if (!shape_matches(view, first) && !shape_matches(view, second)) {
    throw_invalid(name,
                  "shape " + expected_shape_text(first) + " or " + expected_shape_text(second),
                  "shape " + shape_string(view));
  }
  check_non_negative_extents(view, name);
}

void check_ndim(const TensorView& view, const char* name) {
  if (view.ndim < 0 || view.ndim > kMaxTensorDims) {
    throw_invalid(name, "ndim in [0, " + std::to_string(kMaxTensorDims) + "]",
                  "ndim " + std::to_string(view.ndim));
  }
}

void check_inner_contiguous(const TensorView& view, const char* name) {
  if (view.ndim == 0) return;
  if (view.shape[view.ndim - 1] > 1 && view.strides[view.ndim - 1] != 1) {
    throw_invalid(name, "stride 1 in the last dimension",
                  "stride " + std::to_string(view.strides[view.ndim - 1]));
  }
  // Outer dimensions must not overlap the span of the dimensions inside them.
  int64_t span = view.ndim > 0 ? view.shape[view.ndim - 1] : 1;
  for (int d = view.ndim - 2; d >= 0; --d) {
    if (view.shape[d] > 1 && view.strides[d] < span) {
      throw_invalid(name,
                    "stride of dimension " + std::to_string(d) + " >= " + std::to_string(span) +
                        " (no overlapping rows)",
                    std::to_string(view.strides[d]));
    }
    span = view.shape[d] > 1 ? view.strides[d] * view.shape[d] : span;
  }
}

void check_contiguous(const TensorView& view, const char* name) {
  if (!view.is_contiguous()) {
    std::ostringstream given;
    given << "strides [";
    for (int i = 0; i < view.ndim; ++i) given << (i ? ", " : "") << view.strides[i];
    given << "] for shape " << shape_string(view);
    throw_invalid(name, "a contiguous (row-major) tensor", given.str());
  }
}

void check_alignment(const TensorView& view, const char* name, size_t bytes) {
  const auto address = reinterpret_cast<uintptr_t>(view.data);
  if (address % bytes != 0) {
    throw_invalid(name, "data pointer aligned to " + std::to_string(bytes) + " bytes",
                  "address with offset " + std::to_string(address % bytes));
  }
  const size_t element = dtype_size(view.dtype);
  for (int d = 0; d + 1 < view.ndim; ++d) {
    if (view.shape[d] > 1 && (static_cast<size_t>(view.strides[d]) * element) % bytes != 0) {
      throw_invalid(name,
                    "row stride of dimension " + std::to_string(d) + " a multiple of " +
                        std::to_string(bytes) + " bytes",
                    std::to_string(view.strides[d] * static_cast<int64_t>(element)) + " bytes");
    }
  }
}

void check_device(const TensorView& view, const char* name, const Device& expected) {
  if (view.device.type != expected.type || view.device.index != expected.index) {
    throw_invalid(name,
                  "a tensor on " + device_string(expected) + " (same device as the other tensors)",
                  "a tensor on " + device_string(view.device));
  }
}

void check_int_range(long long value, const std::string& name, long long low, long long high,
                     const std::string& note) {
  if (value < low || value > high) {
    throw_invalid(name,
                  "a value in [" + std::to_string(low) + ", " + std::to_string(high) + "]" +
                      (note.empty() ? "" : " (" + note + ")"),
                  std::to_string(value));
  }
}

}  // namespace fusedmoe::detail
