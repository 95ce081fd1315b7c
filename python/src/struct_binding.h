// Binds a plain C++ config struct as a Python class with keyword construction and a readable
// repr: MoeConfig(hidden_size=4096, top_k=8) -> "MoeConfig(hidden_size=4096, ..., top_k=8, ...)".
// Unknown keywords raise TypeError, like a Python dataclass.
#pragma once

#include <nanobind/nanobind.h>

#include <string>
#include <vector>

namespace fusedmoe::python {

namespace nb = nanobind;

template <typename T>
class StructBinding {
 public:
  StructBinding(nb::module_& m, const char* name, const char* doc) : cls_(m, name, doc) {
    cls_.def(nb::init<>());
  }

  template <typename Member>
  StructBinding& field(const char* name, Member T::*member, const char* doc) {
    cls_.def_rw(name, member, doc);
    fields().push_back(name);
    return *this;
  }

  // Adds the keyword constructor and the repr once every field is declared.
  nb::class_<T>& done() {
    cls_.def(
        "__init__",
        [](nb::pointer_and_handle<T> self, nb::kwargs kwargs) {
          // Fields are set on a finished temporary: the instance under construction is not
          // usable from Python until __init__ returns.
          nb::object scratch = nb::cast(T{});
          for (auto [key, value] : kwargs) {
            const std::string name = nb::cast<std::string>(key);
            if (!has_field(name)) {
              throw nb::type_error(
                  (type_name() + "() got an unexpected keyword argument '" + name + "'").c_str());
            }
            nb::setattr(scratch, key, value);
          }
          new (self.p) T(nb::cast<const T&>(scratch));
        },
        "Keyword construction; unnamed fields keep their C++ defaults.");
    cls_.def("__repr__", [](nb::handle self) {
      std::string text = type_name() + "(";
      const char* separator = "";
      for (const char* name : fields()) {
        text += separator;
        text += name;
        text += "=";
        text += nb::repr(nb::getattr(self, name)).c_str();
        separator = ", ";
      }
      return text + ")";
    });
    return cls_;
  }

 private:
  static std::vector<const char*>& fields() {
    static std::vector<const char*> names;
    return names;
  }
  static bool has_field(const std::string& name) {
    for (const char* field : fields()) {
      if (name == field) return true;
    }
    return false;
  }
  static std::string type_name() {
    return nb::cast<std::string>(nb::getattr(nb::type<T>(), "__name__"));
  }

  nb::class_<T> cls_;
};

}  // namespace fusedmoe::python
