#include "common/device_memory.h"

#include <cuda_runtime_api.h>

#include <utility>

#include "fusedmoe/error.h"

namespace fusedmoe::tools {

namespace {

void check_cuda(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  throw Error(ErrorKind::kCuda, std::string("fusedmoe tool: ") + call + " failed: " +
                                    cudaGetErrorString(status));
}

size_t view_bytes(const TensorView& view) {
  return static_cast<size_t>(view.numel()) * dtype_size(view.dtype);
}

}  // namespace

DeviceBuffer::DeviceBuffer(size_t bytes, int device) : bytes_(bytes) {
  if (bytes == 0) return;
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  check_cuda(cudaMalloc(&data_, bytes), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::release() {
  if (data_ != nullptr) cudaFree(data_);
  data_ = nullptr;
  bytes_ = 0;
}

TensorView DeviceTensors::upload(const TensorView& host) {
  if (!host.defined()) return host;
  TensorView device_view = host;
  buffers_.emplace_back(view_bytes(host), device_);
  device_view.data = buffers_.back().data();
  device_view.device = cuda_device(device_);
  check_cuda(cudaMemcpy(device_view.data, host.data, view_bytes(host), cudaMemcpyHostToDevice),
             "cudaMemcpy (host to device)");
  return device_view;
}

TensorView DeviceTensors::allocate(DType dtype, std::initializer_list<int64_t> shape) {
  TensorView view = make_view(nullptr, dtype, shape, cuda_device(device_));
  buffers_.emplace_back(view_bytes(view), device_);
  view.data = buffers_.back().data();
  return view;
}

ExpertWeights DeviceTensors::upload(const ExpertWeights& host) {
  ExpertWeights device_weights = host;
  device_weights.w13 = upload(host.w13);
  device_weights.w2 = upload(host.w2);
  device_weights.w13_scale = upload(host.w13_scale);
  device_weights.w2_scale = upload(host.w2_scale);
  device_weights.w13_global_scale = upload(host.w13_global_scale);
  device_weights.w2_global_scale = upload(host.w2_global_scale);
  device_weights.w13_bias = upload(host.w13_bias);
  device_weights.w2_bias = upload(host.w2_bias);
  device_weights.a1_scale = upload(host.a1_scale);
  device_weights.a2_scale = upload(host.a2_scale);
  return device_weights;
}

void* DeviceTensors::scratch(size_t bytes) {
  buffers_.emplace_back(bytes, device_);
  return buffers_.back().data();
}

void copy_to_host(const TensorView& device_view, void* host) {
  check_cuda(cudaMemcpy(host, device_view.data, view_bytes(device_view), cudaMemcpyDeviceToHost),
             "cudaMemcpy (device to host)");
}

}  // namespace fusedmoe::tools
