"""`kiln pull` against the fake Hub: the cache layout huggingface_hub produces, resume, locks,
offline mode, and each error message. Usage: test_pull.py PATH_TO_KILN [TEST_NAME...]"""

import hashlib
import json
import re
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_hub import FakeHub, repo_from_dir  # noqa: E402

KILN = None
HUB = None
REPO = "test-org/tiny-model"
DEFAULT_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "model-00001-of-00002.safetensors",
                 "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
SECRET = "hf_fake_valid_token_123"


class Env:
    """A fresh HF_HOME for one test."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="kiln-hub-test-")
        self.cache = os.path.join(self.home, "hub")

    def vars(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HF_", "HUGGING_FACE_", "TRANSFORMERS_"))}
        env.update({"HF_HOME": self.home, "HF_ENDPOINT": HUB.endpoint, "HF_HUB_DOWNLOAD_TIMEOUT": "5"})
        env.update({k: v for k, v in extra.items() if v is not None})
        return env

    def pull(self, *args, env=None, timeout=30, **extra):
        result = subprocess.run([KILN, "pull", *args], env=env or self.vars(**extra),
                                capture_output=True, text=True, timeout=timeout)
        return result

    def close(self):
        shutil.rmtree(self.home, ignore_errors=True)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_ok(result):
    check(result.returncode == 0, "kiln pull failed (%d): %s" % (result.returncode, result.stderr))
    return result.stdout.strip()


def expect_error(result, *needles):
    check(result.returncode == 1, "expected exit 1, got %d: %s%s" % (result.returncode, result.stdout, result.stderr))
    lines = [l for l in result.stderr.splitlines() if l.startswith("kiln pull:")]
    check(len(lines) == 1, "expected one 'kiln pull:' error line, stderr was:\n" + result.stderr)
    for needle in needles:
        check(needle in lines[0], "error line lacks %r: %s" % (needle, lines[0]))
    return lines[0]


# The backup-tool marker huggingface_hub writes at the cache root (bford.info/cachedir).
CACHEDIR_TAG = (b"Signature: 8a477f597d28d172789f06886806bc55\n"
                b"# This file is a cache directory tag created by huggingface_hub.\n"
                b"# For information about cache directory tags, see:\n"
                b"#\thttps://bford.info/cachedir/\n")


def expected_tree(repo_id, files, refs):
    """The files huggingface_hub's snapshot_download leaves for `files` of `repo_id`."""
    repo = HUB.repos[repo_id]
    folder = "models--" + repo_id.replace("/", "--")
    tree = {}
    for path in files:
        etag = repo.etag(path)
        tree[folder + "/blobs/" + etag] = ("file", hashlib.sha256(repo.files[path]).hexdigest())
        tree[folder + "/snapshots/" + repo.commit + "/" + path] = (
            "link", "../" * (2 + path.count("/")) + "blobs/" + etag)
        tree[".locks/" + folder + "/" + etag + ".lock"] = ("file", hashlib.sha256(b"").hexdigest())
    for ref in refs:
        tree[folder + "/refs/" + ref] = ("file", hashlib.sha256(repo.commit.encode()).hexdigest())
    tree["CACHEDIR.TAG"] = ("file", hashlib.sha256(CACHEDIR_TAG).hexdigest())
    return tree


def actual_tree(root):
    tree = {}
    for directory, dirs, names in os.walk(root):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            full = os.path.join(directory, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                tree[rel] = ("link", os.readlink(full))
            else:
                with open(full, "rb") as f:
                    tree[rel] = ("file", hashlib.sha256(f.read()).hexdigest())
    return tree


def check_tree(cache, repo_id, files, refs=("main",)):
    expected = expected_tree(repo_id, files, refs)
    actual = actual_tree(cache)
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = sorted(k for k in expected if k in actual and expected[k] != actual[k])
    check(not missing and not extra and not wrong,
          "cache differs from huggingface_hub's layout:\n missing %s\n extra %s\n wrong %s" %
          (missing, extra, [(k, expected[k], actual[k]) for k in wrong]))
    # Each snapshot link resolves to the file's bytes.
    repo = HUB.repos[repo_id]
    for path in files:
        with open(os.path.join(cache, "models--" + repo_id.replace("/", "--"), "snapshots",
                               repo.commit, path), "rb") as f:
            check(f.read() == repo.files[path], "snapshot file %s has the wrong bytes" % path)


# --- tests ---

def test_full_download(env):
    out = expect_ok(env.pull(REPO))
    commit = HUB.repos[REPO].commit
    check(out == os.path.join(env.cache, "models--test-org--tiny-model", "snapshots", commit),
          "stdout is not the snapshot path: " + out)
    check_tree(env.cache, REPO, DEFAULT_FILES)
    api = HUB.requests("/api/models/")
    check(len(api) == 1 and api[0]["path"].endswith("/revision/main"), "one info API call: %s" % api)
    cdn = HUB.requests("/cdn/")
    check(len(cdn) == 2, "each LFS shard fetched once from the CDN: %s" % cdn)
    check(all(r["host"].startswith("localhost") for r in cdn), "CDN requests go to the CDN host")
    # Pulling again downloads nothing and makes no HEAD/GET for files (pointers exist).
    HUB.clear_log()
    check(expect_ok(env.pull(REPO)) == out, "second pull prints the same path")
    check(not HUB.requests("/test-org/") and not HUB.requests("/cdn/"), "second pull fetched files")


def test_matches_huggingface_hub_golden(env):
    # The tree huggingface_hub's snapshot_download left for the same fake Hub, recorded by
    # tools/hub/make_hf_cache_golden.py where huggingface_hub is installed.
    golden_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden",
                               "huggingface_hub_tree.json")
    if not os.path.exists(golden_path):
        print("  NOTE: %s not recorded yet (run tools/hub/make_hf_cache_golden.py); "
              "compared with the documented layout only" % golden_path)
        return
    with open(golden_path) as f:
        golden = json.load(f)
    # huggingface_hub 1.x also keeps trees/<commit>.json, its cached listing of the repo, which no
    # reader of the cache needs to find a model; kiln does not write it. Everything else,
    # CACHEDIR.TAG included, must be identical.
    bookkeeping = re.compile(r"^models--[^/]+/trees/[^/]+\.json$")
    golden["tree"] = {k: v for k, v in golden["tree"].items() if not bookkeeping.match(k)}
    out = expect_ok(env.pull(golden["repo"]))
    check(os.path.relpath(out, env.cache) == golden["snapshot"], out)
    tree = {k: list(v) for k, v in actual_tree(env.cache).items()}
    check(tree == golden["tree"], "kiln's cache differs from huggingface_hub %s's:\n only kiln %s\n only hf %s\n"
          " differ %s" % (golden["huggingface_hub_version"], sorted(set(tree) - set(golden["tree"])),
                          sorted(set(golden["tree"]) - set(tree)),
                          [k for k in tree if k in golden["tree"] and tree[k] != golden["tree"][k]]))


def test_renamed_repo_relative_redirects(env):
    out = expect_ok(env.pull("old-org/tiny-model"))
    check("/models--old-org--tiny-model/snapshots/" in out, out)
    check(HUB.requests("/test-org/tiny-model/resolve/"), "relative redirects followed")
    check(os.path.isfile(os.path.join(out, "model-00001-of-00002.safetensors")), "weights linked")


def test_include_and_tag_and_commit(env):
    expect_ok(env.pull(REPO, "--revision", "v1.0", "--include", "*.bin", "--include", "extra/"))
    files = DEFAULT_FILES + ["pytorch_model.bin", "extra/nested/notes.json"]
    check_tree(env.cache, REPO, files, refs=("v1.0",))
    commit = HUB.repos[REPO].commit
    out = expect_ok(env.pull(REPO, "--revision", commit))
    check(out.endswith(commit), out)
    check_tree(env.cache, REPO, files, refs=("v1.0",))  # no refs/<sha>


def test_resume_after_drop(env):
    HUB.set(drop_after=1024 * 1024 + 100)
    result = env.pull(REPO)
    expect_ok(result)
    ranges = [r for r in HUB.requests("/cdn/") if r["range"]]
    check(ranges == [r for r in ranges if r["range"] == "bytes=%d-" % (1024 * 1024 + 100)] and ranges,
          "resumed with Range from the drop point: %s" % HUB.requests("/cdn/"))
    check("resuming" in result.stderr, "a resume is logged: " + result.stderr)
    check_tree(env.cache, REPO, DEFAULT_FILES)


def test_resume_from_incomplete_file(env):
    # A previous process died mid-file: its .incomplete is resumed with a Range request.
    repo = HUB.repos[REPO]
    shard = "model-00001-of-00002.safetensors"
    blobs = os.path.join(env.cache, "models--test-org--tiny-model", "blobs")
    os.makedirs(blobs)
    with open(os.path.join(blobs, repo.etag(shard) + ".incomplete"), "wb") as f:
        f.write(repo.files[shard][:777777])
    expect_ok(env.pull(REPO))
    check([r["range"] for r in HUB.requests("/cdn/" + repo.etag(shard))] == ["bytes=777777-"],
          "partial file resumed: %s" % HUB.requests("/cdn/"))
    check_tree(env.cache, REPO, DEFAULT_FILES)


def test_stalled_connection_times_out_and_resumes(env):
    HUB.set(stall_after=512 * 1024, stall_s=4.0)
    start = time.time()
    result = env.pull(REPO, HF_HUB_DOWNLOAD_TIMEOUT="1")
    expect_ok(result)
    check(time.time() - start < 4.5, "the stall was cut by the 1 s download timeout")
    check(any(r["range"] for r in HUB.requests("/cdn/")), "resumed after the stall")
    check_tree(env.cache, REPO, DEFAULT_FILES)


def test_concurrent_pulls(env):
    HUB.set(slow_chunk_s=0.02)  # both processes overlap on the shards
    procs = [subprocess.Popen([KILN, "pull", "--quiet", REPO], env=env.vars(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outs):
        check(p.returncode == 0, "concurrent pull failed: " + err)
    check(outs[0][0] == outs[1][0], "both print the same snapshot")
    cdn = HUB.requests("/cdn/")
    check(len(cdn) == 2, "each blob downloaded once across both processes: %s" % cdn)
    check_tree(env.cache, REPO, DEFAULT_FILES)


def test_offline_from_cache(env):
    out = expect_ok(env.pull(REPO))
    HUB.clear_log()
    check(expect_ok(env.pull(REPO, HF_HUB_OFFLINE="1")) == out, "offline resolves the same snapshot")
    check(not HUB.log, "offline mode made requests: %s" % HUB.log)
    # The Hub unreachable: the cached snapshot is used with a warning.
    result = env.pull(REPO, HF_ENDPOINT=closed_port_endpoint())
    check(expect_ok(result) == out and "using the cached snapshot" in result.stderr, result.stderr)


def test_offline_not_cached(env):
    expect_error(env.pull(REPO, HF_HUB_OFFLINE="1"), "not in the cache", "HF_HUB_OFFLINE")


def test_no_network(env):
    expect_error(env.pull(REPO, HF_ENDPOINT=closed_port_endpoint()), "cannot reach", "HF_ENDPOINT",
                 "HF_HUB_OFFLINE=1", "not in the cache")


def test_gated_without_token(env):
    line = expect_error(env.pull("test-org/gated-model"), "gated", "licence",
                        HUB.endpoint + "/test-org/gated-model", "HF_TOKEN")
    check("401" in line, line)


def test_gated_wrong_token_and_403(env):
    result = env.pull("test-org/gated-model", HF_TOKEN="hf_wrong_secret_value")
    expect_error(result, "gated", "refused")
    check("hf_wrong_secret_value" not in result.stderr + result.stdout, "token leaked")
    HUB.set(force_status=403)
    result = env.pull(REPO, "--token", "hf_other_secret")
    expect_error(result, "403", "licence", "HF_TOKEN")
    check("hf_other_secret" not in result.stderr + result.stdout, "token leaked")


def test_token_sources_and_never_logged(env):
    # From the token file, as `huggingface-cli login` leaves it.
    with open(os.path.join(env.home, "token"), "w") as f:
        f.write(SECRET + "\n")
    result = env.pull("test-org/gated-model")
    expect_ok(result)
    check(SECRET not in result.stderr + result.stdout, "token printed")
    auth = {(r["path"].split("/")[1], r["authorization"]) for r in HUB.requests()}
    check(("test-org", "Bearer " + SECRET) in auth, "token sent to the Hub: %s" % auth)
    check(all(a is None for p, a in auth if p == "cdn"), "token must not go to the CDN host: %s" % auth)
    # HF_TOKEN wins over the file; HUGGING_FACE_HUB_TOKEN is read when HF_TOKEN is unset.
    os.remove(os.path.join(env.home, "token"))
    shutil.rmtree(env.cache)
    expect_error(env.pull("test-org/gated-model", HF_TOKEN="hf_bad", HUGGING_FACE_HUB_TOKEN=SECRET),
                 "gated")
    result = env.pull("test-org/gated-model", HUGGING_FACE_HUB_TOKEN=SECRET)
    expect_ok(result)
    check(SECRET not in result.stderr + result.stdout, "token printed")


def test_repo_not_found(env):
    expect_error(env.pull("test-org/no-such-model"), "repository test-org/no-such-model does not exist",
                 "404")


def test_revision_not_found(env):
    expect_error(env.pull(REPO, "--revision", "no-such-branch"), "revision 'no-such-branch' does not exist",
                 "404")


def test_wrong_sha256(env):
    HUB.set(corrupt=True)
    line = expect_error(env.pull(REPO), "sha256", "partial file was deleted")
    check("model-0000" in line, line)
    blobs = os.path.join(env.cache, "models--test-org--tiny-model", "blobs")
    check(not [n for n in os.listdir(blobs) if n.endswith(".incomplete") and len(n) == 64 + 11],
          "corrupt partial kept: %s" % os.listdir(blobs))
    HUB.set(corrupt=False)
    expect_ok(env.pull(REPO))
    check_tree(env.cache, REPO, DEFAULT_FILES)


def test_transient_500_retried(env):
    HUB.set(fail_status=503, fail_count=2)
    result = env.pull(REPO)
    expect_ok(result)
    check("retrying" in result.stderr or "resuming" in result.stderr, result.stderr)
    check_tree(env.cache, REPO, DEFAULT_FILES)
    # A Hub that keeps failing gives up with a clear message.
    shutil.rmtree(env.cache)
    HUB.set(fail_status=500, fail_count=1000)
    expect_error(env.pull(REPO), "HTTP 500", "attempts")
    HUB.set(fail_count=0)


def test_rate_limited_429_retried(env):
    HUB.set(fail_status=429, fail_count=1)
    result = env.pull(REPO)
    expect_ok(result)
    check("HTTP 429" in result.stderr, result.stderr)
    check_tree(env.cache, REPO, DEFAULT_FILES)


def test_disk_full_before_download(env):
    # The Hub announces a 1 PiB shard: the free-space check refuses before downloading.
    expect_error(env.pull("test-org/huge-model"), "not enough disk space", "1024.0 TiB", env.cache)
    check(not HUB.requests("/cdn/"), "nothing downloaded")


def test_disk_full_while_writing(env):
    # ENOSPC mid-write: the partial file is /dev/full, which refuses every write with ENOSPC.
    if not os.path.exists("/dev/full"):
        print("  (no /dev/full: ENOSPC path not exercised here)")
        return
    repo = HUB.repos[REPO]
    shard = "model-00001-of-00002.safetensors"
    blobs = os.path.join(env.cache, "models--test-org--tiny-model", "blobs")
    os.makedirs(blobs)
    os.symlink("/dev/full", os.path.join(blobs, repo.etag(shard) + ".incomplete"))
    expect_error(env.pull(REPO), "disk full", "more were needed", blobs)


def test_usage_errors(env):
    result = env.pull()
    check(result.returncode == 2, result.stderr)
    result = env.pull("not-a-repo-id")
    expect_error(result, "not a Hugging Face repo id")


def test_synthesized_model_round_trip(env):
    # A model made by `kiln synth` (sharded), served by the fake Hub and pulled back byte for byte.
    config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "configs", "tiny-llama.json")
    model_dir = os.path.join(env.home, "synth")
    made = subprocess.run([KILN, "synth", "--config", config, "--out", model_dir, "--seed", "7",
                           "--max-shard-size", "100000"], capture_output=True, text=True, timeout=60)
    check(made.returncode == 0, "kiln synth failed: " + made.stderr)
    HUB.repos["test-org/synth-tiny"] = repo_from_dir(model_dir)
    try:
        snapshot = expect_ok(env.pull("test-org/synth-tiny"))
        names = sorted(os.listdir(model_dir))
        check(any(n.endswith(".safetensors.index.json") for n in names), "synth wrote shards: %s" % names)
        check(sorted(os.listdir(snapshot)) == names, "%s vs %s" % (os.listdir(snapshot), names))
        for name in names:
            with open(os.path.join(model_dir, name), "rb") as a, open(os.path.join(snapshot, name), "rb") as b:
                check(a.read() == b.read(), name + " differs after the round trip")
        check_tree(env.cache, "test-org/synth-tiny", names)
    finally:
        del HUB.repos["test-org/synth-tiny"]


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def serve_and_chat(model, env_vars, what):
    """Starts `kiln serve MODEL` on the CPU, waits for /health, sends one chat request, stops it
    with SIGTERM; returns the chat response body."""
    import urllib.error
    import urllib.request
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([KILN, "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
                             "--kv-cache-memory", "64MiB", "--max-model-len", "2048", "--drain-timeout", "2"],
                            env=env_vars, stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port

    def output():
        log.seek(0)
        return log.read()
    try:
        deadline = time.time() + 120
        while True:
            check(proc.poll() is None, "%s: kiln serve exited with %s:\n%s" % (what, proc.returncode, output()))
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                pass
            check(time.time() < deadline, "%s: /health never turned 200:\n%s" % (what, output()))
            time.sleep(0.2)
        body = json.dumps({"model": model, "max_tokens": 8, "temperature": 0,
                           "messages": [{"role": "user", "content": "Hello from the fake Hub"}]}).encode()
        request = urllib.request.Request(base + "/v1/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as r:
            reply = json.load(r)
        return reply
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_serve_pulls_the_model_and_answers_a_chat(env):
    # `kiln serve org/name` on a model that is not cached pulls it from the (fake) Hub into
    # HF_HOME, then answers; a second start with HF_HUB_OFFLINE=1 serves it from the cache alone.
    # The model: the demo model's architecture and vocabulary shrunk further (width 64, one
    # layer), random weights from `kiln synth`, and the real DeepSeek-R1-Distill tokenizer.
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    tokenizer = os.path.join(os.path.dirname(KILN), "models", "deepseek-tokenizer")
    check(os.path.isfile(os.path.join(tokenizer, "tokenizer.json")),
          "%s is missing (scripts/make-tokenizer.sh BUILD makes it)" % tokenizer)
    with open(os.path.join(root, "models", "demo", "config.json")) as f:
        config = json.load(f)
    config.update({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "head_dim": 16})
    config_path = os.path.join(env.home, "served-tiny.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    model_dir = os.path.join(env.home, "served-tiny")
    made = subprocess.run([KILN, "synth", "--config", config_path, "--out", model_dir, "--tokenizer", tokenizer,
                           "--seed", "5", "--dtype", "bf16"], capture_output=True, text=True, timeout=120)
    check(made.returncode == 0, "kiln synth failed: " + made.stderr)
    repo_id = "test-org/served-tiny"
    HUB.repos[repo_id] = repo_from_dir(model_dir)
    try:
        reply = serve_and_chat(repo_id, env.vars(), "serve from the Hub")
        check(reply["object"] == "chat.completion" and reply["model"] == repo_id, reply)
        check(reply["usage"]["completion_tokens"] >= 1 and reply["choices"][0]["finish_reason"] in ("length", "stop"),
              reply)
        check(isinstance(reply["choices"][0]["message"]["content"], str), reply)
        check(len(HUB.requests("/cdn/")) == 1, "the weights came from the Hub once: %s" % HUB.requests("/cdn/"))
        commit = HUB.repos[repo_id].commit
        snapshot = os.path.join(env.cache, "models--test-org--served-tiny", "snapshots", commit)
        check(os.path.isfile(os.path.join(snapshot, "model.safetensors")), "pulled into the HF cache")
        HUB.clear_log()
        offline = serve_and_chat(repo_id, env.vars(HF_HUB_OFFLINE="1"), "serve offline from the cache")
        check(offline["usage"]["completion_tokens"] >= 1, offline)
        check(not HUB.log, "offline serve made requests: %s" % HUB.log)
        # temperature 0 on the same weights: the cached model is the same model.
        check(offline["choices"][0]["message"]["content"] == reply["choices"][0]["message"]["content"],
              "%r vs %r" % (offline["choices"][0]["message"], reply["choices"][0]["message"]))
    finally:
        del HUB.repos[repo_id]


def test_fake_hub_tree_api(env):
    # The tree API huggingface_hub's snapshot_download lists a revision with (used by
    # tools/hub/make_hf_cache_golden.py): what the fake Hub answers must match its files.
    import urllib.error
    import urllib.request

    def tree(url):
        with urllib.request.urlopen(HUB.endpoint + url, timeout=5) as r:
            check(r.headers["X-Repo-Commit"] == HUB.repos[REPO].commit, "X-Repo-Commit")
            return json.load(r)
    repo = HUB.repos[REPO]
    entries = tree("/api/models/%s/tree/main?recursive=true&expand=false" % REPO)
    files = {e["path"]: e for e in entries if e["type"] == "file"}
    folders = sorted(e["path"] for e in entries if e["type"] == "directory")
    check(sorted(files) == sorted(repo.files), "every file listed: %s" % sorted(files))
    check(folders == ["extra", "extra/nested", "original"], folders)
    shard = files["model-00001-of-00002.safetensors"]
    check(shard["lfs"]["oid"] == repo.etag("model-00001-of-00002.safetensors") and
          shard["size"] == len(repo.files["model-00001-of-00002.safetensors"]), shard)
    check("lfs" not in files["config.json"] and files["config.json"]["oid"] == repo.etag("config.json"),
          files["config.json"])
    top = tree("/api/models/%s/tree/v1.0" % REPO)
    check(sorted(e["path"] for e in top if e["type"] == "directory") == ["extra", "original"], top)
    check(not any("/" in e["path"] for e in top), "not recursive: %s" % top)
    nested = tree("/api/models/%s/tree/main/extra?recursive=true" % REPO)
    check([e["path"] for e in nested] == ["extra/nested", "extra/nested/notes.json"], nested)
    for url, code in (("/api/models/test-org/nope/tree/main", "RepoNotFound"),
                      ("/api/models/%s/tree/no-branch" % REPO, "RevisionNotFound")):
        try:
            urllib.request.urlopen(HUB.endpoint + url, timeout=5)
            check(False, url + " answered 200")
        except urllib.error.HTTPError as error:
            check(error.code == 404 and error.headers["X-Error-Code"] == code, "%s: %s" % (url, error))


def closed_port_endpoint():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d" % port


def main():
    global KILN, HUB
    KILN = os.path.abspath(sys.argv[1])
    selected = sys.argv[2:]
    HUB = FakeHub().start()
    tests = [(name, fn) for name, fn in globals().items() if name.startswith("test_") and callable(fn)]
    failures = 0
    start = time.time()
    for name, fn in tests:
        if selected and name not in selected:
            continue
        HUB.reset_switches()
        HUB.clear_log()
        env = Env()
        t0 = time.time()
        try:
            fn(env)
            print("PASS %-45s %.1f s" % (name, time.time() - t0), flush=True)
        except Exception as error:  # noqa: BLE001 - report every failure and carry on
            failures += 1
            print("FAIL %-45s %s" % (name, error), flush=True)
        finally:
            env.close()
    HUB.stop()
    print("hub suite: %d failed, %.1f s" % (failures, time.time() - start))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
