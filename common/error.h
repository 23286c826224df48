// The one error model of Custos: a typed exception whose message is a single
// line a person can act on ("opening the database: file is not a database").
//
//   throw custos::Error("reading the PIN file " + path + ": it is readable by group or other");
//
// Layers add context as the error travels up with `with_context`, so the
// message names the step that failed and the cause.
#pragma once

#include <stdexcept>
#include <string>

namespace custos {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A command line that cannot be acted upon (exit status 2 at the CLI).
class UsageError : public Error {
 public:
  using Error::Error;
};

// Prefixes the message of the current exception with `step` and rethrows it
// as a custos::Error, keeping its type for the known subclasses.
[[noreturn]] void rethrow_with_context(const std::string& step);

}  // namespace custos
