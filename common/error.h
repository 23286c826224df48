// The one error model of Custos: a typed exception whose message is a single
// line a person can act on ("opening the database: file is not a database").
//
//   throw custos::Error("reading the PIN file " + path + ": it is readable by group or other");
//
// Layers add context as the error travels up with `with_context`, so the
// message names the step that failed and the cause.
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace custos {

class Error : public std::exception {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

  // Throws a copy of this error, of its own type and with its own fields
  // (a PKCS#11 return value, a SQLite code, the role a caller lacked), its
  // message prefixed with "step: ". Every subclass declares
  // CUSTOS_ERROR_TYPE(itself), so that context never turns it into a plain
  // Error.
  [[noreturn]] virtual void rethrow_in(const std::string& step) const { rethrow_copy_in(*this, step); }

 protected:
  template <typename Type>
  [[noreturn]] static void rethrow_copy_in(const Type& error, const std::string& step) {
    Type copy(error);
    static_cast<Error&>(copy).message_ = step + ": " + static_cast<const Error&>(error).message_;
    throw copy;
  }

 private:
  std::string message_;
};

// In every subclass of Error: rethrow_in keeps the subclass.
#define CUSTOS_ERROR_TYPE(Type)                                              \
  [[noreturn]] void rethrow_in(const std::string& step) const override { \
    rethrow_copy_in(*this, step);                                            \
  }

// A command line that cannot be acted upon (exit status 2 at the CLI).
class UsageError : public Error {
 public:
  using Error::Error;
  CUSTOS_ERROR_TYPE(UsageError)
};

// Prefixes the message of the current exception with `step` and rethrows
// it: a custos::Error keeps its type and fields (Error::rethrow_in), any
// other exception becomes a custos::Error.
[[noreturn]] void rethrow_with_context(const std::string& step);

}  // namespace custos
