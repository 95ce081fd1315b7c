#include "errors.h"

#include <exception>

#include "fusedmoe/error.h"

namespace fusedmoe::python {
namespace nb = nanobind;
namespace {

// Created once when the module loads; the module keeps them alive for the interpreter's life.
PyObject* g_classes[4] = {nullptr, nullptr, nullptr, nullptr};  // indexed by ErrorKind

PyObject* new_class(nb::module_& m, const char* name, nb::handle bases, ErrorKind kind,
                    const char* doc) {
  nb::dict attrs;
  attrs["kind"] = nb::cast(kind);
  attrs["__doc__"] = nb::str(doc);
  const std::string qualified = std::string("fusedmoe.") + name;
  PyObject* cls = PyErr_NewException(qualified.c_str(), bases.ptr(), attrs.ptr());
  if (cls == nullptr) throw nb::python_error();
  m.attr(name) = nb::handle(cls);
  return cls;
}

}  // namespace

void bind_errors(nb::module_& m) {
  nb::dict base_attrs;
  base_attrs["__doc__"] = nb::str(
      "A fusedmoe::Error: the message names the argument, what was expected and what was given.");
  PyObject* base =
      PyErr_NewException("fusedmoe.FusedMoeError", PyExc_RuntimeError, base_attrs.ptr());
  if (base == nullptr) throw nb::python_error();
  m.attr("FusedMoeError") = nb::handle(base);

  nb::tuple invalid_bases = nb::make_tuple(nb::handle(base), nb::handle(PyExc_ValueError));
  g_classes[static_cast<int>(ErrorKind::kInvalidArgument)] =
      new_class(m, "InvalidArgumentError", invalid_bases, ErrorKind::kInvalidArgument,
                "A shape, dtype, stride, alignment, pointer or config value is wrong.");
  g_classes[static_cast<int>(ErrorKind::kUnsupported)] =
      new_class(m, "UnsupportedError", nb::handle(base), ErrorKind::kUnsupported,
                "A valid request that this build, backend or device cannot run.");
  g_classes[static_cast<int>(ErrorKind::kCuda)] =
      new_class(m, "CudaError", nb::handle(base), ErrorKind::kCuda, "A CUDA runtime call failed.");
  g_classes[static_cast<int>(ErrorKind::kInternal)] =
      new_class(m, "InternalError", nb::handle(base), ErrorKind::kInternal,
                "A broken invariant inside fusedmoe (a bug: please report it).");

  nb::register_exception_translator(
      [](const std::exception_ptr& error, void* base_class) {
        try {
          std::rethrow_exception(error);
        } catch (const Error& e) {
          const int kind = static_cast<int>(e.kind());
          PyObject* cls =
              (kind >= 0 && kind < 4) ? g_classes[kind] : static_cast<PyObject*>(base_class);
          PyErr_SetString(cls, e.what());
        }
      },
      base);
}

}  // namespace fusedmoe::python
