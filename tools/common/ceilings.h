// The two ceilings of the roofline floor, measured on the device in the same run as the numbers
// they judge (DESIGN.md "Performance model"; ../shared/peers/triton_moe.py measures its own the
// same way):
//   read bandwidth  a vectorized reduction (sum of bf16 values into fp32) streaming a buffer of
//                   random bf16 far larger than L2 (>= 4 GiB); bytes read / time
//   bf16 rate       cuBLAS bf16 GEMM (fp32 accumulation, bf16 out) at 8192^3 on random data;
//                   2·n³ / time
// Each is the median of event-timed repetitions after warm-up.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/roofline.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::tools {

struct CeilingOptions {
  size_t read_bytes = size_t{4} << 30;  // >= 4 GiB so L2 (50-60 MB) plays no part
  int64_t gemm_size = 8192;             // square GEMM edge
  int warmup = 3;
  int repetitions = 10;
  uint64_t seed = 0;
};

struct MeasuredCeilings {
  Ceilings ceilings;  // name "measured on <device>"; fp8_flops_per_second 0 (not measured)
  double read_min = 0.0, read_max = 0.0;  // spread of the read samples, bytes/s
  double rate_min = 0.0, rate_max = 0.0;  // spread of the GEMM samples, FLOP/s
};

// Measures both ceilings on the current CUDA device; allocates (and frees) read_bytes plus three
// gemm_size² bf16 matrices. Throws fusedmoe::Error (kCuda) when CUDA or cuBLAS fails.
MeasuredCeilings measure_ceilings(const CeilingOptions& options, Stream stream);

}  // namespace fusedmoe::tools
