// One small template per Jinja feature (whitespace control, literals, operators, statements,
// filters, tests, globals), rendered by kiln and compared with Python jinja2 configured as
// transformers configures it. tests/golden/chat_template/snippets_expected.json is jinja2's
// output, committed; MatchesJinja2RunNow regenerates it at test time to prove it is current.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "jinja/template.h"

namespace kiln::jinja {
namespace {

const std::string kGoldenDir = std::string(KILN_SOURCE_DIR) + "/tests/golden/chat_template";

nlohmann::ordered_json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::ordered_json::parse(ss.str());
}

void check_all(const nlohmann::ordered_json& results) {
  nlohmann::ordered_json snippets = read_json(kGoldenDir + "/snippets.json");
  ASSERT_EQ(snippets.size(), results.size());
  for (size_t i = 0; i < snippets.size(); ++i) {
    const auto& s = snippets[i];
    const auto& want = results[i];
    SCOPED_TRACE(s["name"].get<std::string>() + ": " + s["template"].get<std::string>());
    ASSERT_EQ(s["name"], want["name"]);
    auto tmpl = Template::compile(s["template"].get<std::string>());
    ASSERT_TRUE(tmpl.ok()) << tmpl.message();
    ValueDict context;
    for (auto it = s["context"].begin(); it != s["context"].end(); ++it) {
      context.set(it.key(), Value::from_json(it.value()));
    }
    auto got = tmpl->render(context);
    if (want.contains("output")) {
      ASSERT_TRUE(got.ok()) << got.message();
      EXPECT_EQ(want["output"].get<std::string>(), got.value());
    } else {
      EXPECT_FALSE(got.ok()) << "jinja2: " << want["error"] << "\nkiln rendered: " << got.value();
    }
  }
}

TEST(JinjaSnippetsTest, MatchesCommittedJinja2Output) {
  check_all(read_json(kGoldenDir + "/snippets_expected.json")["results"]);
}

TEST(JinjaSnippetsTest, MatchesJinja2RunNow) {
  ASSERT_EQ(std::system("python3 -c 'import jinja2' 2>/dev/null"), 0)
      << "python3 with the jinja2 package is required for the chat template tests "
         "(Debian: apt-get install python3-jinja2)";
  std::string out = std::string(KILN_BINARY_DIR) + "/jinja_snippets_jinja2.json";
  std::string command = "python3 '" + std::string(KILN_SOURCE_DIR) +
                        "/tools/chat_template/render_jinja2.py' --snippets '" + kGoldenDir +
                        "/snippets.json' --out '" + out + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << "failed: " << command;
  nlohmann::ordered_json live = read_json(out);
  EXPECT_EQ(live, read_json(kGoldenDir + "/snippets_expected.json"))
      << "snippets_expected.json is stale; regenerate: " << command;
  check_all(live["results"]);
}

}  // namespace
}  // namespace kiln::jinja
