// The pieces of the fusedmoe._C module, one function per source file.
#pragma once

#include <nanobind/nanobind.h>

#include "fusedmoe/fusedmoe.h"

namespace fusedmoe::python {

namespace nb = nanobind;

void bind_enums(nb::module_& m);         // bind_config.cpp
void bind_configs(nb::module_& m);       // bind_config.cpp
void bind_entry_points(nb::module_& m);  // bind_entry.cpp

}  // namespace fusedmoe::python
