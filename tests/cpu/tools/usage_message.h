// The message of the UsageError a toolkit call throws, for tests that check what it names.
#pragma once

#include <functional>
#include <string>

#include "common/tool_error.h"

namespace fusedmoe::tools {

inline std::string usage_message(const std::function<void()>& call) {
  try {
    call();
  } catch (const UsageError& error) {
    return error.what();
  }
  return "(no UsageError)";
}

}  // namespace fusedmoe::tools
