// Errors are Results with a message that says where and what, never crashes; runaway templates
// stop at the render limits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "jinja/template.h"

namespace kiln::jinja {
namespace {

std::string compile_error(const std::string& source) {
  auto t = Template::compile(source);
  EXPECT_FALSE(t.ok()) << "compiled: " << source;
  return t.ok() ? "" : t.message();
}

std::string render_error(const std::string& source, const RenderLimits& limits = {}) {
  auto t = Template::compile(source);
  EXPECT_TRUE(t.ok()) << t.message();
  if (!t.ok()) return "";
  auto r = t->render(ValueDict(), limits);
  EXPECT_FALSE(r.ok()) << "rendered: " << r.value();
  return r.ok() ? "" : r.message();
}

using ::testing::HasSubstr;

TEST(JinjaErrorsTest, SyntaxErrorsNameLineAndColumn) {
  EXPECT_THAT(compile_error("line one\n{% if x %}\n  {{ x + }}\n{% endif %}"),
              HasSubstr("line 3, column 10"));
  EXPECT_THAT(compile_error("{% for x in y %}no end"), HasSubstr("'endfor'"));
  EXPECT_THAT(compile_error("{% if x %}a{% endfor %}"), HasSubstr("line 1"));
  EXPECT_THAT(compile_error("{{ 'unterminated }}"), HasSubstr("unterminated string"));
  EXPECT_THAT(compile_error("{{ x "), HasSubstr("unexpected end of template"));
  EXPECT_THAT(compile_error("{# never closed"), HasSubstr("missing end of comment"));
  EXPECT_THAT(compile_error("{{ (1 }}"), HasSubstr("line 1"));
  EXPECT_THAT(compile_error("{{ x ]}}"), HasSubstr("unexpected ']'"));
  EXPECT_THAT(compile_error("{{ x $ y }}"), HasSubstr("unexpected char '$'"));
  EXPECT_THAT(compile_error("{% break %}"), HasSubstr("outside of a loop"));
  EXPECT_THAT(compile_error("{% raw %}never ends"), HasSubstr("missing end of raw"));
}

TEST(JinjaErrorsTest, UnknownTagFilterTestAreCompileErrors) {
  EXPECT_THAT(compile_error("{% frobnicate %}"), HasSubstr("unknown tag 'frobnicate'"));
  EXPECT_THAT(compile_error("{{ x | nosuchfilter }}"), HasSubstr("no filter named 'nosuchfilter'"));
  EXPECT_THAT(compile_error("{{ x is nosuchtest }}"), HasSubstr("no test named 'nosuchtest'"));
}

TEST(JinjaErrorsTest, RuntimeErrorsAreResults) {
  EXPECT_THAT(render_error("{{ missing.attr }}"), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(render_error("{% set d = {} %}{{ d.a.b }}"),
              HasSubstr("'dict object' has no attribute 'a'"));
  EXPECT_THAT(render_error("{{ missing + 1 }}"), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(render_error("{{ 'a' + 1 }}"), HasSubstr("can only concatenate str"));
  EXPECT_THAT(render_error("{{ 1 / 0 }}"), HasSubstr("division by zero"));
  EXPECT_THAT(render_error("{{ 1 < 'a' }}"), HasSubstr("not supported between"));
  EXPECT_THAT(render_error("{{ [1].append(2) }}"), HasSubstr("unsafe"));
  EXPECT_THAT(render_error("{{ 'a'.split('') }}"), HasSubstr("empty separator"));
  EXPECT_THAT(render_error("{{ 'x'[::0] }}"), HasSubstr("slice step cannot be zero"));
  EXPECT_THAT(render_error("{{ undefined_fn() }}"), HasSubstr("'undefined_fn' is undefined"));
  EXPECT_THAT(render_error("{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
              HasSubstr("too many values"));
  EXPECT_THAT(render_error("{% set x = 1 %}{% set x.y = 2 %}"), HasSubstr("non-namespace"));
  EXPECT_THAT(render_error("{{ none | tojson }}{{ missing | tojson }}"),
              HasSubstr("not JSON serializable"));
  EXPECT_THAT(render_error("{{ 9223372036854775807 + 1 }}"), HasSubstr("integer overflow"));
  EXPECT_THAT(render_error("{{ range(200000) | length }}"), HasSubstr("Range too big"));
  EXPECT_THAT(render_error("a\nb\n{{ 1 / 0 }}"), HasSubstr("line 3"));
}

TEST(JinjaErrorsTest, RaiseExceptionMessageIsUnchanged) {
  EXPECT_EQ(render_error("{{ raise_exception('Only user and assistant roles are supported!') }}"),
            "Only user and assistant roles are supported!");
}

TEST(JinjaErrorsTest, RunawayTemplatesStopAtLimits) {
  RenderLimits limits;
  limits.max_steps = 100000;
  EXPECT_THAT(
      render_error("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
                   limits),
      HasSubstr("steps"));
  EXPECT_THAT(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
              HasSubstr("macro calls nested deeper"));
  RenderLimits small_output;
  small_output.max_output_bytes = 1000;
  EXPECT_THAT(render_error("{% for i in range(10000) %}xxxxxxxx{% endfor %}", small_output),
              HasSubstr("output exceeds"));
  EXPECT_THAT(render_error("{{ 'x' * 100000000000 }}"), HasSubstr("too large"));
}

TEST(JinjaErrorsTest, DeepNestingIsACompileErrorNotACrash) {
  std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_THAT(compile_error(deep), HasSubstr("too deep"));
  std::string deep_ifs;
  for (int i = 0; i < 1000; ++i) deep_ifs += "{% if true %}";
  EXPECT_THAT(compile_error(deep_ifs), HasSubstr("too deep"));
  std::string nots = "{{ ";
  for (int i = 0; i < 5000; ++i) nots += "not ";
  EXPECT_THAT(compile_error(nots + "x }}"), HasSubstr("too deep"));
}

}  // namespace
}  // namespace kiln::jinja
