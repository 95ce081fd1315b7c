// Helpers for the reference tests: owning host tensors, hand-built plans, seeded random data and
// error metrics. Test data is always generated here, never read from disk.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "fusedmoe/moe.h"
#include "reference/tensor_access.h"

namespace fusedmoe::reference::testing {

// A row-major host tensor that owns its bytes. `row_padding` extra elements after every row of
// the last dimension give a strided view (outer strides larger than contiguous); the padding is
// filled with 0xff bytes (NaN for every float type) so reading it shows up as NaN.
class HostTensor {
 public:
  HostTensor() = default;
  HostTensor(DType dtype, std::vector<int64_t> shape, int64_t row_padding = 0) {
    view_.dtype = dtype;
    view_.ndim = static_cast<int32_t>(shape.size());
    int64_t stride = 1;
    for (int d = view_.ndim - 1; d >= 0; --d) {
      view_.shape[d] = shape[d];
      view_.strides[d] = stride;
      stride *= shape[d] + (d == view_.ndim - 1 ? row_padding : 0);
    }
    bytes_.assign(static_cast<size_t>(stride) * dtype_size(dtype) + 1, 0);
    if (row_padding > 0) std::memset(bytes_.data(), 0xff, bytes_.size());
    view_.data = bytes_.data();
    for (int64_t i = 0; i < logical_size(); ++i) set_flat(i, 0.0);
  }

  HostTensor(const HostTensor& other) : bytes_(other.bytes_), view_(other.view_) {
    view_.data = bytes_.data();
  }
  HostTensor& operator=(const HostTensor& other) {
    bytes_ = other.bytes_;
    view_ = other.view_;
    view_.data = bytes_.data();
    return *this;
  }
  HostTensor(HostTensor&& other) noexcept : HostTensor(static_cast<const HostTensor&>(other)) {}
  HostTensor& operator=(HostTensor&& other) noexcept { return *this = static_cast<const HostTensor&>(other); }

  static HostTensor of(DType dtype, std::vector<int64_t> shape, const std::vector<double>& values,
                       int64_t row_padding = 0) {
    HostTensor tensor(dtype, shape, row_padding);
    for (int64_t i = 0; i < tensor.logical_size(); ++i) tensor.set_flat(i, values[i]);
    return tensor;
  }

  const TensorView& view() const { return view_; }
  operator TensorView() const { return view_; }
  uint8_t* bytes() { return bytes_.data(); }

  int64_t logical_size() const {
    int64_t count = 1;
    for (int d = 0; d < view_.ndim; ++d) count *= view_.shape[d];
    return count;
  }

  // Offset of the flat (row-major logical) index.
  int64_t offset_of_flat(int64_t flat) const {
    int64_t offset = 0;
    for (int d = view_.ndim - 1; d >= 0; --d) {
      offset += (flat % view_.shape[d]) * view_.strides[d];
      flat /= view_.shape[d];
    }
    return offset;
  }

  bool is_integer() const {
    return view_.dtype == DType::kInt16 || view_.dtype == DType::kInt32 || view_.dtype == DType::kInt64;
  }
  bool is_byte() const {
    return view_.dtype == DType::kUInt8 || view_.dtype == DType::kFloat4E2M1x2 || view_.dtype == DType::kUE8M0;
  }

  void set_flat(int64_t flat, double value) {
    const int64_t offset = offset_of_flat(flat);
    if (is_integer()) {
      store_int(view_, offset, static_cast<int64_t>(value));
    } else if (is_byte()) {
      store_raw<uint8_t>(view_, offset, static_cast<uint8_t>(value));
    } else {
      store(view_, offset, value);
    }
  }
  double get_flat(int64_t flat) const {
    const int64_t offset = offset_of_flat(flat);
    if (is_integer()) return static_cast<double>(load_int(view_, offset));
    if (view_.dtype == DType::kFloat4E2M1x2) return load_byte(view_, offset);
    return load(view_, offset);
  }
  std::vector<double> values() const {
    std::vector<double> out(logical_size());
    for (int64_t i = 0; i < logical_size(); ++i) out[i] = get_flat(i);
    return out;
  }
  double at(std::initializer_list<int64_t> index) const {
    const int64_t offset = element_offset(view_, index);
    return is_integer() ? static_cast<double>(load_int(view_, offset)) : load(view_, offset);
  }

 private:
  std::vector<uint8_t> bytes_;
  TensorView view_{};
};

// Experts [first, first + count) of a tensor whose outermost dimension is the local expert.
inline TensorView expert_slice(TensorView view, int64_t first, int64_t count) {
  if (!view.defined()) return view;
  if (view.numel() == 1) return view;  // a shared [1] scalar
  view.data = static_cast<char*>(view.data) +
              first * view.strides[0] * static_cast<int64_t>(dtype_size(view.dtype));
  view.shape[0] = count;
  return view;
}

inline MoePlan make_plan_for_test(const MoeConfig& moe, const RoutingConfig& routing = RoutingConfig{}) {
  MoePlan plan;
  plan.moe = moe;
  plan.routing = routing;
  plan.options.backend = Backend::kCpuReference;
  return plan;
}

// Seeded generator with a fixed mapping to floats (no <random> distributions, whose output
// differs between standard libraries).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ull + 1) {}
  uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  double normal() {
    const double u1 = uniform() + 0x1.0p-54;
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  std::vector<double> normals(int64_t count, double scale = 1.0) {
    std::vector<double> out(count);
    for (double& v : out) v = scale * normal();
    return out;
  }

 private:
  uint64_t state_;
};

// ||a - b|| / ||b||; NaN anywhere gives +inf so a NaN result can never pass a bound.
inline double relative_l2(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0.0;
  double norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return std::numeric_limits<double>::infinity();
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

// Same bits everywhere, and every value finite (two identical NaN outputs are not a pass).
inline bool bitwise_equal(const HostTensor& a, const HostTensor& b) {
  const std::vector<double> va = a.values();
  const std::vector<double> vb = b.values();
  if (va.size() != vb.size()) return false;
  for (size_t i = 0; i < va.size(); ++i) {
    if (!std::isfinite(va[i]) || std::memcmp(&va[i], &vb[i], sizeof(double)) != 0) return false;
  }
  return true;
}

}  // namespace fusedmoe::reference::testing
