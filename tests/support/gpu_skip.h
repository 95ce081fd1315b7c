// GPU tests skip, saying why, when no sm_90 device is visible (the CPU-only CI machine).
#pragma once

#include <gtest/gtest.h>

#include "fusedmoe/moe.h"

#define FUSEDMOE_REQUIRE_SM90()                                                          \
  do {                                                                                   \
    const ::fusedmoe::DeviceInfo fusedmoe_device_info_ = ::fusedmoe::cuda_device_info(0); \
    if (!fusedmoe_device_info_.available) {                                              \
      GTEST_SKIP() << "GPU test skipped: " << fusedmoe_device_info_.reason;              \
    }                                                                                    \
  } while (0)
