// A compiled Jinja template: parse once, render many times from any number of threads (the tree
// is immutable; each render has its own scopes and output).
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "jinja/ast.h"
#include "jinja/evaluator.h"
#include "jinja/lexer.h"
#include "jinja/value.h"

namespace kiln::jinja {

class Template {
 public:
  // Syntax errors, unknown tags/filters/tests: "line L, column C: ...".
  static Result<Template> compile(const std::string& source, const LexerOptions& options = {});

  // Errors name the template line; a raise_exception() message comes back unchanged.
  Result<std::string> render(const ValueDict& context, const RenderLimits& limits = {}) const;

 private:
  explicit Template(std::shared_ptr<const Body> body) : body_(std::move(body)) {}
  std::shared_ptr<const Body> body_;
};

}  // namespace kiln::jinja
