// Command-line flags for kiln's subcommands, in vLLM's style: --name VALUE, --name=VALUE,
// boolean --name / --no-name. Each subcommand declares its flags with help text and defaults,
// so `kiln CMD --help` lists them and a wrong flag gets a one-line error naming it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace kiln::cli {

class FlagParser {
 public:
  FlagParser(std::string command, std::string summary);

  // Each add_* binds a flag to a variable that already holds its default.
  void add_string(const std::string& name, std::string* target, const std::string& help);
  void add_optional_string(const std::string& name, std::optional<std::string>* target,
                           const std::string& help);
  void add_int(const std::string& name, int* target, const std::string& help);
  void add_int64(const std::string& name, int64_t* target, const std::string& help);
  void add_optional_int(const std::string& name, std::optional<int>* target, const std::string& help);
  void add_double(const std::string& name, double* target, const std::string& help);
  void add_optional_double(const std::string& name, std::optional<double>* target,
                           const std::string& help);
  // A byte size as users write it ("4GiB", "512MiB", "24GB", base/byte_size.h).
  void add_byte_size(const std::string& name, std::optional<int64_t>* target, const std::string& help);
  // --name sets true; --no-name sets false.
  void add_bool(const std::string& name, bool* target, const std::string& help);
  // The same, for a switch whose default is decided later (`default_text` says by what).
  void add_optional_bool(const std::string& name, std::optional<bool>* target, const std::string& help,
                         const std::string& default_text);
  // A value checked or converted by `set`, which returns an error naming the flag; the help
  // shows `default_text` (empty: no default shown).
  void add_custom(const std::string& name, const std::string& default_text, const std::string& help,
                  std::function<Status(const std::string&)> set);
  // Replaces a declared flag's help text, for a command whose default means something else
  // there; `default_text` replaces the default shown (the bound variable's), "" shows none.
  void set_help(const std::string& name, const std::string& help,
                std::optional<std::string> default_text = std::nullopt);
  // May be given several times; each value is appended.
  void add_repeated(const std::string& name, std::vector<std::string>* target, const std::string& help);
  // Positional arguments (after flags are removed) go here; `usage` names them in --help.
  void allow_positionals(std::vector<std::string>* target, const std::string& usage);

  // Parses args (without the program and command names). Returns an error naming the flag;
  // sets help_requested() on --help / -h.
  Status parse(const std::vector<std::string>& args);
  bool help_requested() const { return help_requested_; }
  bool was_set(const std::string& name) const;
  std::string help_text() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<Status(const std::string&)> set;
  };
  void add(Flag flag);
  const Flag* find(const std::string& name) const;

  std::string command_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::vector<std::string> set_names_;
  std::vector<std::string>* positionals_ = nullptr;
  std::string positional_usage_;
  bool help_requested_ = false;
};

}  // namespace kiln::cli
