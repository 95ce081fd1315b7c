// The measurements behind ceilings.h.
#include "common/ceilings.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "common/cuda_check.h"
#include "common/device_memory.h"
#include "common/device_random.h"

namespace fusedmoe::tools {
namespace {

constexpr int kReadThreads = 256;
constexpr int kLoadsInFlight = 4;  // independent 16-byte loads per thread per iteration

// Tensor ids of the ceiling buffers' random streams (any ids distinct from each other).
constexpr uint64_t kReadBufferStream = 101;
constexpr uint64_t kGemmAStream = 102;
constexpr uint64_t kGemmBStream = 103;

__device__ float sum_bf16x8(uint4 v) {
  // bf16 -> fp32 is a shift: the high half of each word is already an fp32 bit pattern.
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
  float sum = 0.0f;
  for (uint32_t word : words) sum += __uint_as_float(word << 16) + __uint_as_float(word & 0xffff0000u);
  return sum;
}

// Sums every bf16 of `data` into one fp32 partial per block: every byte is read once, and the
// sum is stored so the loads cannot be dropped.
__global__ void read_sum_kernel(const uint4* __restrict__ data, uint64_t vectors, float* partials) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x;
  float sums[kLoadsInFlight] = {};
  for (; i + (kLoadsInFlight - 1) * stride < vectors; i += kLoadsInFlight * stride) {
    uint4 loaded[kLoadsInFlight];
    for (int j = 0; j < kLoadsInFlight; ++j) loaded[j] = __ldg(data + i + j * stride);
    for (int j = 0; j < kLoadsInFlight; ++j) sums[j] += sum_bf16x8(loaded[j]);
  }
  for (; i < vectors; i += stride) sums[0] += sum_bf16x8(__ldg(data + i));
  float sum = sums[0] + sums[1] + sums[2] + sums[3];
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  __shared__ float warp_sums[kReadThreads / 32];
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    float block = 0.0f;
    for (float warp : warp_sums) block += warp;
    partials[blockIdx.x] = block;
  }
}

void check_cublas(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(ErrorKind::kCuda,
              std::string("fusedmoe tool: ") + call + " failed: " + cublasGetStatusString(status));
}

class EventPair {
 public:
  EventPair() {
    check_cuda_call(cudaEventCreate(&start_), "cudaEventCreate");
    check_cuda_call(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~EventPair() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;

  // Seconds `work` takes on `stream`, measured by events around it.
  double time(const std::function<void()>& work, Stream stream) {
    check_cuda_call(cudaEventRecord(start_, stream), "cudaEventRecord");
    work();
    check_cuda_call(cudaEventRecord(stop_, stream), "cudaEventRecord");
    check_cuda_call(cudaEventSynchronize(stop_), "cudaEventSynchronize");
    float milliseconds = 0.0f;
    check_cuda_call(cudaEventElapsedTime(&milliseconds, start_, stop_), "cudaEventElapsedTime");
    return milliseconds * 1e-3;
  }

 private:
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

struct Samples {
  double median = 0.0, min = 0.0, max = 0.0;
};

Samples timed(const std::function<void()>& work, int warmup, int repetitions, Stream stream) {
  EventPair events;
  for (int i = 0; i < warmup; ++i) events.time(work, stream);
  std::vector<double> seconds;
  for (int i = 0; i < repetitions; ++i) seconds.push_back(events.time(work, stream));
  std::sort(seconds.begin(), seconds.end());
  return Samples{seconds[seconds.size() / 2], seconds.front(), seconds.back()};
}

int current_device() {
  int device = 0;
  check_cuda_call(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

void measure_read(const CeilingOptions& options, Stream stream, MeasuredCeilings& result) {
  const int device = current_device();
  int multiprocessors = 0;
  check_cuda_call(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device),
                  "cudaDeviceGetAttribute(multiprocessors)");
  const uint64_t vectors = options.read_bytes / sizeof(uint4);
  const double bytes = static_cast<double>(vectors * sizeof(uint4));
  DeviceBuffer buffer(vectors * sizeof(uint4), device);
  fill_normal_on_device(make_view(buffer.data(), DType::kBFloat16,
                                  {static_cast<int64_t>(vectors * 8)}, cuda_device(device)),
                        "read ceiling buffer", options.seed, kReadBufferStream, 1.0f, stream);
  const int blocks = multiprocessors * (2048 / kReadThreads);
  DeviceBuffer partials(static_cast<size_t>(blocks) * sizeof(float), device);
  const Samples samples = timed(
      [&] {
        read_sum_kernel<<<blocks, kReadThreads, 0, stream>>>(
            static_cast<const uint4*>(buffer.data()), vectors, static_cast<float*>(partials.data()));
        check_cuda_launch("read_sum_kernel");
      },
      options.warmup, options.repetitions, stream);
  result.ceilings.read_bytes_per_second = bytes / samples.median;
  result.read_min = bytes / samples.max;
  result.read_max = bytes / samples.min;
}

void measure_rate(const CeilingOptions& options, Stream stream, MeasuredCeilings& result) {
  const int device = current_device();
  const int64_t n = options.gemm_size;
  const size_t matrix_bytes = static_cast<size_t>(n * n) * 2;
  DeviceBuffer a(matrix_bytes, device);
  DeviceBuffer b(matrix_bytes, device);
  DeviceBuffer c(matrix_bytes, device);
  fill_normal_on_device(make_view(a.data(), DType::kBFloat16, {n, n}, cuda_device(device)),
                        "gemm A", options.seed, kGemmAStream, 1.0f, stream);
  fill_normal_on_device(make_view(b.data(), DType::kBFloat16, {n, n}, cuda_device(device)),
                        "gemm B", options.seed, kGemmBStream, 1.0f, stream);

  cublasHandle_t handle = nullptr;
  check_cublas(cublasCreate(&handle), "cublasCreate");
  try {
    check_cublas(cublasSetStream(handle, stream), "cublasSetStream");
    const float alpha = 1.0f;
    const float beta = 0.0f;
    const int edge = static_cast<int>(n);
    const Samples samples = timed(
        [&] {
          check_cublas(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, edge, edge, edge, &alpha,
                                    a.data(), CUDA_R_16BF, edge, b.data(), CUDA_R_16BF, edge, &beta,
                                    c.data(), CUDA_R_16BF, edge, CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT),
                       "cublasGemmEx(bf16 8192^3)");
        },
        options.warmup, options.repetitions, stream);
    const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
    result.ceilings.bf16_flops_per_second = flops / samples.median;
    result.rate_min = flops / samples.max;
    result.rate_max = flops / samples.min;
  } catch (...) {
    cublasDestroy(handle);
    throw;
  }
  check_cublas(cublasDestroy(handle), "cublasDestroy");
}

}  // namespace

MeasuredCeilings measure_ceilings(const CeilingOptions& options, Stream stream) {
  if (options.read_bytes < sizeof(uint4) || options.gemm_size < 1 || options.repetitions < 1 ||
      options.warmup < 0) {
    throw Error(ErrorKind::kInvalidArgument,
                "measure_ceilings: options: expected read_bytes >= 16, gemm_size >= 1, "
                "repetitions >= 1, warmup >= 0");
  }
  const int device = current_device();
  cudaDeviceProp properties{};
  check_cuda_call(cudaGetDeviceProperties(&properties, device), "cudaGetDeviceProperties");
  MeasuredCeilings result;
  result.ceilings.name = std::string("measured on ") + properties.name;
  measure_read(options, stream, result);
  measure_rate(options, stream, result);
  return result;
}

}  // namespace fusedmoe::tools
