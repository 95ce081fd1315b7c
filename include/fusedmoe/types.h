// fusedmoe public types: element types, devices and non-owning strided tensor views.
//
// A TensorView never owns memory. Shapes and strides are in elements (not bytes), like DLPack and
// torch. Packed sub-byte types (kFloat4E2M1x2) count one element per *byte* (two fp4 values), so a
// packed weight [E, N, K] is described with shape [E, N, K/2].
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace fusedmoe {

enum class DType : int32_t {
  kFloat32 = 0,
  kBFloat16 = 1,
  kFloat16 = 2,
  kFloat8E4M3 = 3,    // OCP e4m3fn: max 448, NaN = 0x7f/0xff, no Inf
  kFloat4E2M1x2 = 4,  // two e2m1 values per byte: element 2i in the low nibble, 2i+1 in the high
  kUE8M0 = 5,         // unsigned power-of-two scale: value = 2^(byte - 127); 0xff is NaN
  kInt16 = 6,
  kInt32 = 7,
  kInt64 = 8,
  kUInt8 = 9,
};

// Size of one stored element in bytes (kFloat4E2M1x2 = 1 byte holding two values).
size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

enum class DeviceType : int32_t { kCPU = 0, kCUDA = 1 };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int32_t index = 0;
};

constexpr int kMaxTensorDims = 4;

// A non-owning view of a tensor. `data == nullptr` with ndim == 0 means "absent" for optional
// arguments; every entry point says which of its views are optional.
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  int32_t ndim = 0;
  int64_t shape[kMaxTensorDims] = {0, 0, 0, 0};
  int64_t strides[kMaxTensorDims] = {0, 0, 0, 0};  // in elements
  Device device{};

  bool defined() const { return data != nullptr || ndim > 0; }
  int64_t numel() const;
  int64_t size(int dim) const { return shape[dim < 0 ? dim + ndim : dim]; }
  int64_t stride(int dim) const { return strides[dim < 0 ? dim + ndim : dim]; }
  // True when strides are those of a row-major (C-contiguous) tensor of this shape.
  bool is_contiguous() const;
  std::string describe() const;  // "bf16[4, 2048] cuda:0", for error messages
};

// Build a row-major contiguous view.
TensorView make_view(void* data, DType dtype, std::initializer_list<int64_t> shape,
                     Device device = Device{});
// Build a view with explicit strides (in elements).
TensorView make_strided_view(void* data, DType dtype, std::initializer_list<int64_t> shape,
                             std::initializer_list<int64_t> strides, Device device = Device{});

inline Device cpu_device() { return Device{DeviceType::kCPU, 0}; }
inline Device cuda_device(int index = 0) { return Device{DeviceType::kCUDA, index}; }

}  // namespace fusedmoe
