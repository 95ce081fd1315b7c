// What `fusedmoe bench` measures: the layer shapes (a preset at a tensor-parallel degree), the
// token counts and the entry point, parsed from the command line's values. Kept apart from the
// command so the CPU tests check the parsing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fusedmoe::tools {

struct BenchShape {
  std::string model;  // preset name
  int32_t tp = 1;     // tensor-parallel degree: each expert holds I / tp
  // "deepseek-v3", or "deepseek-v3@tp8" when tp > 1: how the table and the CSV name the shape.
  std::string label() const;
};

// The five shapes of the Triton peer (../shared/peers/triton_moe.py PRESETS), in its order:
// deepseek-v3, deepseek-v3@tp8, qwen3-30b-a3b, mixtral-8x7b, minimax-m2.
std::vector<BenchShape> default_bench_shapes();

// "--model a,b@tp8": comma-separated presets, each optionally "@tpN"; a name without "@tp" takes
// `default_tp` (--tp). Every shape is checked against its preset (I divisible by tp). Throws
// UsageError naming --model (or --tp) for an unknown preset, a bad "@tp" suffix, an empty list
// or entry, or a repeated shape.
std::vector<BenchShape> parse_bench_shapes(const std::string& list, int32_t default_tp);

// "--tokens 1,8,64": comma-separated token counts in [1, 1 << 20], no repeats, kept in order.
// Throws UsageError naming --tokens.
std::vector<int32_t> parse_token_list(const std::string& list);

// The token counts of the benchmark: 1, 8, 64, 256, 1024, 4096, 16384.
std::vector<int32_t> default_bench_tokens();

enum class BenchEntry {
  kRouted,  // moe_routed: given top-k ids and weights (the peer's scope, plus our dispatch)
  kFused,   // moe_fused: router logits in, the preset's own routing included
};

// "routed" | "fused"; throws UsageError naming --entry.
BenchEntry parse_bench_entry(const std::string& name);
const char* bench_entry_name(BenchEntry entry);

}  // namespace fusedmoe::tools
