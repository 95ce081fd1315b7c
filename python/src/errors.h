// fusedmoe::Error -> Python exceptions carrying the same message:
//   FusedMoeError(RuntimeError)                    base of all, with a class attribute `kind`
//   InvalidArgumentError(FusedMoeError, ValueError) ErrorKind.INVALID_ARGUMENT
//   UnsupportedError(FusedMoeError)                 ErrorKind.UNSUPPORTED
//   CudaError(FusedMoeError)                        ErrorKind.CUDA
//   InternalError(FusedMoeError)                    ErrorKind.INTERNAL
// Invalid arguments are also ValueErrors, so code that catches ValueError for bad input works.
#pragma once

#include <nanobind/nanobind.h>

namespace fusedmoe::python {

// Needs the ErrorKind enum bound first (bind_enums).
void bind_errors(nanobind::module_& m);

}  // namespace fusedmoe::python
