#include "fusedmoe/types.h"

#include <sstream>

#include "fusedmoe/error.h"

namespace fusedmoe {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kBFloat16: return 2;
    case DType::kFloat16: return 2;
    case DType::kFloat8E4M3: return 1;
    case DType::kFloat4E2M1x2: return 1;
    case DType::kUE8M0: return 1;
    case DType::kInt16: return 2;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kUInt8: return 1;
  }
  throw Error(ErrorKind::kInvalidArgument,
              "fusedmoe: argument 'dtype': expected a fusedmoe::DType, got " +
                  std::to_string(static_cast<int>(dtype)));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat16: return "float16";
    case DType::kFloat8E4M3: return "float8_e4m3";
    case DType::kFloat4E2M1x2: return "float4_e2m1x2";
    case DType::kUE8M0: return "ue8m0";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
  }
  return "unknown-dtype";
}

int64_t TensorView::numel() const {
  int64_t count = 1;
  for (int i = 0; i < ndim; ++i) count *= shape[i];
  return count;
}

bool TensorView::is_contiguous() const {
  int64_t expected = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

std::string TensorView::describe() const {
  std::ostringstream out;
  out << dtype_name(dtype) << "[";
  for (int i = 0; i < ndim; ++i) out << (i ? ", " : "") << shape[i];
  out << "] " << (device.type == DeviceType::kCUDA ? "cuda:" : "cpu:") << device.index;
  return out.str();
}

static TensorView build_view(void* data, DType dtype, std::initializer_list<int64_t> shape,
                             Device device) {
  if (shape.size() > static_cast<size_t>(kMaxTensorDims)) {
    throw Error(ErrorKind::kInvalidArgument,
                "fusedmoe: argument 'shape': expected at most " + std::to_string(kMaxTensorDims) +
                    " dimensions, got " + std::to_string(shape.size()));
  }
  TensorView view;
  view.data = data;
  view.dtype = dtype;
  view.device = device;
  view.ndim = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t extent : shape) view.shape[i++] = extent;
  return view;
}

TensorView make_view(void* data, DType dtype, std::initializer_list<int64_t> shape, Device device) {
  TensorView view = build_view(data, dtype, shape, device);
  int64_t stride = 1;
  for (int i = view.ndim - 1; i >= 0; --i) {
    view.strides[i] = stride;
    stride *= view.shape[i];
  }
  return view;
}

TensorView make_strided_view(void* data, DType dtype, std::initializer_list<int64_t> shape,
                             std::initializer_list<int64_t> strides, Device device) {
  TensorView view = build_view(data, dtype, shape, device);
  if (strides.size() != shape.size()) {
    throw Error(ErrorKind::kInvalidArgument,
                "fusedmoe: argument 'strides': expected " + std::to_string(shape.size()) +
                    " strides (one per dimension), got " + std::to_string(strides.size()));
  }
  int i = 0;
  for (int64_t stride : strides) view.strides[i++] = stride;
  return view;
}

Error::Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

}  // namespace fusedmoe
