// Builds the statement tree of a template from its tokens (jinja2's grammar for the statements and
// expressions chat templates use). Unknown tags, filters and tests are errors at compile time, as
// in jinja2.
#pragma once

#include <vector>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace kiln::jinja {

// Throws JinjaError ("line L, column C: ...").
Body parse_template(const std::vector<Token>& tokens);

}  // namespace kiln::jinja
