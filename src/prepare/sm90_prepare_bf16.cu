// In-place row reorder of a gated BF16 w13 for prepare_weights (prepare_bf16.h):
//   w13[e, row(to, p), :] = checkpoint w13[e, row(from, p), :]
//   w13_bias[e, row(to, p)] = checkpoint w13_bias[e, row(from, p)]
// for every local expert e and position p < 2I, where p < I is the gate of feature p and p >= I
// the up of feature p - I, and row() is gate_row / up_row of bf16_w13_rows.h. Whole rows move
// bit for bit: nothing is converted or rounded.
//
// In place with bounded scratch: each expert's w13 is copied to scratch (cudaMemcpyAsync, device
// to device), then a kernel writes every destination row from its source row in that copy. The
// stream orders the next expert's copy after this expert's kernel, so one expert's w13 of scratch
// serves every expert. The bias follows, as many experts per pass as the scratch holds (one pass
// for any real model: an expert's bias is 2I * 4 bytes at most, its w13 2I * H * 2).
//
// Layout: w13 [E_l, 2I, H] contiguous and 16-byte aligned, H % 8 == 0 (every row is whole 16-byte
// chunks); scratch 16-byte aligned; bias [E_l, 2I] contiguous fp32 or bf16. One block per
// destination row, its threads copy the row's 16-byte chunks.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "core/cuda_launch.h"
#include "prepare/prepare_bf16.h"

namespace fusedmoe::sm90 {
namespace {

constexpr int kThreads = 128;
constexpr int64_t kBf16Bytes = 2;
constexpr int64_t kChunkElements = 8;  // bf16 per 16-byte chunk

// Row of position p (gate of feature p for p < I, else up of feature p - I) in order `rows`.
__device__ __forceinline__ int64_t row_of(GateUpRows rows, int64_t intermediate_size, int64_t position) {
  return position < intermediate_size
             ? gate_row(rows, intermediate_size, position)
             : up_row(rows, intermediate_size, position - intermediate_size);
}

// One expert: block p copies the row of position p from `source` (the scratch copy) to `w13`.
__global__ void __launch_bounds__(kThreads)
    reorder_w13_rows_kernel(const uint4* source, uint4* w13, int64_t intermediate_size,
                            int64_t row_chunks, GateUpRows from, GateUpRows to) {
  const int64_t position = blockIdx.x;
  const uint4* source_row = source + row_of(from, intermediate_size, position) * row_chunks;
  uint4* destination_row = w13 + row_of(to, intermediate_size, position) * row_chunks;
  for (int64_t chunk = threadIdx.x; chunk < row_chunks; chunk += kThreads) {
    destination_row[chunk] = source_row[chunk];
  }
}

// `experts` consecutive experts' biases: thread i moves entry i (copied as raw bits, so the same
// kernel serves fp32 and bf16 through Element = uint32_t / uint16_t).
template <typename Element>
__global__ void __launch_bounds__(kThreads)
    reorder_bias_kernel(const Element* source, Element* bias, int64_t experts,
                        int64_t intermediate_size, GateUpRows from, GateUpRows to) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t rows = 2 * intermediate_size;
  if (index >= experts * rows) return;
  const int64_t expert_base = (index / rows) * rows;
  const int64_t position = index % rows;
  bias[expert_base + row_of(to, intermediate_size, position)] =
      source[expert_base + row_of(from, intermediate_size, position)];
}

template <typename Element>
void reorder_bias(const Bf16W13Reorder& reorder, cudaStream_t stream) {
  const int64_t rows = 2 * reorder.intermediate_size;
  const int64_t expert_bytes = rows * static_cast<int64_t>(sizeof(Element));
  // At least H / 2 >= 4 experts: the scratch holds one expert's w13 (2 bytes x H per row).
  const int64_t experts_per_pass =
      std::min<int64_t>(reorder.experts, static_cast<int64_t>(reorder.scratch_bytes) / expert_bytes);
  auto* bias = static_cast<Element*>(reorder.bias);
  for (int64_t first = 0; first < reorder.experts; first += experts_per_pass) {
    const int64_t experts = std::min(experts_per_pass, reorder.experts - first);
    Element* pass_bias = bias + first * rows;
    cuda::check_cuda(cudaMemcpyAsync(reorder.scratch, pass_bias, static_cast<size_t>(experts * expert_bytes),
                                     cudaMemcpyDeviceToDevice, stream),
                     "cudaMemcpyAsync(w13_bias -> prepare scratch)");
    const int64_t blocks = cuda::ceil_div(experts * rows, kThreads);
    reorder_bias_kernel<Element><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        static_cast<const Element*>(reorder.scratch), pass_bias, experts, reorder.intermediate_size,
        reorder.from, reorder.to);
    cuda::check_launch("reorder_bias_kernel");
  }
}

}  // namespace

size_t bf16_w13_reorder_scratch_bytes(int64_t intermediate_size, int64_t hidden_size) {
  return static_cast<size_t>(2 * intermediate_size * hidden_size * kBf16Bytes);
}

void reorder_bf16_w13(const Bf16W13Reorder& reorder, cudaStream_t stream) {
  const size_t expert_bytes = bf16_w13_reorder_scratch_bytes(reorder.intermediate_size, reorder.hidden_size);
  if (reorder.scratch_bytes < expert_bytes || (expert_bytes > 0 && reorder.scratch == nullptr)) {
    detail::throw_invalid("scratch", "one expert's w13: " + std::to_string(expert_bytes) + " bytes",
                          std::to_string(reorder.scratch_bytes) + " bytes");
  }
  if (reorder.experts == 0 || expert_bytes == 0) return;

  const int64_t rows = 2 * reorder.intermediate_size;
  const int64_t row_chunks = reorder.hidden_size / kChunkElements;
  auto* w13 = static_cast<uint4*>(reorder.w13);
  for (int64_t expert = 0; expert < reorder.experts; ++expert) {
    uint4* expert_w13 = w13 + expert * rows * row_chunks;
    cuda::check_cuda(cudaMemcpyAsync(reorder.scratch, expert_w13, expert_bytes, cudaMemcpyDeviceToDevice, stream),
                     "cudaMemcpyAsync(w13 -> prepare scratch)");
    reorder_w13_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        static_cast<const uint4*>(reorder.scratch), expert_w13, reorder.intermediate_size, row_chunks,
        reorder.from, reorder.to);
    cuda::check_launch("reorder_w13_rows_kernel");
  }

  if (reorder.bias == nullptr) return;
  if (reorder.bias_bf16) {
    reorder_bias<uint16_t>(reorder, stream);
  } else {
    reorder_bias<uint32_t>(reorder, stream);
  }
}

}  // namespace fusedmoe::sm90
