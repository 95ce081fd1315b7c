// `fusedmoe bench` option values: shape lists with "@tpN", token lists, the entry name, and the
// errors that name the option.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/bench_shapes.h"
#include "common/tool_error.h"
#include "usage_message.h"

namespace fusedmoe::tools {
namespace {

TEST(BenchShapesTest, DefaultsAreThePeersFiveShapes) {
  const std::vector<BenchShape> shapes = default_bench_shapes();
  std::vector<std::string> labels;
  for (const BenchShape& shape : shapes) labels.push_back(shape.label());
  EXPECT_EQ(labels, (std::vector<std::string>{"deepseek-v3", "deepseek-v3@tp8", "qwen3-30b-a3b",
                                              "mixtral-8x7b", "minimax-m2"}));
  EXPECT_EQ(default_bench_tokens(), (std::vector<int32_t>{1, 8, 64, 256, 1024, 4096, 16384}));
}

TEST(BenchShapesTest, ParsesNamesWithAndWithoutTpSuffix) {
  const std::vector<BenchShape> shapes =
      parse_bench_shapes("deepseek-v3,deepseek-v3@tp8,qwen3-30b-a3b@tp1", 2);
  ASSERT_EQ(shapes.size(), 3u);
  EXPECT_EQ(shapes[0].model, "deepseek-v3");
  EXPECT_EQ(shapes[0].tp, 2);  // --tp applies to names without a suffix
  EXPECT_EQ(shapes[1].tp, 8);
  EXPECT_EQ(shapes[1].label(), "deepseek-v3@tp8");
  EXPECT_EQ(shapes[2].tp, 1);
  EXPECT_EQ(shapes[2].label(), "qwen3-30b-a3b");
}

TEST(BenchShapesTest, BadShapesNameTheOption) {
  EXPECT_NE(usage_message([] { parse_bench_shapes("nope", 1); }).find("--model 'nope'"),
            std::string::npos);
  EXPECT_NE(usage_message([] { parse_bench_shapes("deepseek-v3@tp", 1); }).find("NAME@tpN"),
            std::string::npos);
  EXPECT_NE(usage_message([] { parse_bench_shapes("deepseek-v3@pp2", 1); }).find("NAME@tpN"),
            std::string::npos);
  EXPECT_NE(usage_message([] { parse_bench_shapes("deepseek-v3@tp-1", 1); }).find("NAME@tpN"),
            std::string::npos);
  const std::string indivisible = usage_message([] { parse_bench_shapes("deepseek-v3@tp7", 1); });
  EXPECT_NE(indivisible.find("--model 'deepseek-v3@tp7'"), std::string::npos) << indivisible;
  EXPECT_NE(indivisible.find("not divisible by 7"), std::string::npos) << indivisible;
  EXPECT_NE(usage_message([] { parse_bench_shapes("mixtral-8x7b,,minimax-m2", 1); }).find("empty"),
            std::string::npos);
  EXPECT_NE(usage_message([] { parse_bench_shapes("", 1); }).find("--model"), std::string::npos);
  EXPECT_NE(usage_message([] { parse_bench_shapes("deepseek-v3@tp8,deepseek-v3", 8); })
                .find("given twice"),
            std::string::npos);
}

TEST(BenchShapesTest, ParsesTokenLists) {
  EXPECT_EQ(parse_token_list("1,64,1024,16384"), (std::vector<int32_t>{1, 64, 1024, 16384}));
  EXPECT_EQ(parse_token_list("7"), (std::vector<int32_t>{7}));
  for (const char* bad : {"0", "-1", "x", "1.5", "1,", ",1", "2097152", " 1"}) {
    SCOPED_TRACE(bad);
    EXPECT_NE(usage_message([bad] { parse_token_list(bad); }).find("--tokens"), std::string::npos);
  }
  EXPECT_NE(usage_message([] { parse_token_list("8,8"); }).find("given twice"), std::string::npos);
}

TEST(BenchShapesTest, ParsesEntry) {
  EXPECT_EQ(parse_bench_entry("routed"), BenchEntry::kRouted);
  EXPECT_EQ(parse_bench_entry("fused"), BenchEntry::kFused);
  EXPECT_STREQ(bench_entry_name(BenchEntry::kRouted), "routed");
  EXPECT_STREQ(bench_entry_name(BenchEntry::kFused), "fused");
  EXPECT_NE(usage_message([] { parse_bench_entry("modular"); }).find("--entry 'modular'"),
            std::string::npos);
}

}  // namespace
}  // namespace fusedmoe::tools
