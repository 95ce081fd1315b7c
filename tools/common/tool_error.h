// The error the toolkit throws for a bad request from the user (an unknown model, a --tp that does
// not divide the expert size, ...). The command line prints its message and exits with status 2;
// library failures stay fusedmoe::Error.
#pragma once

#include <stdexcept>
#include <string>

namespace fusedmoe::tools {

class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace fusedmoe::tools
