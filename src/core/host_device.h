// FUSEDMOE_HOST_DEVICE: a function both host code and CUDA kernels call (plain inline in a
// translation unit that nvcc does not compile).
#pragma once

#if defined(__CUDACC__)
#define FUSEDMOE_HOST_DEVICE __host__ __device__
#else
#define FUSEDMOE_HOST_DEVICE
#endif
