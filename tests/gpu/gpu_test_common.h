// Shared pieces of the GPU tests: the per-run random seed (printed, replayable with
// FUSEDMOE_TEST_SEED), host arrays viewed as fusedmoe tensors, bf16/fp16 encoding of random data,
// and plan construction for a stage test.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "core/host_numerics.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::testing {

// One seed per test process, from FUSEDMOE_TEST_SEED or the system entropy source; printed so a
// failure can be replayed.
inline uint64_t run_seed() {
  static const uint64_t seed = [] {
    uint64_t value = 0;
    if (const char* text = std::getenv("FUSEDMOE_TEST_SEED")) {
      value = std::strtoull(text, nullptr, 10);
    } else {
      std::random_device entropy;
      value = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
    }
    std::fprintf(stderr, "[fusedmoe gpu tests] seed %llu (FUSEDMOE_TEST_SEED=%llu replays it)\n",
                 static_cast<unsigned long long>(value), static_cast<unsigned long long>(value));
    return value;
  }();
  return seed;
}

// Seed of one test case: the run seed mixed with the case's name.
inline uint64_t case_seed(const std::string& name) {
  const uint64_t seed = run_seed() ^ (std::hash<std::string>{}(name) * 0x9e3779b97f4a7c15ull);
  ::testing::Test::RecordProperty("seed", std::to_string(run_seed()));
  return seed;
}

// Host memory viewed as a contiguous fusedmoe tensor on the CPU.
class HostArray {
 public:
  HostArray() = default;
  HostArray(DType dtype, std::initializer_list<int64_t> shape) : dtype_(dtype), shape_(shape) {
    int64_t count = 1;
    for (int64_t extent : shape_) count *= extent;
    bytes_.assign(static_cast<size_t>(count) * dtype_size(dtype), 0);
  }
  TensorView view() {
    TensorView view;
    view.data = bytes_.data();
    view.dtype = dtype_;
    view.ndim = static_cast<int32_t>(shape_.size());
    int64_t stride = 1;
    for (int d = view.ndim - 1; d >= 0; --d) {
      view.shape[d] = shape_[d];
      view.strides[d] = stride;
      stride *= shape_[d];
    }
    view.device = cpu_device();
    return view;
  }
  void* data() { return bytes_.data(); }
  const void* data() const { return bytes_.data(); }
  size_t bytes() const { return bytes_.size(); }
  template <typename T>
  T* as() {
    return reinterpret_cast<T*>(bytes_.data());
  }
  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(bytes_.data());
  }

 private:
  DType dtype_ = DType::kFloat32;
  std::vector<int64_t> shape_;
  std::vector<uint8_t> bytes_;
};

// Float values stored in `dtype` (fp32, bf16 or fp16; rounded to nearest even) as raw bytes.
inline std::vector<uint8_t> encode_floats(const std::vector<float>& values, DType dtype) {
  std::vector<uint8_t> bytes(values.size() * dtype_size(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kFloat32) {
      std::memcpy(bytes.data() + 4 * i, &values[i], 4);
    } else {
      const uint16_t bits = dtype == DType::kBFloat16 ? numerics::float_to_bf16_bits(values[i])
                                                      : numerics::float_to_f16_bits(values[i]);
      std::memcpy(bytes.data() + 2 * i, &bits, 2);
    }
  }
  return bytes;
}

inline float decode_float(const void* data, DType dtype, int64_t index) {
  if (dtype == DType::kFloat32) {
    float value;
    std::memcpy(&value, static_cast<const uint8_t*>(data) + 4 * index, 4);
    return value;
  }
  uint16_t bits;
  std::memcpy(&bits, static_cast<const uint8_t*>(data) + 2 * index, 2);
  return dtype == DType::kBFloat16 ? numerics::bf16_bits_to_float(bits)
                                   : numerics::f16_bits_to_float(bits);
}

inline std::vector<float> random_normal(std::mt19937_64& rng, size_t count, float stddev,
                                        float mean = 0.0f) {
  std::normal_distribution<float> normal(mean, stddev);
  std::vector<float> values(count);
  for (float& value : values) value = normal(rng);
  return values;
}

inline std::vector<float> random_uniform(std::mt19937_64& rng, size_t count, float low,
                                         float high) {
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(count);
  for (float& value : values) value = uniform(rng);
  return values;
}

// A CUDA plan for a stage test (the hidden / intermediate sizes only matter to dispatch and
// combine).
inline MoePlan stage_plan(MoeConfig moe, const RoutingConfig& routing, int32_t max_num_tokens) {
  if (moe.hidden_size == 0) moe.hidden_size = 128;
  if (moe.intermediate_size == 0) moe.intermediate_size = 128;
  PlanOptions options;
  options.backend = Backend::kCudaSm90;
  options.max_num_tokens = max_num_tokens;
  return make_plan(moe, routing, options);
}

}  // namespace fusedmoe::testing
