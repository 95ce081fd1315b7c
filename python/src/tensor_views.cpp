#include "tensor_views.h"

#include <optional>
#include <string>

#include "fusedmoe/error.h"

namespace fusedmoe::python {
namespace {

namespace dl = nb::dlpack;

[[noreturn]] void invalid(const char* name, const std::string& expected, const std::string& given) {
  throw Error(ErrorKind::kInvalidArgument, std::string("fusedmoe: argument '") + name +
                                               "': expected " + expected + ", got " + given);
}

std::optional<DType> dtype_from_dlpack(dl::dtype dt) {
  const auto code = static_cast<dl::dtype_code>(dt.code);
  // fp4 is the one packed type: some producers describe a byte as two 4-bit lanes.
  if (code == dl::dtype_code::Float4_E2M1FN && dt.bits * dt.lanes == 8) return DType::kFloat4E2M1x2;
  if (dt.lanes != 1) return std::nullopt;
  switch (code) {
    case dl::dtype_code::Float:
      if (dt.bits == 32) return DType::kFloat32;
      if (dt.bits == 16) return DType::kFloat16;
      return std::nullopt;
    case dl::dtype_code::Bfloat:
      return dt.bits == 16 ? std::optional(DType::kBFloat16) : std::nullopt;
    case dl::dtype_code::Float8_E4M3FN:
      return dt.bits == 8 ? std::optional(DType::kFloat8E4M3) : std::nullopt;
    case dl::dtype_code::Float8_E8M0FNU:
      return dt.bits == 8 ? std::optional(DType::kUE8M0) : std::nullopt;
    case dl::dtype_code::Int:
      if (dt.bits == 16) return DType::kInt16;
      if (dt.bits == 32) return DType::kInt32;
      if (dt.bits == 64) return DType::kInt64;
      return std::nullopt;
    case dl::dtype_code::UInt: return dt.bits == 8 ? std::optional(DType::kUInt8) : std::nullopt;
    default: return std::nullopt;
  }
}

std::string dlpack_dtype_name(dl::dtype dt) {
  std::string base;
  switch (static_cast<dl::dtype_code>(dt.code)) {
    case dl::dtype_code::Int: base = "int"; break;
    case dl::dtype_code::UInt: base = "uint"; break;
    case dl::dtype_code::Float: base = "float"; break;
    case dl::dtype_code::Bfloat: base = "bfloat"; break;
    case dl::dtype_code::Complex: base = "complex"; break;
    case dl::dtype_code::Bool: return "bool";
    default: base = "dlpack-code" + std::to_string(dt.code) + "-bits"; break;
  }
  std::string name = base + std::to_string(dt.bits);
  if (dt.lanes != 1) name += "x" + std::to_string(dt.lanes);
  return name;
}

const char* kKnownDtypes =
    "a fusedmoe dtype (float32, bfloat16, float16, float8_e4m3fn, float8_e8m0fnu, "
    "float4_e2m1fn_x2, "
    "int16, int32, int64, uint8)";

Device device_of(int32_t device_type, int32_t device_id, const char* name) {
  switch (device_type) {
    case nb::device::cpu::value:
    case nb::device::cuda_host::value:  // pinned host memory: the CPU can read it directly
      return Device{DeviceType::kCPU, 0};
    case nb::device::cuda::value:
    case nb::device::cuda_managed::value: return Device{DeviceType::kCUDA, device_id};
    default:
      invalid(name, "a CPU or CUDA tensor", "DLPack device type " + std::to_string(device_type));
  }
}

[[noreturn]] void not_an_array(nb::handle array, const char* name, bool writable) {
  invalid(name,
          writable ? "a writable DLPack-capable array (numpy, torch; detached from autograd)"
                   : "a DLPack-capable array (numpy, torch; detached from autograd)",
          nb::type_name(array.type()).c_str());
}

template <typename Array>
TensorView describe(const Array& array, const char* name, std::optional<DType> override_dtype) {
  if (array.ndim() > static_cast<size_t>(kMaxTensorDims)) {
    invalid(name, "at most " + std::to_string(kMaxTensorDims) + " dimensions",
            std::to_string(array.ndim()));
  }
  TensorView view;
  view.data = const_cast<void*>(static_cast<const void*>(array.data()));
  view.ndim = static_cast<int32_t>(array.ndim());
  view.device = device_of(array.device_type(), array.device_id(), name);
  for (int32_t i = 0; i < view.ndim; ++i) {
    view.shape[i] = array.shape(i);
    view.strides[i] = array.stride(i);
  }

  const dl::dtype dt = array.dtype();
  if (override_dtype) {
    const size_t stored_bytes = (static_cast<size_t>(dt.bits) * dt.lanes + 7) / 8;
    if (stored_bytes != dtype_size(*override_dtype)) {
      invalid(name,
              std::string("storage of ") + std::to_string(dtype_size(*override_dtype)) +
                  "-byte elements to read as " + dtype_name(*override_dtype),
              dlpack_dtype_name(dt));
    }
    view.dtype = *override_dtype;
  } else {
    const std::optional<DType> dtype = dtype_from_dlpack(dt);
    if (!dtype) invalid(name, kKnownDtypes, dlpack_dtype_name(dt));
    view.dtype = *dtype;
  }
  return view;
}

}  // namespace

TensorView ViewScope::in(nb::handle obj, const char* name) { return convert(obj, name, false); }
TensorView ViewScope::out(nb::handle obj, const char* name) { return convert(obj, name, true); }

TensorView ViewScope::convert(nb::handle obj, const char* name, bool writable) {
  if (obj.is_none()) return TensorView{};

  // (array, fusedmoe dtype): the memory of `array` reinterpreted as that dtype.
  std::optional<DType> override_dtype;
  nb::handle array = obj;
  if (nb::isinstance<nb::tuple>(obj)) {
    nb::tuple pair = nb::borrow<nb::tuple>(obj);
    if (pair.size() != 2) {
      invalid(name, "an array or a tuple (array, fusedmoe.DType)",
              "a tuple of " + std::to_string(pair.size()) + " items");
    }
    DType target = DType::kFloat32;
    int code = -1;
    if (!nb::try_cast(pair[1], target)) {
      if (!nb::try_cast(pair[1], code, false) || code < 0 ||
          code > static_cast<int>(DType::kUInt8)) {
        invalid(name, "a fusedmoe.DType as the tuple's second item", nb::repr(pair[1]).c_str());
      }
      target = static_cast<DType>(code);
    }
    override_dtype = target;
    array = pair[0];
  }

  if (writable) {
    nb::ndarray<> rw;
    if (!nb::try_cast(array, rw, false)) not_an_array(array, name, true);
    const TensorView view = describe(rw, name, override_dtype);
    outputs_.push_back(std::move(rw));
    return view;
  }
  nb::ndarray<nb::ro> ro;
  if (!nb::try_cast(array, ro, false)) not_an_array(array, name, false);
  const TensorView view = describe(ro, name, override_dtype);
  inputs_.push_back(std::move(ro));
  return view;
}

}  // namespace fusedmoe::python
