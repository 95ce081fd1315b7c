// The kernels behind device_random.h. Each thread writes 16 bytes at a time (8 bf16 or 4 fp32
// values: whole Box-Muller pairs), so a fill runs near the write bandwidth; the last few elements
// that do not fill a vector go through a per-element kernel.
#include "common/device_random.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <string>

#include "common/cuda_check.h"

namespace fusedmoe::tools {
namespace {

constexpr int kThreads = 256;

template <int kPerVector>
struct VectorOf;
template <>
struct VectorOf<8> {  // 8 bf16
  static __device__ void store(void* base, uint64_t vector, const float* values) {
    __align__(16) __nv_bfloat162 packed[4];
    for (int i = 0; i < 4; ++i) packed[i] = __floats2bfloat162_rn(values[2 * i], values[2 * i + 1]);
    reinterpret_cast<uint4*>(base)[vector] = *reinterpret_cast<const uint4*>(packed);
  }
};
template <>
struct VectorOf<4> {  // 4 fp32
  static __device__ void store(void* base, uint64_t vector, const float* values) {
    reinterpret_cast<float4*>(base)[vector] = make_float4(values[0], values[1], values[2], values[3]);
  }
};

template <int kPerVector>
__global__ void fill_vectors_kernel(void* data, uint64_t vectors, uint64_t key, float stddev) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t v = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; v < vectors;
       v += stride) {
    float values[kPerVector];
    for (int p = 0; p < kPerVector / 2; ++p) {
      counter_normal_pair(key, v * (kPerVector / 2) + p, values[2 * p], values[2 * p + 1]);
    }
    for (float& value : values) value *= stddev;
    VectorOf<kPerVector>::store(data, v, values);
  }
}

__global__ void fill_tail_kernel(void* data, bool bf16, uint64_t first, uint64_t count,
                                 uint64_t key, float stddev) {
  const uint64_t i = first + blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x;
  if (i >= first + count) return;
  const float value = stddev * counter_normal(key, i);
  if (bf16) {
    static_cast<__nv_bfloat16*>(data)[i] = __float2bfloat16_rn(value);
  } else {
    static_cast<float*>(data)[i] = value;
  }
}

int fill_grid(uint64_t vectors) {
  int device = 0;
  int multiprocessors = 0;
  check_cuda_call(cudaGetDevice(&device), "cudaGetDevice");
  check_cuda_call(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device),
                  "cudaDeviceGetAttribute(multiprocessors)");
  const uint64_t wanted = (vectors + kThreads - 1) / kThreads;
  const uint64_t resident = static_cast<uint64_t>(multiprocessors) * 8;
  return static_cast<int>(wanted < resident ? (wanted > 0 ? wanted : 1) : resident);
}

}  // namespace

void fill_normal_on_device(const TensorView& tensor, const char* what, uint64_t seed,
                           uint64_t tensor_id, float stddev, Stream stream) {
  const bool bf16 = tensor.dtype == DType::kBFloat16;
  if (!bf16 && tensor.dtype != DType::kFloat32) {
    throw Error(ErrorKind::kInvalidArgument, std::string("fill_normal_on_device: ") + what +
                                                 ": expected bf16 or fp32, got " +
                                                 tensor.describe());
  }
  if (tensor.device.type != DeviceType::kCUDA || !tensor.is_contiguous() || tensor.data == nullptr) {
    throw Error(ErrorKind::kInvalidArgument, std::string("fill_normal_on_device: ") + what +
                                                 ": expected a contiguous CUDA tensor, got " +
                                                 tensor.describe());
  }
  const uint64_t count = static_cast<uint64_t>(tensor.numel());
  const uint64_t key = random_stream_key(seed, tensor_id);
  const int per_vector = bf16 ? 8 : 4;
  const bool aligned = reinterpret_cast<uintptr_t>(tensor.data) % 16 == 0;
  const uint64_t vectors = aligned ? count / per_vector : 0;
  if (vectors > 0) {
    if (bf16) {
      fill_vectors_kernel<8><<<fill_grid(vectors), kThreads, 0, stream>>>(tensor.data, vectors, key,
                                                                          stddev);
    } else {
      fill_vectors_kernel<4><<<fill_grid(vectors), kThreads, 0, stream>>>(tensor.data, vectors, key,
                                                                          stddev);
    }
    check_cuda_launch("fill_vectors_kernel");
  }
  const uint64_t first = vectors * per_vector;
  const uint64_t tail = count - first;
  if (tail > 0) {
    const unsigned blocks = static_cast<unsigned>((tail + kThreads - 1) / kThreads);
    fill_tail_kernel<<<blocks, kThreads, 0, stream>>>(tensor.data, bf16, first, tail, key, stddev);
    check_cuda_launch("fill_tail_kernel");
  }
}

}  // namespace fusedmoe::tools
