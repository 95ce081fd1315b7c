// Command-line options of one subcommand: "--name value", "--name=value" and boolean flags.
// Anything unknown, repeated, or missing its value is a UsageError naming the option.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace fusedmoe::cli {

class Options {
 public:
  Options(const std::vector<std::string>& args, std::initializer_list<const char*> value_options,
          std::initializer_list<const char*> flag_options);

  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback) const;
  std::string required(const std::string& name) const;
  // Integer in [minimum, maximum]; UsageError "--tokens 'x': expected an integer >= 1".
  int64_t get_int(const std::string& name, int64_t fallback, int64_t minimum, int64_t maximum) const;
  uint64_t get_seed(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace fusedmoe::cli
