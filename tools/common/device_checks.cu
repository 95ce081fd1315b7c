#include "common/device_checks.h"

#include <cuda_runtime.h>

#include <string>

#include "common/cuda_check.h"

namespace fusedmoe::tools {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 4096;

void require_bf16_cuda(const TensorView& tensor, const char* function, const char* what) {
  if (tensor.dtype != DType::kBFloat16 || tensor.device.type != DeviceType::kCUDA ||
      !tensor.is_contiguous() || tensor.data == nullptr) {
    throw Error(ErrorKind::kInvalidArgument, std::string(function) + ": " + what +
                                                 ": expected a contiguous CUDA bf16 tensor, got " +
                                                 tensor.describe());
  }
}

unsigned blocks_for(uint64_t count) {
  const uint64_t wanted = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(wanted < kMaxBlocks ? (wanted > 0 ? wanted : 1) : kMaxBlocks);
}

__global__ void fill_bits_kernel(uint16_t* data, uint64_t count, uint16_t bits) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < count;
       i += stride) {
    data[i] = bits;
  }
}

// bf16 is non-finite when its exponent bits are all ones.
__global__ void count_nonfinite_kernel(const uint16_t* data, uint64_t count,
                                       unsigned long long* total) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  unsigned long long mine = 0;
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < count;
       i += stride) {
    mine += (data[i] & 0x7f80u) == 0x7f80u;
  }
  for (int offset = 16; offset > 0; offset /= 2) mine += __shfl_down_sync(0xffffffffu, mine, offset);
  if ((threadIdx.x & 31) == 0 && mine != 0) atomicAdd(total, mine);
}

}  // namespace

void fill_bf16_bits_on_device(const TensorView& tensor, const char* what, uint16_t bits,
                              Stream stream) {
  require_bf16_cuda(tensor, "fill_bf16_bits_on_device", what);
  const uint64_t count = static_cast<uint64_t>(tensor.numel());
  fill_bits_kernel<<<blocks_for(count), kThreads, 0, stream>>>(static_cast<uint16_t*>(tensor.data),
                                                               count, bits);
  check_cuda_launch("fill_bits_kernel");
}

int64_t count_nonfinite_bf16_on_device(const TensorView& tensor, const char* what, Stream stream) {
  require_bf16_cuda(tensor, "count_nonfinite_bf16_on_device", what);
  const uint64_t count = static_cast<uint64_t>(tensor.numel());
  unsigned long long* total = nullptr;
  check_cuda_call(cudaMallocAsync(reinterpret_cast<void**>(&total), sizeof(*total), stream),
                  "cudaMallocAsync(nonfinite count)");
  check_cuda_call(cudaMemsetAsync(total, 0, sizeof(*total), stream), "cudaMemsetAsync");
  count_nonfinite_kernel<<<blocks_for(count), kThreads, 0, stream>>>(
      static_cast<const uint16_t*>(tensor.data), count, total);
  check_cuda_launch("count_nonfinite_kernel");
  unsigned long long host_total = 0;
  check_cuda_call(cudaMemcpyAsync(&host_total, total, sizeof(host_total), cudaMemcpyDeviceToHost,
                                  stream),
                  "cudaMemcpyAsync(nonfinite count)");
  check_cuda_call(cudaFreeAsync(total, stream), "cudaFreeAsync(nonfinite count)");
  check_cuda_call(cudaStreamSynchronize(stream), "cudaStreamSynchronize(nonfinite count)");
  return static_cast<int64_t>(host_total);
}

}  // namespace fusedmoe::tools
