// Errors inside the interpreter. The lexer, parser and evaluator raise JinjaError deep inside
// recursive code; Template::compile and Template::render catch it and return a Result, so no
// exception ever leaves the jinja module.
#pragma once

#include <stdexcept>
#include <string>

namespace kiln::jinja {

class JinjaError : public std::runtime_error {
 public:
  explicit JinjaError(const std::string& message) : std::runtime_error(message) {}
};

// raise_exception() from a template: its message goes to the user unchanged, with no position.
class RaisedError : public JinjaError {
 public:
  explicit RaisedError(const std::string& message) : JinjaError(message) {}
};

[[noreturn]] inline void fail(const std::string& message) { throw JinjaError(message); }

}  // namespace kiln::jinja
