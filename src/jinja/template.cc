#include "jinja/template.h"

#include "jinja/error.h"
#include "jinja/parser.h"

namespace kiln::jinja {

Result<Template> Template::compile(const std::string& source, const LexerOptions& options) {
  try {
    auto body = std::make_shared<Body>(parse_template(tokenize(source, options)));
    return Template(std::move(body));
  } catch (const JinjaError& e) {
    return Status::error(std::string("template syntax error: ") + e.what());
  }
}

Result<std::string> Template::render(const ValueDict& context, const RenderLimits& limits) const {
  try {
    return render_body(*body_, context, limits);
  } catch (const RaisedError& e) {
    return Status::error(e.what());
  } catch (const JinjaError& e) {
    return Status::error(std::string("template error: ") + e.what());
  } catch (const std::bad_alloc&) {
    return Status::error("template error: out of memory");
  } catch (const std::exception& e) {
    // Library errors (std::stoll overflow and the like) from values the template computed.
    return Status::error(std::string("template error: ") + e.what());
  }
}

}  // namespace kiln::jinja
