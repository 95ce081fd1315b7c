// Activation functions against hand-computed values, clamping, and NaN propagation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "reference/activation.h"

namespace fusedmoe::reference {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(ReferenceActivation, SwiGLUIsSiluOfGateTimesUp) {
  ActivationParams params;
  EXPECT_NEAR(gated_activation(Activation::kSwiGLU, params, 2.0, 3.0), 5.28478247, 1e-7);  // 2 * sigmoid(2) * 3
  EXPECT_NEAR(gated_activation(Activation::kSwiGLU, params, -1.0, 2.0), -0.53788284, 1e-7);
}

TEST(ReferenceActivation, SwiGLUClampsWhenALimitIsGiven) {
  ActivationParams params;
  params.clamp_limit = 1.0f;
  // gate 2 -> 1, up 3 -> 1: silu(1) * 1
  EXPECT_NEAR(gated_activation(Activation::kSwiGLU, params, 2.0, 3.0), 0.73105858, 1e-7);
  // Gate is only clamped from above: silu(-5) * clamp(-3) = -0.03346425 * -1
  EXPECT_NEAR(gated_activation(Activation::kSwiGLU, params, -5.0, -3.0), 0.03346425, 1e-7);
}

TEST(ReferenceActivation, SwiGLUOAIClampsAndAddsBetaToUp) {
  ActivationParams params;  // alpha 1.702, beta 1
  params.clamp_limit = 7.0f;
  // gate 10 -> 7, up -9 -> -7: (-7 + 1) * 7 * sigmoid(1.702 * 7) = -42 * 0.99999331
  EXPECT_NEAR(gated_activation(Activation::kSwiGLUOAI, params, 10.0, -9.0), -41.9997188, 1e-6);
  // gate 1, up 0.5: 1.5 * 1 * sigmoid(1.702) = 1.5 * 0.84579577
  EXPECT_NEAR(gated_activation(Activation::kSwiGLUOAI, params, 1.0, 0.5), 1.26869365, 1e-7);
}

TEST(ReferenceActivation, GeGLUTanhIsGeluTanhOfGateTimesUp) {
  ActivationParams params;
  EXPECT_NEAR(gated_activation(Activation::kGeGLUTanh, params, 1.0, 2.0), 1.68238398, 1e-7);  // 2 * 0.841192
  EXPECT_NEAR(plain_activation(Activation::kGeLUTanh, -1.0), -0.15880801, 1e-7);
}

TEST(ReferenceActivation, NonGatedActivations) {
  EXPECT_EQ(plain_activation(Activation::kReLU2, 3.0), 9.0);
  EXPECT_EQ(plain_activation(Activation::kReLU2, -3.0), 0.0);
  EXPECT_NEAR(plain_activation(Activation::kSiLU, 1.0), 0.73105858, 1e-7);
}

TEST(ReferenceActivation, NaNPropagatesThroughEveryActivationAndClamp) {
  ActivationParams params;
  params.clamp_limit = 7.0f;
  for (Activation a : {Activation::kSwiGLU, Activation::kSwiGLUOAI, Activation::kGeGLUTanh}) {
    EXPECT_TRUE(std::isnan(gated_activation(a, params, kNaN, 1.0))) << activation_name(a);
    EXPECT_TRUE(std::isnan(gated_activation(a, params, 1.0, kNaN))) << activation_name(a);
  }
  for (Activation a : {Activation::kReLU2, Activation::kSiLU, Activation::kGeLUTanh}) {
    EXPECT_TRUE(std::isnan(plain_activation(a, kNaN))) << activation_name(a);
  }
}

}  // namespace
}  // namespace fusedmoe::reference
