// Renders a parsed template: statements write to the output, expressions compute Values. Scoping
// follows jinja2: each loop iteration and macro call is a new scope, `if` is not; assignments in
// a loop body are not seen after it (that is what namespace() is for).
#pragma once

#include <string>

#include "jinja/ast.h"
#include "jinja/value.h"

namespace kiln::jinja {

struct RenderLimits {
  int64_t max_steps = 10'000'000;       // statements run plus loop iterations
  size_t max_output_bytes = 64u << 20;  // the rendered text
  int max_call_depth = 100;             // nested macro calls
};

// Throws JinjaError; raise_exception() throws RaisedError.
std::string render_body(const Body& body, const ValueDict& context, const RenderLimits& limits);

}  // namespace kiln::jinja
