#include "cli/options.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common/tool_error.h"

namespace fusedmoe::cli {

namespace {

bool listed(std::initializer_list<const char*> names, const std::string& name) {
  return std::any_of(names.begin(), names.end(), [&](const char* known) { return name == known; });
}

}  // namespace

Options::Options(const std::vector<std::string>& args,
                 std::initializer_list<const char*> value_options,
                 std::initializer_list<const char*> flag_options) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) {
      throw tools::UsageError("unexpected argument '" + arg + "'");
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_inline_value = false;
    const size_t equals = name.find('=');
    if (equals != std::string::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
      has_inline_value = true;
    }
    if (listed(flag_options, name)) {
      if (has_inline_value) throw tools::UsageError("--" + name + " takes no value");
      value = "1";
    } else if (listed(value_options, name)) {
      if (!has_inline_value) {
        if (i + 1 >= args.size()) throw tools::UsageError("--" + name + " needs a value");
        value = args[++i];
      }
    } else {
      throw tools::UsageError("unknown option '--" + name + "'");
    }
    if (values_.count(name) != 0) throw tools::UsageError("--" + name + " given twice");
    values_[name] = value;
  }
}

bool Options::has(const std::string& name) const { return values_.count(name) != 0; }

std::string Options::get(const std::string& name, const std::string& fallback) const {
  const auto found = values_.find(name);
  return found == values_.end() ? fallback : found->second;
}

std::string Options::required(const std::string& name) const {
  const auto found = values_.find(name);
  if (found == values_.end()) throw tools::UsageError("missing --" + name);
  return found->second;
}

int64_t Options::get_int(const std::string& name, int64_t fallback, int64_t minimum,
                         int64_t maximum) const {
  const auto found = values_.find(name);
  if (found == values_.end()) return fallback;
  const std::string& text = found->second;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  const bool parsed = !text.empty() && end != nullptr && *end == '\0' && errno == 0;
  if (!parsed || value < minimum || value > maximum) {
    throw tools::UsageError("--" + name + " '" + text + "': expected an integer in [" +
                            std::to_string(minimum) + ", " + std::to_string(maximum) + "]");
  }
  return value;
}

uint64_t Options::get_seed(const std::string& name) const {
  const auto found = values_.find(name);
  if (found == values_.end()) return 0;
  const std::string& text = found->second;
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0) {
    throw tools::UsageError("--" + name + " '" + text + "': expected a non-negative integer");
  }
  return value;
}

}  // namespace fusedmoe::cli
