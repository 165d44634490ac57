"""A fake Hugging Face Hub for kiln's tests: the URLs, headers, redirects and Range semantics
huggingface_hub relies on, with switches for the failures kiln must survive or explain.

Served:
  GET  /api/models/{org}/{name}/revision/{rev}      {"sha", "siblings": [{"rfilename", "size", "lfs"}]}
  GET  /api/models/{org}/{name}/tree/{rev}[/{path}]  [{"type", "oid", "size", "path", "lfs"?}] (the tree API
                                                    of huggingface_hub's list_repo_tree / snapshot_download;
                                                    ?recursive=true lists subfolders too)
  HEAD|GET /{org}/{name}/resolve/{rev}/{path}       regular files: 200, ETag "<git sha1>";
                                                    LFS files: 302 to /cdn/<sha256> (absolute URL on
                                                    host `localhost`, i.e. another origin, so the
                                                    client must drop the token), X-Linked-Etag,
                                                    X-Linked-Size; X-Repo-Commit always
  HEAD|GET /cdn/{sha256}                            the LFS content, Accept-Ranges, 206 + Content-Range
  POST /_control  (JSON, merged into the switches)  GET /_log (the request log)
Errors carry X-Error-Code as the Hub does: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo.

Run standalone: python3 fake_hub.py [--port N] [--model-dir DIR REPO_ID]  (prints the port).
"""

import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def pseudo_random_bytes(seed, size):
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b"%s-%d" % (seed.encode(), counter)).digest()
        counter += 1
    return bytes(out[:size])


class Repo:
    """Files of one repository at one commit; LFS files are served through the CDN path."""

    def __init__(self, commit, files, lfs, refs=None, gated_token=None, announced_sizes=None):
        self.commit = commit
        self.files = files  # path -> bytes
        self.lfs = set(lfs)
        self.refs = refs or {"main": commit}
        self.gated_token = gated_token
        self.announced_sizes = announced_sizes or {}  # path -> size claimed instead of len()

    def etag(self, path):
        data = self.files[path]
        return hashlib.sha256(data).hexdigest() if path in self.lfs else git_blob_sha1(data)

    def size(self, path):
        return self.announced_sizes.get(path, len(self.files[path]))


def tiny_model_repo():
    files = {
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 64}).encode(),
        "generation_config.json": b'{"temperature": 0.6, "top_p": 0.95}',
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE"}}).encode() * 50,
        "tokenizer_config.json": b'{"bos_token": "<s>"}',
        "special_tokens_map.json": b'{"bos_token": "<s>"}',
        "model-00001-of-00002.safetensors": pseudo_random_bytes("shard1", 3 * 1024 * 1024 + 17),
        "model-00002-of-00002.safetensors": pseudo_random_bytes("shard2", 1024 * 1024 + 5),
        "model.safetensors.index.json": b'{"metadata": {}, "weight_map": {}}',
        "pytorch_model.bin": pseudo_random_bytes("bin", 200 * 1024),
        "original/consolidated.00.pth": pseudo_random_bytes("pth", 100 * 1024),
        "README.md": b"# tiny model\n",
        "extra/nested/notes.json": b'{"nested": true}',
    }
    lfs = [p for p in files if p.endswith((".safetensors", ".bin", ".pth"))]
    commit = "a" * 8 + hashlib.sha1(b"tiny-model").hexdigest()[8:]
    return Repo(commit, files, lfs, refs={"main": commit, "v1.0": commit})


def repo_from_dir(directory):
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, directory).replace(os.sep, "/")
            with open(full, "rb") as f:
                files[rel] = f.read()
    lfs = [p for p in files if p.endswith((".safetensors", ".bin", ".pth", ".gguf"))]
    commit = hashlib.sha1(b"".join(k.encode() + files[k] for k in sorted(files))).hexdigest()
    return Repo(commit, files, lfs)


class FakeHub:
    def __init__(self, port=0):
        self.repos = {"test-org/tiny-model": tiny_model_repo()}
        gated = tiny_model_repo()
        gated.gated_token = "hf_fake_valid_token_123"
        self.repos["test-org/gated-model"] = gated
        huge = tiny_model_repo()
        huge.announced_sizes["model-00001-of-00002.safetensors"] = 1 << 50
        self.repos["test-org/huge-model"] = huge
        # A renamed repo: the Hub answers its old name with a relative redirect to the new one.
        self.aliases = {"old-org/tiny-model": "test-org/tiny-model"}
        self.lock = threading.Lock()
        self.log = []
        self.reset_switches()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                hub.handle(self, head=False)

            def do_HEAD(self):
                hub.handle(self, head=True)

            def do_POST(self):
                hub.handle_post(self)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # Clients hang up on purpose in these tests (timeouts, aborted downloads).
                if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reset_switches(self):
        with self.lock:
            self.switches = {
                "fail_status": 0,        # HTTP status to fail with (500, 503, 429) ...
                "fail_count": 0,         # ... for this many requests to /resolve and /cdn
                "drop_after": -1,        # next /cdn GET sends this many body bytes, then closes
                "corrupt": False,        # /cdn serves LFS content with one byte flipped
                "stall_after": -1,       # next /cdn GET stalls after this many bytes ...
                "stall_s": 0.0,          # ... for this long
                "slow_chunk_s": 0.0,     # pause between 64 KiB chunks on /cdn
                "force_status": 0,       # every /resolve and /api request answers this (401/403)
            }

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def requests(self, prefix=""):
        with self.lock:
            return [r for r in self.log if r["path"].startswith(prefix)]

    def clear_log(self):
        with self.lock:
            self.log.clear()

    def set(self, **switches):
        with self.lock:
            self.switches.update(switches)

    # --- request handling ---

    def send(self, handler, status, headers=None, body=b"", head=False):
        handler.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if not head and body:
            handler.wfile.write(body)

    def error(self, handler, status, code, message, head, extra=None):
        headers = {"Content-Type": "application/json"}
        if code:
            headers["X-Error-Code"] = code
        headers["X-Error-Message"] = message
        headers.update(extra or {})
        self.send(handler, status, headers, json.dumps({"error": message}).encode(), head)

    def take_failure(self):
        with self.lock:
            if self.switches["fail_count"] > 0:
                self.switches["fail_count"] -= 1
                return self.switches["fail_status"]
        return 0

    def handle_post(self, handler):
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        if handler.path == "/_control":
            self.set(**json.loads(body or b"{}"))
            self.send(handler, 200, {"Content-Type": "application/json"}, b"{}")
        elif handler.path == "/_reset":
            self.reset_switches()
            self.send(handler, 200, {}, b"{}")
        else:
            self.error(handler, 404, None, "not found", False)

    def handle(self, handler, head):
        parsed = urllib.parse.urlsplit(handler.path)
        path = urllib.parse.unquote(parsed.path)
        entry = {
            "method": "HEAD" if head else "GET",
            "path": path,
            "query": parsed.query,
            "range": handler.headers.get("Range"),
            "authorization": handler.headers.get("Authorization"),
            "host": handler.headers.get("Host"),
        }
        with self.lock:
            self.log.append(entry)
        if path == "/_log":
            with self.lock:
                body = json.dumps(self.log).encode()
            return self.send(handler, 200, {"Content-Type": "application/json"}, body, head)
        if path.startswith("/api/models/") and "/tree/" in path:
            return self.handle_tree(handler, path[len("/api/models/"):], parsed.query, head)
        if path.startswith("/api/models/"):
            return self.handle_info(handler, path[len("/api/models/"):], head)
        if path.startswith("/cdn/"):
            return self.handle_cdn(handler, path[len("/cdn/"):], head)
        parts = path.lstrip("/").split("/", 4)
        if len(parts) == 5 and parts[2] == "resolve":
            return self.handle_resolve(handler, parts[0] + "/" + parts[1], parts[3], parts[4], head)
        self.error(handler, 404, None, "not found", head)

    def find(self, handler, repo_id, revision, head):
        """The repo and commit, or None after sending the Hub's error."""
        forced = self.switches["force_status"]
        if forced:
            self.error(handler, forced, None, "forced by the test", head)
            return None, None
        repo = self.repos.get(repo_id)
        if repo is None:
            self.error(handler, 404, "RepoNotFound", "Repository not found", head)
            return None, None
        commit = revision if revision == repo.commit else repo.refs.get(revision)
        if commit is None:
            self.error(handler, 404, "RevisionNotFound", "Invalid rev id: " + revision, head)
            return None, None
        return repo, commit

    def handle_tree(self, handler, rest, query, head):
        """The tree API: the entries under a folder (all below it with ?recursive=true), folders
        first-class as the Hub lists them, LFS files with their sha256 under "lfs"."""
        repo_id, _, tail = rest.partition("/tree/")
        revision, _, folder = tail.partition("/")
        revision = urllib.parse.unquote(revision)
        folder = folder.strip("/")
        if repo_id in self.aliases:
            location = "/api/models/%s/tree/%s" % (self.aliases[repo_id], tail)
            return self.send(handler, 307, {"Location": location}, b"", head)
        repo, commit = self.find(handler, repo_id, revision, head)
        if repo is None:
            return
        recursive = urllib.parse.parse_qs(query).get("recursive", ["false"])[0].lower() == "true"
        prefix = folder + "/" if folder else ""
        if folder and not any(p.startswith(prefix) for p in repo.files):
            return self.error(handler, 404, "EntryNotFound", "%s does not exist on %s" % (folder, revision), head)
        entries = {}
        for path in sorted(repo.files):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            # Every folder on the way (only the first level when not recursive).
            for depth in range(1, len(parts)):
                if depth > 1 and not recursive:
                    break
                directory = prefix + "/".join(parts[:depth])
                entries.setdefault(directory, {"type": "directory", "oid": git_blob_sha1(directory.encode()),
                                               "size": 0, "path": directory})
            if len(parts) > 1 and not recursive:
                continue
            entry = {"type": "file", "oid": git_blob_sha1(repo.files[path]), "size": repo.size(path), "path": path}
            if path in repo.lfs:
                entry["lfs"] = {"oid": repo.etag(path), "size": repo.size(path), "pointerSize": 134}
            entries[path] = entry
        body = json.dumps([entries[k] for k in sorted(entries)]).encode()
        self.send(handler, 200, {"Content-Type": "application/json", "X-Repo-Commit": commit}, body, head)

    def handle_info(self, handler, rest, head):
        if "/revision/" not in rest:
            return self.error(handler, 404, None, "not found", head)
        repo_id, revision = rest.split("/revision/", 1)
        if repo_id in self.aliases:
            location = "/api/models/%s/revision/%s" % (self.aliases[repo_id], revision)
            return self.send(handler, 307, {"Location": location}, b"", head)
        repo, commit = self.find(handler, repo_id, revision, head)
        if repo is None:
            return
        siblings = []
        for path in sorted(repo.files):
            sibling = {"rfilename": path, "size": repo.size(path), "blobId": git_blob_sha1(repo.files[path])}
            if path in repo.lfs:
                sibling["lfs"] = {"sha256": repo.etag(path), "size": repo.size(path), "pointerSize": 134}
            siblings.append(sibling)
        body = json.dumps({"id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                           "gated": "manual" if repo.gated_token else False, "siblings": siblings}).encode()
        self.send(handler, 200, {"Content-Type": "application/json"}, body, head)

    def handle_resolve(self, handler, repo_id, revision, path, head):
        if repo_id in self.aliases:
            location = "/%s/resolve/%s/%s" % (self.aliases[repo_id], revision, urllib.parse.quote(path))
            return self.send(handler, 307, {"Location": location}, b"", head)
        status = self.take_failure()
        if status:
            return self.error(handler, status, None, "transient failure", head)
        repo, commit = self.find(handler, repo_id, revision, head)
        if repo is None:
            return
        common = {"X-Repo-Commit": commit}
        if repo.gated_token and handler.headers.get("Authorization") != "Bearer " + repo.gated_token:
            return self.error(handler, 401, "GatedRepo", "Access to model %s is restricted." % repo_id,
                              head, common)
        if path not in repo.files:
            return self.error(handler, 404, "EntryNotFound", "Entry not found", head, common)
        etag = repo.etag(path)
        if path in repo.lfs:
            location = "http://localhost:%d/cdn/%s?expires=1" % (self.port, etag)
            headers = dict(common)
            headers.update({"Location": location, "X-Linked-Etag": '"%s"' % etag,
                            "X-Linked-Size": str(repo.size(path)),
                            "ETag": '"%s"' % git_blob_sha1(b"pointer " + etag.encode()),
                            "Content-Type": "text/plain"})
            return self.send(handler, 302, headers, b"Found. Redirecting to " + location.encode(), head)
        headers = dict(common)
        headers.update({"ETag": '"%s"' % etag, "Accept-Ranges": "bytes",
                        "Content-Type": "application/octet-stream"})
        self.send_content(handler, repo.files[path], headers, head)

    def handle_cdn(self, handler, etag, head):
        status = self.take_failure()
        if status:
            return self.error(handler, status, None, "transient failure", head)
        for repo in self.repos.values():
            for path in repo.lfs:
                if repo.etag(path) == etag:
                    data = repo.files[path]
                    if self.switches["corrupt"]:
                        data = bytes([data[0] ^ 0xFF]) + data[1:]
                    return self.send_content(handler, data, {"Accept-Ranges": "bytes",
                                                             "Content-Type": "binary/octet-stream"},
                                             head, cdn=True)
        self.error(handler, 404, None, "no such blob", head)

    def send_content(self, handler, data, headers, head, cdn=False):
        start = 0
        status = 200
        range_header = handler.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            first = range_header[len("bytes="):].split("-")[0]
            start = int(first) if first else 0
            if start >= len(data):
                return self.error(handler, 416, None, "range not satisfiable", head,
                                  {"Content-Range": "bytes */%d" % len(data)})
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        body = data[start:]
        handler.send_response(status)
        headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if head:
            return
        drop_after = stall_after = -1
        stall_s = slow = 0.0
        if cdn:
            # Each fault hits the next response long enough to show it, once.
            with self.lock:
                if 0 <= self.switches["drop_after"] < len(body):
                    drop_after, self.switches["drop_after"] = self.switches["drop_after"], -1
                if 0 <= self.switches["stall_after"] < len(body):
                    stall_after, self.switches["stall_after"] = self.switches["stall_after"], -1
                stall_s = self.switches["stall_s"]
                slow = self.switches["slow_chunk_s"]
        sent = 0
        chunk = 64 * 1024
        try:
            while sent < len(body):
                if 0 <= drop_after <= sent:
                    handler.wfile.flush()
                    handler.connection.shutdown(socket.SHUT_RDWR)
                    handler.close_connection = True
                    return
                if 0 <= stall_after <= sent:
                    stall_after = -1
                    handler.wfile.flush()
                    time.sleep(stall_s)
                piece = body[sent:sent + chunk]
                if drop_after > sent:
                    piece = piece[:drop_after - sent]
                if stall_after > sent:
                    piece = piece[:stall_after - sent]
                handler.wfile.write(piece)
                sent += len(piece)
                if slow:
                    handler.wfile.flush()
                    time.sleep(slow)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True


def main():
    port = 0
    model_dir = None
    args = sys.argv[1:]
    hub_repo = None
    while args:
        flag = args.pop(0)
        if flag == "--port":
            port = int(args.pop(0))
        elif flag == "--model-dir":
            model_dir = args.pop(0)
            hub_repo = args.pop(0)
    hub = FakeHub(port)
    if model_dir:
        hub.repos[hub_repo] = repo_from_dir(model_dir)
    print(hub.port, flush=True)
    try:
        hub.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
