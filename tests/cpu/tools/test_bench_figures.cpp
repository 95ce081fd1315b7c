// The arithmetic of a `fusedmoe bench` row: the Triton peer's byte and FLOP counts, the floor,
// % of floor, TF/s, TB/s, and how many input sets rotate.
#include <gtest/gtest.h>

#include "common/bench_figures.h"
#include "common/presets.h"
#include "common/weight_formats.h"
#include "fusedmoe/error.h"

namespace fusedmoe::tools {
namespace {

MoeConfig preset_config(const char* name, int32_t tp) {
  Parallelism parallelism;
  parallelism.tp = tp;
  LayerSpec spec = slice_preset(find_preset(name), parallelism);
  apply_weight_format(spec.moe, WeightFormat::kBF16);
  return spec.moe;
}

// The peer's formula, written out as triton_moe.py spells it.
double peer_floor_seconds(double hit, double m, double topk, double h, double i, double bw,
                          double rate) {
  const double memory = (hit * 3 * h * i * 2 + m * h * 4) / bw;
  const double compute = 6 * m * topk * h * i / rate;
  return memory > compute ? memory : compute;
}

TEST(BenchFiguresTest, MatchesThePeersFloorOnPresetShapes) {
  Ceilings ceilings;
  ceilings.read_bytes_per_second = 3.1e12;
  ceilings.bf16_flops_per_second = 790e12;
  struct Case {
    const char* model;
    int32_t tp;
    double hit;
    int64_t tokens;
  };
  for (const Case& c : {Case{"deepseek-v3", 1, 8, 1}, Case{"deepseek-v3", 8, 256, 16384},
                        Case{"qwen3-30b-a3b", 1, 128, 4096}, Case{"mixtral-8x7b", 1, 2, 1},
                        Case{"minimax-m2", 1, 255.5, 1024}}) {
    SCOPED_TRACE(c.model);
    const MoeConfig moe = preset_config(c.model, c.tp);
    const BenchFigures figures = bench_figures(bench_cost(moe, c.hit, c.tokens), ceilings, 1e-3);
    const double expected = peer_floor_seconds(c.hit, c.tokens, moe.top_k, moe.hidden_size,
                                               moe.intermediate_size, 3.1e12, 790e12);
    EXPECT_NEAR(figures.floor_seconds, expected, expected * 1e-12);
  }
}

TEST(BenchFiguresTest, HandCase) {
  MoeConfig moe;
  moe.hidden_size = 4;
  moe.intermediate_size = 2;
  moe.num_experts = 8;
  moe.top_k = 2;
  moe.activation = Activation::kSwiGLU;
  const BenchCost cost = bench_cost(moe, 3, 5);
  EXPECT_DOUBLE_EQ(cost.bytes, 3 * 3 * 4 * 2 * 2 + 5 * 4 * 4);  // 144 + 80
  EXPECT_DOUBLE_EQ(cost.flops, 2 * 3 * 5 * 2 * 4 * 2);          // 480

  Ceilings ceilings;
  ceilings.read_bytes_per_second = 100.0;  // memory term 2.24 s
  ceilings.bf16_flops_per_second = 400.0;  // compute term 1.2 s
  const BenchFigures memory_bound = bench_figures(cost, ceilings, 4.48);
  EXPECT_TRUE(memory_bound.memory_bound);
  EXPECT_DOUBLE_EQ(memory_bound.floor_seconds, 2.24);
  EXPECT_DOUBLE_EQ(memory_bound.percent_of_floor, 50.0);
  EXPECT_DOUBLE_EQ(memory_bound.tflops, 480 / 4.48 * 1e-12);
  EXPECT_DOUBLE_EQ(memory_bound.tbytes, 224 / 4.48 * 1e-12);

  ceilings.bf16_flops_per_second = 100.0;  // compute term 4.8 s
  const BenchFigures compute_bound = bench_figures(cost, ceilings, 6.0);
  EXPECT_FALSE(compute_bound.memory_bound);
  EXPECT_DOUBLE_EQ(compute_bound.floor_seconds, 4.8);
  EXPECT_DOUBLE_EQ(compute_bound.percent_of_floor, 80.0);
}

TEST(BenchFiguresTest, NonGatedCountsTwoMatrices) {
  const MoeConfig moe = preset_config("nemotron-3-nano", 1);  // relu2
  const BenchCost cost = bench_cost(moe, 6, 1);
  const double h = moe.hidden_size;
  const double i = moe.intermediate_size;
  EXPECT_DOUBLE_EQ(cost.bytes, 6 * 2 * h * i * 2 + 1 * h * 4);
  EXPECT_DOUBLE_EQ(cost.flops, 4 * 1 * moe.top_k * h * i);
}

TEST(BenchFiguresTest, RejectsNonPositiveInputs) {
  Ceilings ceilings;
  ceilings.read_bytes_per_second = 1.0;
  ceilings.bf16_flops_per_second = 1.0;
  const BenchCost cost{1.0, 1.0};
  EXPECT_THROW(bench_figures(cost, ceilings, 0.0), Error);
  ceilings.read_bytes_per_second = 0.0;
  try {
    bench_figures(cost, ceilings, 1.0);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("read_bytes_per_second"), std::string::npos);
  }
}

TEST(BenchFiguresTest, RotationSets) {
  const double l2 = 50e6;
  // 75 MB touched per call: 200 MB / 75 MB -> 3 sets.
  EXPECT_EQ(bench_rotation_sets(75e6, l2, 1e3, 1e12, 8), 3);
  // Far beyond L2: one set.
  EXPECT_EQ(bench_rotation_sets(22e9, l2, 1e3, 1e12, 8), 1);
  // Tiny working set: capped by max_sets, then by memory.
  EXPECT_EQ(bench_rotation_sets(1e6, l2, 1e3, 1e12, 8), 8);
  EXPECT_EQ(bench_rotation_sets(1e6, l2, 1e9, 5.5e9, 8), 5);
  // No memory to spare still runs one set; --rotate 1 is one set.
  EXPECT_EQ(bench_rotation_sets(1e6, l2, 1e9, -1e9, 8), 1);
  EXPECT_EQ(bench_rotation_sets(1e6, l2, 1e3, 1e12, 1), 1);
}

}  // namespace
}  // namespace fusedmoe::tools
