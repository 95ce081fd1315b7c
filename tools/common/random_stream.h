// Reproducible random numbers for test layers. Every tensor (and every expert's matrices) draws
// from its own stream keyed by (seed, tensor, expert), so any expert can be generated alone and
// gets the same values whichever other experts are generated, in whatever order. The generator
// is spelled out here (xoshiro256** + Marsaglia polar) rather than taken from <random>, whose
// distributions differ between standard libraries.
#pragma once

#include <cmath>
#include <cstdint>

namespace fusedmoe::tools {

// Which tensor a stream feeds. The numeric values are part of the seed: never renumber.
enum class RandomTensor : uint64_t {
  kHiddenStates = 1,
  kRouterLogits = 2,
  kExpertPopularity = 3,
  kCorrectionBias = 4,
  kLogitsBias = 5,
  kW13 = 6,
  kW2 = 7,
  kW13Bias = 8,
  kW2Bias = 9,
};

inline uint64_t splitmix64(uint64_t value) {
  value += 0x9e3779b97f4a7c15ull;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
  return value ^ (value >> 31);
}

class NormalStream {
 public:
  // `expert` is the global expert id, or -1 for tensors that are not per expert.
  NormalStream(uint64_t seed, RandomTensor tensor, int64_t expert) {
    uint64_t key = splitmix64(seed) ^ splitmix64(static_cast<uint64_t>(tensor) * 0x100000001ull +
                                                 static_cast<uint64_t>(expert + 1));
    for (uint64_t& word : state_) {
      key = splitmix64(key);
      word = key;
    }
  }

  // Uniform in [0, 1) with 24 random bits.
  float uniform() { return static_cast<float>(next_bits() >> 40) * 0x1.0p-24f; }

  // Standard normal (Marsaglia's polar method: no sin/cos; the second value of each pair is
  // kept for the next call).
  float normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    float u;
    float v;
    float radius_sq;
    do {
      u = 2.0f * uniform() - 1.0f;
      v = 2.0f * uniform() - 1.0f;
      radius_sq = u * u + v * v;
    } while (radius_sq >= 1.0f || radius_sq == 0.0f);
    const float factor = std::sqrt(-2.0f * std::log(radius_sq) / radius_sq);
    spare_ = v * factor;
    has_spare_ = true;
    return u * factor;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next_bits() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  uint64_t state_[4] = {0, 0, 0, 0};
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

}  // namespace fusedmoe::tools
