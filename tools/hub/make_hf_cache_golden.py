"""Records the cache huggingface_hub itself leaves after snapshot_download from the fake Hub
(tests/hub/fake_hub.py), so the hub suite can check `kiln pull` against the real library's
layout byte for byte (tests/hub/golden/huggingface_hub_tree.json).

Run on a machine with huggingface_hub installed (the GPU machine; no network needed, the fake
Hub listens on 127.0.0.1):
    python3 tools/hub/make_hf_cache_golden.py
It writes tests/hub/golden/huggingface_hub_tree.json; commit that file.
"""

import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "hub"))

from fake_hub import FakeHub  # noqa: E402

# kiln pull's default selection (src/hub/file_selection.cc), as allow_patterns.
DEFAULT_PATTERNS = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                    "special_tokens_map.json", "*.safetensors", "model.safetensors.index.json"]


def main():
    hub = FakeHub().start()
    home = tempfile.mkdtemp(prefix="hf-golden-")
    os.environ.update({"HF_ENDPOINT": hub.endpoint, "HF_HOME": home, "HF_HUB_DISABLE_XET": "1",
                       "HF_HUB_DISABLE_TELEMETRY": "1", "NO_PROXY": "127.0.0.1,localhost"})
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE"):
        os.environ.pop(name, None)
    import huggingface_hub  # after the environment: constants are read at import
    from test_pull import actual_tree  # the suite's own tree walker

    path = huggingface_hub.snapshot_download("test-org/tiny-model", allow_patterns=DEFAULT_PATTERNS)
    cache = os.path.join(home, "hub")
    tree = actual_tree(cache)
    out = {
        "huggingface_hub_version": huggingface_hub.__version__,
        "repo": "test-org/tiny-model",
        "snapshot": os.path.relpath(path, cache),
        "tree": {k: list(v) for k, v in sorted(tree.items())},
    }
    golden_dir = os.path.join(ROOT, "tests", "hub", "golden")
    os.makedirs(golden_dir, exist_ok=True)
    with open(os.path.join(golden_dir, "huggingface_hub_tree.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote tests/hub/golden/huggingface_hub_tree.json (%d entries, huggingface_hub %s)" %
          (len(tree), huggingface_hub.__version__))
    hub.stop()


if __name__ == "__main__":
    main()
