// Routing files (tools/common/routing_file.h): the layout bench/peer_routing.py writes reads back
// as written, and a file of the wrong size or with an impossible id is refused, naming the file.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/routing_file.h"
#include "common/tool_error.h"
#include "usage_message.h"

namespace fusedmoe::tools {
namespace {

// Writes int32 ids then fp32 weights, as bench/peer_routing.py does.
std::string write_file(const std::string& name, const std::vector<int32_t>& ids, const std::vector<float>& weights) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * sizeof(int32_t)));
  file.write(reinterpret_cast<const char*>(weights.data()),
             static_cast<std::streamsize>(weights.size() * sizeof(float)));
  return path;
}

TEST(RoutingFileTest, PathNamesTheShapeLabelAndTokens) {
  EXPECT_EQ(routing_file_path("/tmp/r", "deepseek-v3@tp8", 8), "/tmp/r/deepseek-v3@tp8_M8.bin");
}

TEST(RoutingFileTest, IdsThenWeightsReadBackAsWritten) {
  const std::vector<int32_t> ids = {3, -1, 7, 0, 5, 5};
  const std::vector<float> weights = {0.5f, 0.0f, 0.25f, 1.0f, -0.125f, 0.375f};
  const std::string path = write_file("routing_ok.bin", ids, weights);
  const RoutedIds routed = read_routing_file(path, 3, 2, 8);
  EXPECT_EQ(routed.ids, ids);
  EXPECT_EQ(routed.weights, weights);
  std::remove(path.c_str());
}

TEST(RoutingFileTest, WrongSizeIsRefusedNamingFileAndBytes) {
  const std::string path = write_file("routing_short.bin", {1, 2, 3}, {0.1f, 0.2f, 0.3f});
  const std::string message = usage_message([&] { read_routing_file(path, 2, 2, 8); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("expected 32 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("got 24"), std::string::npos) << message;
  std::remove(path.c_str());
}

TEST(RoutingFileTest, IdOutsideTheExpertsIsRefused) {
  const std::string path = write_file("routing_bad_id.bin", {1, 8}, {0.5f, 0.5f});
  const std::string message = usage_message([&] { read_routing_file(path, 1, 2, 8); });
  EXPECT_NE(message.find("id 8 at slot 1 is outside [-1, 8)"), std::string::npos) << message;
  std::remove(path.c_str());
}

TEST(RoutingFileTest, MissingFileIsRefused) {
  const std::string message = usage_message([&] { read_routing_file("/nonexistent/r_M1.bin", 1, 1, 8); });
  EXPECT_NE(message.find("cannot be opened"), std::string::npos) << message;
}

}  // namespace
}  // namespace fusedmoe::tools
