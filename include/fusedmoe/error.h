// fusedmoe errors. Every user error is reported before any work is launched, as a fusedmoe::Error
// whose message names the argument, what was expected and what was given:
//   "fusedmoe: argument 'topk_ids': expected dtype int32 or int16, got float32"
#pragma once

#include <stdexcept>
#include <string>

namespace fusedmoe {

enum class ErrorKind : int32_t {
  kInvalidArgument = 0,  // a shape, dtype, stride, alignment, pointer or config value is wrong
  kUnsupported = 1,      // valid request that this build / backend / device cannot run
  kCuda = 2,             // a CUDA runtime call failed
  kInternal = 3,         // a broken invariant inside fusedmoe (a bug: please report it)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message);
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace fusedmoe
