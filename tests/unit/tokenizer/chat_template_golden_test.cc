// Renders every (template, conversation) of tests/golden/chat_template/conversations.json and
// compares byte for byte with Python jinja2 rendering the same case the way transformers does
// (tools/chat_template/render_jinja2.py, run here at test time; python3 with jinja2 is a required
// test dependency). expected.json is that script's committed output, kept for readable diffs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tokenizer/chat_template.h"

namespace kiln::tokenizer {
namespace {

const std::string kGoldenDir = std::string(KILN_SOURCE_DIR) + "/tests/golden/chat_template";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::ordered_json read_json(const std::string& path) {
  return nlohmann::ordered_json::parse(read_file(path));
}

constexpr auto kReplace = nlohmann::ordered_json::error_handler_t::replace;

// Where two renders first differ, with some context, so a failure says what went wrong.
std::string describe_difference(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) + "\n  jinja2: ..." +
         nlohmann::ordered_json(want.substr(from, 100)).dump(-1, ' ', false, kReplace) +
         "\n  kiln:   ..." +
         nlohmann::ordered_json(got.substr(from, 100)).dump(-1, ' ', false, kReplace);
}

ChatTemplateInputs inputs_for(const nlohmann::ordered_json& c, const nlohmann::ordered_json& spec) {
  ChatTemplateInputs in;
  in.messages = c["messages"];
  in.add_generation_prompt = c.value("add_generation_prompt", false);
  in.continue_final_message = c.value("continue_final_message", false);
  in.tools = c.contains("tools") ? c["tools"] : nlohmann::ordered_json();
  in.extra_kwargs =
      c.contains("chat_template_kwargs") ? c["chat_template_kwargs"] : nlohmann::ordered_json();
  in.bos_token = spec["bos_token"].get<std::string>();
  in.eos_token = spec["eos_token"].get<std::string>();
  return in;
}

class ChatTemplateGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = read_json(kGoldenDir + "/conversations.json");
    for (const auto& [name, spec] : cases_["templates"].items()) {
      auto compiled =
          ChatTemplate::compile(read_file(kGoldenDir + "/" + spec["file"].get<std::string>()));
      ASSERT_TRUE(compiled.ok()) << name << ": " << compiled.message();
      templates_.emplace(name, std::move(compiled).value());
    }
    for (const auto& c : cases_["cases"]) case_by_name_[c["name"].get<std::string>()] = c;
  }

  // Renders one jinja2 result's case with kiln and checks it matches.
  void check(const nlohmann::ordered_json& result) {
    std::string case_name = result["case"];
    std::string template_name = result["template"];
    SCOPED_TRACE(case_name + " / " + template_name);
    const nlohmann::ordered_json& c = case_by_name_.at(case_name);
    auto rendered =
        templates_.at(template_name).render(inputs_for(c, cases_["templates"][template_name]));
    if (result.contains("output")) {
      ASSERT_TRUE(rendered.ok()) << rendered.message();
      std::string want = result["output"];
      EXPECT_TRUE(want == rendered.value()) << describe_difference(want, rendered.value());
    } else {
      ASSERT_FALSE(rendered.ok()) << "jinja2 failed with: " << result["error"]
                                  << "\nbut kiln rendered: " << rendered.value();
      if (result["raised"].get<bool>()) {
        EXPECT_EQ(result["error"].get<std::string>(), rendered.message());
      }
    }
  }

  nlohmann::ordered_json cases_;
  std::map<std::string, nlohmann::ordered_json> case_by_name_;
  std::map<std::string, ChatTemplate> templates_;
};

TEST_F(ChatTemplateGoldenTest, MatchesJinja2RunNow) {
  ASSERT_EQ(std::system("python3 -c 'import jinja2' 2>/dev/null"), 0)
      << "python3 with the jinja2 package is required for the chat template golden test "
         "(Debian: apt-get install python3-jinja2)";
  std::string out = std::string(KILN_BINARY_DIR) + "/chat_template_jinja2.json";
  std::string command = "python3 '" + std::string(KILN_SOURCE_DIR) +
                        "/tools/chat_template/render_jinja2.py' '" + kGoldenDir +
                        "/conversations.json' --out '" + out + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << "failed: " << command;
  nlohmann::ordered_json live = read_json(out);
  ASSERT_EQ(live["results"].size(), read_json(kGoldenDir + "/expected.json")["results"].size());
  EXPECT_EQ(live, read_json(kGoldenDir + "/expected.json"))
      << "tests/golden/chat_template/expected.json is stale; regenerate it with\n  " << command
      << " (with --out pointing at expected.json)";
  for (const auto& result : live["results"]) check(result);
}

TEST_F(ChatTemplateGoldenTest, MatchesCommittedFixture) {
  nlohmann::ordered_json expected = read_json(kGoldenDir + "/expected.json");
  ASSERT_GE(expected["results"].size(), 80u);
  for (const auto& result : expected["results"]) check(result);
}

TEST_F(ChatTemplateGoldenTest, ConcurrentRendersAgree) {
  nlohmann::ordered_json expected = read_json(kGoldenDir + "/expected.json");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2; ++round) {
        for (const auto& result : expected["results"]) {
          if (!result.contains("output")) continue;
          const nlohmann::ordered_json& c = case_by_name_.at(result["case"].get<std::string>());
          std::string name = result["template"];
          auto rendered = templates_.at(name).render(inputs_for(c, cases_["templates"][name]));
          if (!rendered.ok() || rendered.value() != result["output"].get<std::string>()) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace kiln::tokenizer
