// Element access for the CPU reference: reads any element of a strided host TensorView as a double
// (exact for every dtype fusedmoe handles) and writes a double back rounded to the view's dtype.
//
// The reference never assumes contiguity: every index goes through the view's strides, so callers
// may pass transposed or row-padded views. Packed fp4 (kFloat4E2M1x2) is read as raw bytes with
// load_byte(); the weight dequantizer unpacks the two nibbles itself.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "core/host_numerics.h"
#include "fusedmoe/error.h"
#include "fusedmoe/types.h"

namespace fusedmoe::reference {

// Offset in elements of `index` (one entry per dimension, outermost first).
inline int64_t element_offset(const TensorView& view, std::initializer_list<int64_t> index) {
  int64_t offset = 0;
  int dim = 0;
  for (int64_t i : index) offset += i * view.strides[dim++];
  return offset;
}

template <typename T>
inline T load_raw(const TensorView& view, int64_t offset) {
  T value;
  std::memcpy(&value, static_cast<const char*>(view.data) + offset * static_cast<int64_t>(sizeof(T)),
              sizeof(T));
  return value;
}

template <typename T>
inline void store_raw(const TensorView& view, int64_t offset, T value) {
  std::memcpy(static_cast<char*>(view.data) + offset * static_cast<int64_t>(sizeof(T)), &value,
              sizeof(T));
}

inline uint8_t load_byte(const TensorView& view, int64_t offset) {
  return load_raw<uint8_t>(view, offset);
}

// The element's value, exactly (every dtype below embeds in a double).
inline double load(const TensorView& view, int64_t offset) {
  switch (view.dtype) {
    case DType::kFloat32: return load_raw<float>(view, offset);
    case DType::kBFloat16: return numerics::bf16_bits_to_float(load_raw<uint16_t>(view, offset));
    case DType::kFloat16: return numerics::f16_bits_to_float(load_raw<uint16_t>(view, offset));
    case DType::kFloat8E4M3: return numerics::e4m3_bits_to_float(load_raw<uint8_t>(view, offset));
    case DType::kUE8M0: return numerics::ue8m0_to_float(load_raw<uint8_t>(view, offset));
    case DType::kInt16: return load_raw<int16_t>(view, offset);
    case DType::kInt32: return load_raw<int32_t>(view, offset);
    case DType::kInt64: return static_cast<double>(load_raw<int64_t>(view, offset));
    case DType::kUInt8: return load_raw<uint8_t>(view, offset);
    case DType::kFloat4E2M1x2: break;
  }
  throw Error(ErrorKind::kInternal,
              std::string("fusedmoe: reference cannot read a scalar of dtype ") +
                  dtype_name(view.dtype));
}

inline double load_at(const TensorView& view, std::initializer_list<int64_t> index) {
  return load(view, element_offset(view, index));
}

// Integer elements (ids, offsets, counts) without a detour through double.
inline int64_t load_int(const TensorView& view, int64_t offset) {
  switch (view.dtype) {
    case DType::kInt16: return load_raw<int16_t>(view, offset);
    case DType::kInt32: return load_raw<int32_t>(view, offset);
    case DType::kInt64: return load_raw<int64_t>(view, offset);
    default: break;
  }
  throw Error(ErrorKind::kInternal, std::string("fusedmoe: reference expected an integer tensor, got ") +
                                        dtype_name(view.dtype));
}

inline int64_t load_int_at(const TensorView& view, std::initializer_list<int64_t> index) {
  return load_int(view, element_offset(view, index));
}

// The value a kernel would store: accumulators are fp32, so a double is first rounded to fp32 and
// then, for 16-bit outputs, to bf16 / fp16 (round to nearest even at each step).
inline float round_to_dtype(double value, DType dtype) {
  const float as_float = static_cast<float>(value);
  switch (dtype) {
    case DType::kFloat32: return as_float;
    case DType::kBFloat16: return numerics::round_to_bf16(as_float);
    case DType::kFloat16: return numerics::round_to_f16(as_float);
    default: break;
  }
  throw Error(ErrorKind::kInternal, std::string("fusedmoe: reference cannot round to dtype ") +
                                        dtype_name(dtype));
}

// Stores `value` rounded to the view's floating dtype (see round_to_dtype), or an e4m3 code's value.
inline void store(const TensorView& view, int64_t offset, double value) {
  const float as_float = static_cast<float>(value);
  switch (view.dtype) {
    case DType::kFloat32: store_raw<float>(view, offset, as_float); return;
    case DType::kBFloat16: store_raw<uint16_t>(view, offset, numerics::float_to_bf16_bits(as_float)); return;
    case DType::kFloat16: store_raw<uint16_t>(view, offset, numerics::float_to_f16_bits(as_float)); return;
    case DType::kFloat8E4M3: store_raw<uint8_t>(view, offset, numerics::float_to_e4m3_bits(as_float)); return;
    default: break;
  }
  throw Error(ErrorKind::kInternal, std::string("fusedmoe: reference cannot store a float as ") +
                                        dtype_name(view.dtype));
}

inline void store_at(const TensorView& view, std::initializer_list<int64_t> index, double value) {
  store(view, element_offset(view, index), value);
}

inline void store_int(const TensorView& view, int64_t offset, int64_t value) {
  switch (view.dtype) {
    case DType::kInt16: store_raw<int16_t>(view, offset, static_cast<int16_t>(value)); return;
    case DType::kInt32: store_raw<int32_t>(view, offset, static_cast<int32_t>(value)); return;
    case DType::kInt64: store_raw<int64_t>(view, offset, value); return;
    default: break;
  }
  throw Error(ErrorKind::kInternal, std::string("fusedmoe: reference cannot store an integer as ") +
                                        dtype_name(view.dtype));
}

inline void store_int_at(const TensorView& view, std::initializer_list<int64_t> index, int64_t value) {
  store_int(view, element_offset(view, index), value);
}

// A per-expert scalar given as [1] (shared) or [E_l] (one per local expert).
inline double per_expert_scalar(const TensorView& view, int64_t local_expert) {
  return load(view, view.numel() == 1 ? 0 : local_expert * view.strides[0]);
}

}  // namespace fusedmoe::reference
