#!/usr/bin/env python3
"""Drives the built `kiln generate`, `kiln tokenize` and `kiln bench latency` on the demo model
(random weights, real DeepSeek-R1-Distill tokenizer and chat template): output shapes,
determinism, logprob consistency, the R1 chat rendering, tensor parallelism over threads, and the
one-line usage errors with exit code 2.

usage: test_cli.py KILN_BINARY DEMO_MODEL_DIR
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

KILN = None
MODEL = None

BOS, USER, ASSISTANT, THINK = 128000, 128011, 128012, 128013
HELLO_IDS = [128000, 128011, 9906, 0, 128012, 128013, 198]
HELLO_PROMPT = "<｜begin▁of▁sentence｜><｜User｜>Hello!<｜Assistant｜><think>\n"


def run(*args, check=True):
    proc = subprocess.run([KILN, *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"kiln {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def generate_json(*args):
    proc = run("generate", "--model", MODEL, "--device", "cpu", "--json", *args)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, f"stdout must hold one JSON line, got {len(lines)}: {proc.stdout[:500]!r}"
    return json.loads(lines[0])


def tokenize_json(*args):
    proc = run("tokenize", "--model", MODEL, "--json", *args)
    return json.loads(proc.stdout)


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="kiln-cli-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def write_messages(folder, messages):
    path = os.path.join(folder, "messages.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(messages, f, ensure_ascii=False)
    return path


class TokenizeTest(unittest.TestCase):
    def test_readme_example_ids(self):
        with TempDir() as tmp:
            path = write_messages(tmp, [{"role": "user", "content": "Hello!"}])
            out = tokenize_json("--messages", path, "--add-generation-prompt")
        self.assertEqual(list(out.keys()), ["prompt", "ids"])
        self.assertEqual(out["prompt"], HELLO_PROMPT)
        self.assertEqual(out["ids"], HELLO_IDS)

    def test_r1_template_multi_turn(self):
        messages = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "<think>\nsimple\n</think>\n\n4"},
            {"role": "user", "content": "And 3+3? 日本語 🙂"},
        ]
        with TempDir() as tmp:
            out = tokenize_json("--messages", write_messages(tmp, messages), "--add-generation-prompt")
            without = tokenize_json("--messages", write_messages(tmp, messages))
        prompt, ids = out["prompt"], out["ids"]
        self.assertTrue(prompt.startswith("<｜begin▁of▁sentence｜>You are terse.<｜User｜>What is 2+2?"), prompt)
        self.assertTrue(prompt.endswith("<｜User｜>And 3+3? 日本語 🙂<｜Assistant｜><think>\n"), prompt)
        # The R1 template drops the reasoning of earlier assistant turns.
        self.assertNotIn("simple", prompt)
        self.assertIn("<｜Assistant｜>\n\n4<｜end▁of▁sentence｜><｜User｜>", prompt)
        self.assertEqual(ids[0], BOS)
        self.assertEqual(ids.count(BOS), 1)
        self.assertEqual(ids[-3:], [ASSISTANT, THINK, 198])
        self.assertFalse(without["prompt"].endswith("<｜Assistant｜><think>\n"))
        self.assertEqual(without["ids"], ids[: len(without["ids"])])

    def test_messages_object_form(self):
        with TempDir() as tmp:
            path = write_messages(tmp, {"messages": [{"role": "user", "content": "Hello!"}]})
            out = tokenize_json("--messages", path, "--add-generation-prompt")
        self.assertEqual(out["ids"], HELLO_IDS)

    def test_text_special_tokens(self):
        plain = tokenize_json("--text", "Hello!")
        self.assertEqual(plain, {"prompt": "Hello!", "ids": [9906, 0]})
        with_bos = tokenize_json("--text", "Hello!", "--add-special-tokens")
        self.assertEqual(with_bos["ids"], [BOS, 9906, 0])
        # Special tokens written in the text are matched, never split.
        inline = tokenize_json("--text", HELLO_PROMPT)
        self.assertEqual(inline["ids"], HELLO_IDS)

    def test_human_readable(self):
        proc = run("tokenize", "--model", MODEL, "--text", HELLO_PROMPT)
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0], "prompt: " + json.dumps(HELLO_PROMPT, ensure_ascii=False))
        self.assertEqual(lines[1], "ids (7): " + " ".join(map(str, HELLO_IDS)))
        self.assertEqual(lines[2], "tokens:")
        self.assertEqual(len(lines), 3 + len(HELLO_IDS))
        self.assertIn('"<｜User｜>"', lines[4])

    def test_needs_no_weights(self):
        with TempDir() as tmp:
            for name in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(MODEL, name), tmp)
            proc = run("tokenize", "--model", tmp, "--json", "--text", "Hello!")
        self.assertEqual(json.loads(proc.stdout)["ids"], [9906, 0])


class GenerateTest(unittest.TestCase):
    def test_greedy_deterministic(self):
        args = ("--prompt", "The capital of France is", "--temperature", "0", "--max-tokens", "8")
        first, second = generate_json(*args), generate_json(*args)
        self.assertEqual(first, second)

    def test_json_shape_and_types(self):
        out = generate_json("--chat", "Hello!", "--max-tokens", "6", "--ignore-eos", "--top-logprobs", "3",
                            "--temperature", "0")
        self.assertEqual(list(out.keys()), ["prompt_ids", "prompt_logprobs", "tokens", "text", "finish_reason"])
        self.assertEqual(out["prompt_ids"], HELLO_IDS)
        self.assertIsNone(out["prompt_logprobs"])
        self.assertEqual(out["finish_reason"], "length")
        self.assertIsInstance(out["text"], str)
        self.assertEqual(len(out["tokens"]), 6)
        for token in out["tokens"]:
            self.assertEqual(list(token.keys()), ["id", "text", "logprob", "top_logprobs"])
            self.assertIsInstance(token["id"], int)
            self.assertTrue(0 <= token["id"] < 128256)
            self.assertIsInstance(token["text"], str)
            self.assertIsInstance(token["logprob"], float)
            self.assertLessEqual(token["logprob"], 0.0)
            self.assertEqual(len(token["top_logprobs"]), 3)
            for pair in token["top_logprobs"]:
                self.assertEqual(len(pair), 2)
                self.assertIsInstance(pair[0], int)
                self.assertIsInstance(pair[1], float)

    def test_top_logprobs_sorted_and_greedy_consistent(self):
        out = generate_json("--prompt", "Once upon a time", "--max-tokens", "8", "--ignore-eos",
                            "--temperature", "0", "--top-logprobs", "5")
        for token in out["tokens"]:
            top = token["top_logprobs"]
            values = [lp for _, lp in top]
            self.assertEqual(values, sorted(values, reverse=True))
            self.assertEqual(len({i for i, _ in top}), len(top))
            # Greedy picks the most likely token: it is the first of the top list.
            self.assertEqual(token["id"], top[0][0])
            self.assertAlmostEqual(token["logprob"], top[0][1], places=6)

    def test_no_top_logprobs_by_default(self):
        out = generate_json("--prompt", "Hi", "--max-tokens", "2", "--ignore-eos", "--temperature", "0")
        for token in out["tokens"]:
            self.assertEqual(token["top_logprobs"], [])
            self.assertIsInstance(token["logprob"], float)

    def test_prompt_ids_round_trip(self):
        by_chat = generate_json("--chat", "Hello!", "--max-tokens", "5", "--temperature", "0", "--ignore-eos")
        ids = ",".join(map(str, by_chat["prompt_ids"]))
        by_ids = generate_json("--prompt-ids", ids, "--max-tokens", "5", "--temperature", "0", "--ignore-eos")
        self.assertEqual(by_ids, by_chat)
        by_prompt = generate_json("--prompt", HELLO_PROMPT, "--max-tokens", "5", "--temperature", "0",
                                  "--ignore-eos")
        self.assertEqual(by_prompt["prompt_ids"], HELLO_IDS)

    def test_prompt_special_tokens(self):
        plain = generate_json("--prompt", "Hello!", "--max-tokens", "1")
        self.assertEqual(plain["prompt_ids"], [9906, 0])
        with_bos = generate_json("--prompt", "Hello!", "--max-tokens", "1", "--add-special-tokens")
        self.assertEqual(with_bos["prompt_ids"], [BOS, 9906, 0])

    def test_prompt_logprobs(self):
        out = generate_json("--chat", "Hello!", "--max-tokens", "1", "--prompt-logprobs")
        lps = out["prompt_logprobs"]
        self.assertEqual(len(lps), len(out["prompt_ids"]))
        self.assertIsNone(lps[0])
        for lp in lps[1:]:
            self.assertIsInstance(lp, float)
            self.assertLessEqual(lp, 0.0)
        single = generate_json("--prompt-ids", "128000", "--max-tokens", "1", "--prompt-logprobs")
        self.assertEqual(single["prompt_logprobs"], [None])

    def test_prompt_logprob_matches_generated_logprob(self):
        # The logprob a token got when generated after P equals its prompt logprob after P.
        first = generate_json("--prompt-ids", "128000,9906,1917", "--max-tokens", "1", "--temperature", "0",
                              "--ignore-eos")
        token = first["tokens"][0]
        ids = "128000,9906,1917," + str(token["id"])
        second = generate_json("--prompt-ids", ids, "--max-tokens", "1", "--prompt-logprobs")
        self.assertLess(abs(second["prompt_logprobs"][3] - token["logprob"]), 1e-3)

    def test_seeded_sampling(self):
        args = ("--prompt", "Tell me a story", "--temperature", "1.0", "--top-p", "1.0", "--max-tokens", "8",
                "--ignore-eos")
        a = generate_json(*args, "--seed", "7")
        b = generate_json(*args, "--seed", "7")
        c = generate_json(*args, "--seed", "8")
        self.assertEqual(a, b)
        # Random weights spread probability over the whole vocabulary: another seed differs.
        self.assertNotEqual([t["id"] for t in a["tokens"]], [t["id"] for t in c["tokens"]])

    def test_stream_equals_json_text(self):
        args = ("--chat", "Hello!", "--max-tokens", "12", "--temperature", "0", "--ignore-eos")
        streamed = run("generate", "--model", MODEL, "--device", "cpu", *args)
        as_json = generate_json(*args)
        self.assertEqual(streamed.stdout, as_json["text"] + "\n")
        self.assertNotIn("INFO", streamed.stdout)
        self.assertIn("tokens/s", streamed.stderr)

    def test_token_text_is_own_decode(self):
        out = generate_json("--prompt", "Hello", "--max-tokens", "6", "--temperature", "0", "--ignore-eos")
        texts = [t["text"] for t in out["tokens"]]
        self.assertEqual(len(texts), 6)
        # Each token's own text; joined they give the output text unless a token ends inside a
        # UTF-8 character (its own text then holds U+FFFD).
        if all("\ufffd" not in t for t in texts) and all(t["id"] < 128000 for t in out["tokens"]):
            self.assertEqual("".join(texts), out["text"])
        # A known id decodes alone: 9906 is "Hello".
        out = generate_json("--prompt-ids", "9906", "--max-tokens", "1")
        self.assertEqual(out["prompt_ids"], [9906])

    def test_max_model_len_clamps(self):
        out = generate_json("--prompt-ids", "128000,9906", "--max-tokens", "50", "--max-model-len", "8",
                            "--ignore-eos", "--temperature", "0")
        self.assertEqual(len(out["tokens"]), 6)
        self.assertEqual(out["finish_reason"], "length")


class Fp8Test(unittest.TestCase):
    """FP8 on the CPU backend: both checkpoint formats `kiln synth` writes and --quantization fp8."""

    def synth(self, folder, quantization):
        with open(os.path.join(MODEL, "config.json")) as f:
            config = json.load(f)
        config_path = os.path.join(folder, "input.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        out = os.path.join(folder, quantization)
        run("synth", "--config", config_path, "--out", out, "--tokenizer", MODEL, "--seed", "1",
            "--quantization", quantization)
        return out

    def greedy(self, model, *args):
        proc = run("generate", "--model", model, "--device", "cpu", "--json", "--prompt-ids", "128000,9906,0",
                   "--max-tokens", "6", "--ignore-eos", "--temperature", "0", *args)
        return json.loads(proc.stdout)

    def test_fp8_checkpoints_generate(self):
        with TempDir() as tmp:
            for quantization in ("fp8-dynamic", "fp8-block"):
                model = self.synth(tmp, quantization)
                first, second = self.greedy(model), self.greedy(model)
                self.assertEqual(first["tokens"], second["tokens"])
                self.assertEqual(len(first["tokens"]), 6)
                self.assertTrue(all(math.isfinite(t["logprob"]) and t["logprob"] <= 0 for t in first["tokens"]), first)

    def test_quantization_flag(self):
        out = self.greedy(MODEL, "--quantization", "fp8")
        self.assertEqual(len(out["tokens"]), 6)
        self.assertEqual(out["tokens"], self.greedy(MODEL, "--quantization", "fp8")["tokens"])

    def test_unsupported_quantization(self):
        with TempDir() as tmp:
            for name in os.listdir(MODEL):
                if name != "config.json":
                    os.symlink(os.path.abspath(os.path.join(MODEL, name)), os.path.join(tmp, name))
            with open(os.path.join(MODEL, "config.json")) as f:
                config = json.load(f)
            config["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 128}
            with open(os.path.join(tmp, "config.json"), "w") as f:
                json.dump(config, f)
            UsageErrorTest.assert_usage_error(self, ["generate", "--model", tmp, "--prompt", "x", "--device", "cpu"],
                                              "quantization_config.quant_method 'awq' is not supported")
        UsageErrorTest.assert_usage_error(
            self, ["generate", "--model", MODEL, "--prompt", "x", "--quantization", "gptq"],
            "--quantization gptq: not supported (supported: fp8")


class TensorParallelTest(unittest.TestCase):
    """--tensor-parallel-size on the CPU backend (ranks on threads) through the commands."""

    def test_generate_over_two_ranks_gives_one_rank_s_tokens(self):
        args = ("--prompt", "The capital of France is", "--temperature", "0", "--max-tokens", "8",
                "--ignore-eos", "--top-logprobs", "2")
        one = generate_json(*args)
        two = generate_json(*args, "--tensor-parallel-size", "2")
        self.assertEqual([t["id"] for t in one["tokens"]], [t["id"] for t in two["tokens"]])
        for a, b in zip(one["tokens"], two["tokens"]):
            self.assertAlmostEqual(a["logprob"], b["logprob"], delta=1e-3)

    def test_bench_latency_reports_the_size(self):
        proc = run("bench", "latency", "--model", MODEL, "--device", "cpu", "--tensor-parallel-size", "2",
                   "--input-len", "16", "--output-len", "4", "--num-iters", "1", "--json")
        out = json.loads(proc.stdout.splitlines()[-1])
        self.assertEqual(out["tensor_parallel_size"], 2)
        self.assertGreater(out["decode_tokens_per_s_per_seq"], 0)

    def test_a_size_that_does_not_split_the_model_is_a_usage_error(self):
        proc = run("generate", "--model", MODEL, "--device", "cpu", "--prompt", "hi", "--tensor-parallel-size",
                   "3", check=False)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("--tensor-parallel-size 3", proc.stderr)
        self.assertIn("num_attention_heads", proc.stderr)


class UsageErrorTest(unittest.TestCase):
    def assert_usage_error(self, args, needle):
        proc = run(*args, check=False)
        self.assertEqual(proc.returncode, 2, f"{args}: stderr {proc.stderr!r}")
        self.assertEqual(proc.stdout, "")
        lines = proc.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"{args}: expected one line, got {proc.stderr!r}")
        self.assertIn(needle, lines[0])

    def test_unknown_flag(self):
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt", "x", "--frobnicate"], "--frobnicate")
        self.assert_usage_error(["tokenize", "--model", MODEL, "--text", "x", "--frobnicate"], "--frobnicate")

    def test_missing_model_dir(self):
        self.assert_usage_error(["generate", "--model", "/nonexistent/kiln-model", "--prompt", "x"],
                                "/nonexistent/kiln-model")
        self.assert_usage_error(["tokenize", "--model", "/nonexistent/kiln-model", "--text", "x"],
                                "/nonexistent/kiln-model")
        self.assert_usage_error(["generate", "--prompt", "x"], "--model")

    def test_bad_prompt_ids(self):
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt-ids", "1,x,3"], "'x'")
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt-ids", "1,,3"], "--prompt-ids")
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt-ids", "1,999999"], "999999")
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt-ids", "-1"], "-1")

    def test_prompt_choice(self):
        self.assert_usage_error(["generate", "--model", MODEL], "exactly one")
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt", "a", "--chat", "b"], "exactly one")
        self.assert_usage_error(["tokenize", "--model", MODEL], "exactly one")

    def test_bad_values(self):
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt", "a", "--max-tokens", "0"], "--max-tokens")
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt", "a", "--top-p", "1.5"], "--top-p")
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt", "a", "--temperature", "-1"],
                                "--temperature")
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt", "a", "--device", "tpu"], "--device")
        self.assert_usage_error(["generate", "--model", MODEL, "--prompt", "a", "--max-model-len", "999999999"],
                                "max_position_embeddings")

    def test_missing_messages_file(self):
        self.assert_usage_error(["tokenize", "--model", MODEL, "--messages", "/nonexistent/m.json"],
                                "/nonexistent/m.json")
        with TempDir() as tmp:
            bad = os.path.join(tmp, "bad.json")
            with open(bad, "w") as f:
                f.write("{not json")
            self.assert_usage_error(["tokenize", "--model", MODEL, "--messages", bad], "bad.json")

    def test_unsupported_architecture(self):
        with TempDir() as tmp:
            model = os.path.join(tmp, "mistral")
            os.mkdir(model)
            for name in os.listdir(MODEL):
                if name != "config.json":
                    os.symlink(os.path.abspath(os.path.join(MODEL, name)), os.path.join(model, name))
            with open(os.path.join(MODEL, "config.json")) as f:
                config = json.load(f)
            config["architectures"] = ["MistralForCausalLM"]
            config["model_type"] = "mistral"
            with open(os.path.join(model, "config.json"), "w") as f:
                json.dump(config, f)
            self.assert_usage_error(["generate", "--model", model, "--prompt", "x"], "MistralForCausalLM")
            proc = run("generate", "--model", model, "--prompt", "x", check=False)
            self.assertIn("LlamaForCausalLM", proc.stderr)
            self.assertIn("Qwen2ForCausalLM", proc.stderr)

    def test_missing_weights(self):
        with TempDir() as tmp:
            for name in os.listdir(MODEL):
                if not name.endswith(".safetensors"):
                    shutil.copy(os.path.join(MODEL, name), tmp)
            proc = run("generate", "--model", tmp, "--prompt", "x", "--device", "cpu", check=False)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(proc.stdout, "")
            self.assertEqual(len([l for l in proc.stderr.splitlines() if l.startswith("kiln generate:")]), 1)

    def test_help(self):
        proc = run("generate", "--help")
        self.assertIn("--prompt-logprobs", proc.stdout)
        self.assertIn("prompt_logprobs is null unless --prompt-logprobs", proc.stdout)
        proc = run("tokenize", "--help")
        self.assertIn("--add-generation-prompt", proc.stdout)


def main():
    global KILN, MODEL
    if len(sys.argv) < 3:
        sys.exit("usage: test_cli.py KILN_BINARY DEMO_MODEL_DIR [unittest args]")
    KILN, MODEL = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], *sys.argv[3:]], verbosity=2)


if __name__ == "__main__":
    main()
