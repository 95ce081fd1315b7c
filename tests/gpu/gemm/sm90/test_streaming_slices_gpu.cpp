// The weight-streaming GEMM2 (src/gemm/sm90/sm90_streaming_experts.cu) with several 64-column
// slices per CTA, the layout the launcher picks for short reductions (a narrow expert's K = 256)
// when CTAs are plentiful. Forced here on a small problem: every slice count gives bitwise the
// one-slice result (same products, same order), which matches the host within bf16 rounding.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gemm/sm90/streaming_experts.h"
#include "gpu/gpu_test_common.h"
#include "support/device_buffer.h"
#include "support/gpu_skip.h"

namespace fusedmoe {
namespace {

using testing::cuda_or_throw;
using testing::DeviceBuffer;

TEST(StreamingGemm2Slices, EverySliceCountMatchesOneSliceBitwiseAndTheHost) {
  FUSEDMOE_REQUIRE_SM90();
  // 7 experts, H = 7168 - 64 * 3 (109 slices: ragged last CTA for 2, 3 and 4 slices), K = 256.
  const int64_t experts = 7, out_columns = 7168 - 192, k = 256;
  const std::vector<int32_t> counts = {3, 0, 17, 1, 64, 40, 9};  // several token tiles for some
  std::vector<int32_t> offsets = {0};
  for (const int32_t count : counts) offsets.push_back(offsets.back() + count);
  const int64_t rows = offsets.back();

  std::mt19937_64 rng(testing::case_seed("streaming_gemm2_slices"));
  const std::vector<float> x = testing::random_normal(rng, static_cast<size_t>(rows * k), 1.0f);
  const std::vector<float> w =
      testing::random_normal(rng, static_cast<size_t>(experts * out_columns * k), 0.05f);
  DeviceBuffer x_device(static_cast<size_t>(rows * k) * 2), w_device(static_cast<size_t>(experts * out_columns * k) * 2);
  const std::vector<uint8_t> x_bf16 = testing::encode_floats(x, DType::kBFloat16);
  const std::vector<uint8_t> w_bf16 = testing::encode_floats(w, DType::kBFloat16);
  x_device.upload(x_bf16);
  w_device.upload(w_bf16);
  DeviceBuffer offsets_device(offsets.size() * sizeof(int32_t));
  offsets_device.upload(offsets);
  DeviceBuffer out_device(static_cast<size_t>(rows * out_columns) * 2);

  sm90::StreamingGemmParams params;
  params.rows.layout = sm90::GroupRows::kOffsets;
  params.rows.offsets = static_cast<const int32_t*>(offsets_device.data());
  params.rows.num_experts = static_cast<int32_t>(experts);
  params.rows.max_rows = rows;
  params.max_active_experts = static_cast<int32_t>(experts);
  params.x = x_device.data();
  params.k = k;
  params.w = w_device.data();
  params.w_rows = out_columns;
  params.out = out_device.data();
  params.out_columns = out_columns;

  std::vector<uint8_t> one_slice;
  for (const int32_t slices : {1, 2, 3, 4}) {
    for (const int token_tile : {16, 64}) {
      out_device.poison(0xff);
      cuda_or_throw(cudaDeviceSynchronize(), "poison");
      params.column_slices = slices;
      sm90::launch_streaming_gemm2(params, token_tile, nullptr);
      cuda_or_throw(cudaDeviceSynchronize(), "streaming GEMM2");
      const std::vector<uint8_t> out = out_device.download_all<uint8_t>();
      const std::string label = std::to_string(slices) + " slices, token tile " + std::to_string(token_tile);
      if (one_slice.empty()) {
        one_slice = out;
        // Host check of the one-slice result: fp32 products of the bf16 inputs, one bf16 rounding.
        int failures = 0;
        for (int64_t expert = 0; expert < experts && failures < 5; ++expert) {
          for (int64_t row = offsets[expert]; row < offsets[expert + 1] && failures < 5; ++row) {
            for (int64_t column = 0; column < out_columns; column += 37) {
              double want = 0.0;
              for (int64_t i = 0; i < k; ++i) {
                want += static_cast<double>(testing::decode_float(x_bf16.data(), DType::kBFloat16, row * k + i)) *
                        testing::decode_float(w_bf16.data(), DType::kBFloat16,
                                              (expert * out_columns + column) * k + i);
              }
              const double got = testing::decode_float(out.data(), DType::kBFloat16, row * out_columns + column);
              if (!(std::fabs(got - want) <= 1e-2 * std::fabs(want) + 1e-2)) {
                ADD_FAILURE() << label << ": row " << row << " column " << column << " = " << got
                              << ", host " << want;
                ++failures;
              }
            }
          }
        }
      } else {
        EXPECT_TRUE(out == one_slice) << label << " differs from one slice per CTA";
      }
    }
  }
}

}  // namespace
}  // namespace fusedmoe
