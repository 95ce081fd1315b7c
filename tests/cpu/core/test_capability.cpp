// query_support: invalid configurations give the validation message, the CPU reference runs every
// valid configuration, and cuda-sm90 answers with the device's or the build's reason.
#include <gtest/gtest.h>

#include "core/cuda_backend.h"
#include "test_validation_helpers.h"

namespace fusedmoe::testing {
namespace {

constexpr EntryPoint kAllEntryPoints[] = {
    EntryPoint::kRoute, EntryPoint::kDispatch, EntryPoint::kExperts, EntryPoint::kCombine,
    EntryPoint::kFused, EntryPoint::kRouted,   EntryPoint::kPrepare};

TEST(Capability, CpuReferenceSupportsEveryEntryPointOfAValidConfig) {
  for (EntryPoint entry : kAllEntryPoints) {
    const Support support = query_support(small_moe(), {}, Backend::kCpuReference, entry);
    EXPECT_TRUE(support.supported) << entry_point_name(entry) << ": " << support.reason;
    EXPECT_TRUE(support.reason.empty());
  }
}

TEST(Capability, InvalidConfigIsUnsupportedWithTheValidationMessage) {
  MoeConfig moe = small_moe();
  moe.top_k = 9;
  for (Backend backend : {Backend::kCpuReference, Backend::kCudaSm90}) {
    const Support support = query_support(moe, {}, backend, EntryPoint::kFused);
    EXPECT_FALSE(support.supported);
    EXPECT_NE(support.reason.find("'moe.top_k'"), std::string::npos) << support.reason;
    EXPECT_NE(support.reason.find("got 9"), std::string::npos) << support.reason;
  }
}

TEST(Capability, InvalidRoutingIsUnsupportedWithTheValidationMessage) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kSigmoidGroupedTopK;
  routing.n_group = 3;
  const Support support =
      query_support(small_moe(), routing, Backend::kCpuReference, EntryPoint::kRoute);
  EXPECT_FALSE(support.supported);
  EXPECT_NE(support.reason.find("'routing.n_group'"), std::string::npos) << support.reason;
}

TEST(Capability, UnknownEntryPointAndBackendAreUnsupported) {
  const Support entry =
      query_support(small_moe(), {}, Backend::kCpuReference, static_cast<EntryPoint>(12));
  EXPECT_FALSE(entry.supported);
  EXPECT_NE(entry.reason.find("'entry'"), std::string::npos) << entry.reason;
  const Support backend =
      query_support(small_moe(), {}, static_cast<Backend>(4), EntryPoint::kFused);
  EXPECT_FALSE(backend.supported);
  EXPECT_NE(backend.reason.find("'backend'"), std::string::npos) << backend.reason;
}

// Without a usable GPU the answer is the device's reason; with one, the build's kernel list.
TEST(Capability, CudaAnswerFollowsDeviceThenKernels) {
  const DeviceInfo device = cuda_device_info(0);
  for (EntryPoint entry : kAllEntryPoints) {
    const Support support = query_support(small_moe(), {}, Backend::kCudaSm90, entry);
    if (!device.available) {
      EXPECT_FALSE(support.supported);
      EXPECT_EQ(support.reason, device.reason);
      continue;
    }
    const Support kernels = cuda::supports(small_moe(), {}, entry);
    EXPECT_EQ(support.supported, kernels.supported) << entry_point_name(entry);
    if (support.supported) {
      EXPECT_TRUE(support.reason.empty());
    } else {
      EXPECT_FALSE(support.reason.empty());
    }
  }
}

}  // namespace
}  // namespace fusedmoe::testing
