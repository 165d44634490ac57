// Random templates assembled from Jinja fragments: every one must compile or fail with an error,
// and render or fail with an error, never crash or hang (deterministic seed, fast).
#include <gtest/gtest.h>

#include <random>

#include "jinja/template.h"

namespace kiln::jinja {
namespace {

TEST(JinjaFuzzTest, RandomTemplatesNeverCrash) {
  const std::vector<std::string> fragments = {
      "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", " if ", " for ", " in ",
      " endif ", " endfor ", " else ", " elif ", " set ", " = ", " x ", " ns.a ", " messages ",
      "[", "]", "(", ")", "{", "}", ":", ",", ".", "|", " trim ", " tojson ", " length ",
      " is ", " not ", " defined ", " none ", " and ", " or ", "'s'", "\"d\"", " 1 ", " -1 ",
      " 2.5 ", " + ", " - ", " * ", " / ", " // ", " % ", " ~ ", " == ", " < ", "[::-1]",
      "[0]", ".split('a')", " namespace(a=1) ", " loop.index ", " raise_exception('r') ",
      " range(3) ", " macro ", " endmacro ", " break ", " continue ", "\n", "  ", "text",
      " items ", " default('z') ", " selectattr('role') ", " map(attribute='x') "};
  ValueDict context;
  context.set("messages", Value::from_json(nlohmann::ordered_json::parse(
                              R"([{"role":"user","content":"a b"},{"role":"assistant"}])")));
  context.set("x", Value::integer(3));
  std::mt19937 rng(1234);
  RenderLimits limits;
  limits.max_steps = 100000;
  int compiled = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string source;
    int n = 1 + static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) source += fragments[rng() % fragments.size()];
    auto t = Template::compile(source);
    if (!t.ok()) {
      EXPECT_FALSE(t.message().empty()) << source;
      continue;
    }
    ++compiled;
    auto r = t->render(context, limits);
    if (!r.ok()) {
      EXPECT_FALSE(r.message().empty()) << source;
    }
  }
  EXPECT_GT(compiled, 100);  // the fragments do make valid templates, so rendering is exercised
}

}  // namespace
}  // namespace kiln::jinja
