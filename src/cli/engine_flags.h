// The engine's flags, declared once for every command that runs an engine (serve, generate,
// bench throughput, bench latency), with vLLM's names; and the environment the engine reads
// through the CLI (KILN_CUDA_PDL, KILN_TEST_FAIL_AT_POSITION).
//
// A command sets its own defaults in the EngineArgs before add_engine_flags (the help shows
// them), and FlagParser::set_help rewords a flag whose default means something else there.
#pragma once

#include <string>

#include "base/env_lookup.h"
#include "base/status.h"
#include "cli/flag_parser.h"
#include "engine/engine_args.h"

namespace kiln::cli {

void add_engine_flags(FlagParser& parser, EngineArgs* args);

// KILN_CUDA_PDL (0/false/off turns programmatic dependent launch off, to measure it) and the
// test-only KILN_TEST_FAIL_AT_POSITION; an unreadable value is an error naming the variable.
Status read_engine_environment(const EnvLookup& env, EngineArgs* args);

// --dtype's value in vLLM's spellings (auto, bfloat16, float16/half, float32/float; bf16 too),
// normalized to auto, bfloat16, float16 or float32.
Result<std::string> normalize_dtype(const std::string& value);

}  // namespace kiln::cli
