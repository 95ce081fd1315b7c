// fusedmoe._C: the nanobind extension. The `fusedmoe` Python package wraps it; nothing here
// allocates tensors or picks streams (python/fusedmoe does, with the caller's array library).
#include "bindings.h"
#include "errors.h"

NB_MODULE(_C, m) {
  m.doc() =
      "fusedmoe C++ API (include/fusedmoe/moe.h) over DLPack tensors; use the fusedmoe package";
  fusedmoe::python::bind_enums(m);
  fusedmoe::python::bind_errors(m);
  fusedmoe::python::bind_configs(m);
  fusedmoe::python::bind_entry_points(m);
}
