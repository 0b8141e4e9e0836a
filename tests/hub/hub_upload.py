"""The Hub's upload routes for tests/hub/fault_hub.py (tests only).

What huggingface_hub speaks with Xet off (HF_HUB_DISABLE_XET=1), and what
mlxk-push speaks:

    POST /api/repos/create                         {"name","organization","private"} -> {"url"}; 409 if it exists
    GET  /api/models/ORG/NAME                      repo info at main
    POST /api/models/ORG/NAME/branch/BRANCH        {"startingPoint"?}
    POST /api/models/ORG/NAME/preupload/REV        {"files":[{"path","sample","size"}]} -> uploadMode, oid
    POST /api/validate-yaml                        README front matter check (always fine here)
    POST /ORG/NAME.git/info/lfs/objects/batch      LFS batch: basic PUT, or multipart above a threshold
    PUT  /_lfs/put/OID                             basic transfer (Content-Length required, as S3)
    PUT  /_lfs/part/OID/N                          one part of a multipart transfer -> ETag
    POST /_lfs/complete/OID                        {"oid","parts":[{"partNumber","etag"}]}
    POST /_lfs/verify/OID                          {"oid","size"}
    POST /api/models/ORG/NAME/commit/REV           NDJSON: header, file, lfsFile, deletedFile

A new repository starts with a commit adding the Hub's default .gitattributes.
Files are LFS when .gitattributes marks them, when they are over 10 MiB, or
when their sample holds a NUL byte. Objects above `multipart_threshold` get a
multipart transfer with `chunk_size` parts. Uploaded LFS objects live under the
server's store directory; everything else is in memory.
"""
import base64
import fnmatch
import hashlib
import json
import os
import re
import socket
import threading

REGULAR_MAX = 10 * 1024 * 1024

# The .gitattributes a new Hub model repository starts with.
DEFAULT_GITATTRIBUTES = "".join(
    f"{p} filter=lfs diff=lfs merge=lfs -text\n"
    for p in [
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib",
        "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot",
        "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors",
        "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip",
        "*.zst", "*tfevents*",
    ]
).encode()


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def pointer(oid, size):
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def lfs_patterns(gitattributes):
    out = []
    for line in gitattributes.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) > 1 and "filter=lfs" in parts[1:]:
            out.append(parts[0])
    return out


def matches_lfs(path, patterns):
    base = path.rsplit("/", 1)[-1]
    for p in patterns:
        target = path if "/" in p else base
        if fnmatch.fnmatch(target, p):
            return True
    return False


def regular_entry(data):
    return {"oid": git_sha1(data), "size": len(data), "lfs": None, "data": data}


def lfs_entry(oid, size, source):
    ptr = pointer(oid, size)
    return {"oid": git_sha1(ptr), "size": len(ptr), "data": None, "source": source,
            "lfs": {"oid": oid, "size": size, "pointerSize": len(ptr)}}


class Upload:
    """Server-side upload state, shared by all handler threads (under State.lock)."""

    def __init__(self, store):
        self.store = store
        os.makedirs(os.path.join(store, "lfs"), exist_ok=True)
        os.makedirs(os.path.join(store, "parts"), exist_ok=True)
        self.multipart_threshold = 8 * 1024 * 1024
        self.chunk_size = 8 * 1024 * 1024
        # Where upload hrefs point (another origin: storage); None: this server.
        self.lfs_base = None
        self.objects = {}  # sha256 -> path of the stored object
        self.counter = 0

    def object_path(self, oid):
        return os.path.join(self.store, "lfs", oid)

    def lookup(self, oid):
        """The stored object: uploaded here, or by a storage server sharing the store."""
        path = self.objects.get(oid)
        if path is None and os.path.exists(self.object_path(oid)):
            path = self.objects[oid] = self.object_path(oid)
        return path


def endpoint(handler):
    return f"http://{handler.headers.get('Host')}"


def read_body(handler, route_path):
    """The request body, counting bytes; None when the connection was cut (a fault)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        handler.error(411, "", "Content-Length required")
        return None
    length = int(handler.headers.get("Content-Length") or 0)
    fault = handler.state.take_fault({"drop_upload", "hold_upload"}, route_path, handler.command)
    chunks, got = [], 0
    while got < length:
        want = min(length - got, 1 << 20)
        if fault and got < fault["after"] <= got + want:
            want = fault["after"] - got
        chunk = handler.rfile.read(want)
        if not chunk:
            handler.close_connection = True
            return None
        chunks.append(chunk)
        got += len(chunk)
        handler.state.count_received(route_path, len(chunk))
        if fault and got == fault["after"]:
            held = fault["mode"] == "hold_upload"
            if held:
                with handler.state.lock:
                    handler.state.holding += 1
                handler.state.release.wait()
            handler.record(0)  # before `holding` drops, so a test that waits for it sees the record
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            handler.close_connection = True
            if held:
                with handler.state.lock:
                    handler.state.holding -= 1
            return None
    return b"".join(chunks)


def write_authorized(handler):
    """Writes need a token: the configured one, else any."""
    auth = handler.headers.get("Authorization") or ""
    token = handler.state.token
    ok = auth == f"Bearer {token}" if token is not None else auth.startswith("Bearer ") and len(auth) > 7
    if not ok:
        handler.error(401, "", "Invalid credentials in Authorization header")
    return ok


def api_fault(handler, repo_id):
    fault = handler.state.take_fault({"api_status"}, repo_id)
    if fault:
        status = fault["status"]
        code = {401: "GatedRepo", 403: "GatedRepo", 404: "RepoNotFound"}.get(status, "")
        handler.error(status, code, f"fault {status}")
        return True
    return False


def json_body(handler, path):
    body = read_body(handler, path)
    if body is None:
        return None
    try:
        return json.loads(body or b"{}")
    except ValueError:
        handler.error(400, "", "body is not JSON")
        return None


def handle_post(handler, path):
    """Routes POST; False when the path is not an upload route."""
    st = handler.state
    if path == "/api/repos/create":
        body = json_body(handler, path)
        if body is None or not write_authorized(handler):
            return True
        org, name = body.get("organization"), body.get("name")
        repo_id = f"{org}/{name}" if org else name
        if api_fault(handler, repo_id):
            return True
        private = bool(body.get("private")) or body.get("visibility") == "private"
        with st.lock:  # never answer while holding the lock: answering records under it
            exists = repo_id in st.repos
            if not exists:
                st.repos[repo_id] = st.new_repo(repo_id, private=private)
        if exists:  # the Hub's 409 carries the url (huggingface_hub's exist_ok reads it)
            message = "You already created this model repo"
            handler.send_json(409, {"error": message, "url": f"{endpoint(handler)}/{repo_id}"},
                              [("X-Error-Message", message)])
            return True
        handler.send_json(200, {"url": f"{endpoint(handler)}/{repo_id}", "name": repo_id, "id": repo_id})
        return True
    if path == "/api/validate-yaml":
        if json_body(handler, path) is None:
            return True
        handler.send_json(200, {"errors": [], "warnings": []})
        return True
    m = re.match(r"^/api/models/([^/]+/[^/]+)/(preupload|commit|branch)/(.+)$", path)
    if m:
        repo_id, kind, rev = m.groups()
        body = read_body(handler, path)
        if body is None or not write_authorized(handler) or api_fault(handler, repo_id):
            return True
        repo = st.repos.get(repo_id)
        if repo is None:
            handler.error(404, "RepoNotFound", "Repository not found")
            return True
        if kind == "branch":
            return branch(handler, repo, rev, body)
        commit = repo.resolve(rev)
        if commit is None and not (kind == "commit" and rev in repo.branches):
            handler.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return True
        if kind == "preupload":
            return preupload(handler, repo, commit, body)
        return commit_route(handler, repo, rev, body)
    m = re.match(r"^/([^/]+/[^/]+)\.git/info/lfs/objects/batch$", path)
    if m:
        body = read_body(handler, path)
        if body is None or not write_authorized(handler) or api_fault(handler, m.group(1)):
            return True
        if m.group(1) not in st.repos:
            handler.error(404, "RepoNotFound", "Repository not found")
            return True
        return batch(handler, json.loads(body))
    m = re.match(r"^/_lfs/(complete|verify)/([0-9a-f]{64})$", path)
    if m:
        body = read_body(handler, path)
        if body is None:
            return True
        kind, oid = m.groups()
        if kind == "complete":
            return complete(handler, oid, json.loads(body))
        if not write_authorized(handler):
            return True
        size = json.loads(body).get("size")
        stored = st.upload.lookup(oid)
        if stored is None or os.path.getsize(stored) != size:
            handler.error(404, "", f"object {oid} is not stored")
        else:
            handler.send_json(200, {"oid": oid, "size": size})
        return True
    return False


def handle_put(handler, path):
    m = re.match(r"^/_lfs/(put|part)/([0-9a-f]{64})(?:/(\d+))?$", path)
    if not m:
        return False
    kind, oid, part = m.groups()
    body = read_body(handler, path)
    if body is None:
        return True
    up = handler.state.upload
    if kind == "part":
        d = os.path.join(up.store, "parts", oid)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f"{int(part)}.tmp{threading.get_ident()}")
        with open(tmp, "wb") as f:
            f.write(body)
        os.replace(tmp, os.path.join(d, str(int(part))))
        etag = '"' + hashlib.md5(body).hexdigest() + '"'
        handler.send_json(200, {}, [("ETag", etag)])
        return True
    if hashlib.sha256(body).hexdigest() != oid:
        handler.error(400, "", "sha256 of the body does not match the object id")
        return True
    store_object(handler.state, oid, [body])
    handler.send_json(200, {}, [("ETag", '"' + hashlib.md5(body).hexdigest() + '"')])
    return True


def store_object(st, oid, pieces):
    up = st.upload
    tmp = up.object_path(oid) + f".tmp{threading.get_ident()}"
    with open(tmp, "wb") as f:
        for p in pieces:
            f.write(p if isinstance(p, bytes) else open(p, "rb").read())
    os.replace(tmp, up.object_path(oid))
    with st.lock:
        up.objects[oid] = up.object_path(oid)
        st.lfs_stored.append(oid)


def batch(handler, body):
    st, up = handler.state, handler.state.upload
    hub = endpoint(handler)
    base = up.lfs_base or hub
    out = []
    for obj in body.get("objects", []):
        oid, size = obj["oid"], obj["size"]
        item = {"oid": oid, "size": size, "authenticated": True}
        if up.lookup(oid) is None:
            verify = {"href": f"{hub}/_lfs/verify/{oid}"}
            if size > up.multipart_threshold:
                n = (size + up.chunk_size - 1) // up.chunk_size
                header = {"chunk_size": str(up.chunk_size)}
                header.update({f"{i:05d}": f"{base}/_lfs/part/{oid}/{i}" for i in range(1, n + 1)})
                item["actions"] = {"upload": {"href": f"{base}/_lfs/complete/{oid}", "header": header},
                                   "verify": verify}
            else:
                item["actions"] = {"upload": {"href": f"{base}/_lfs/put/{oid}"}, "verify": verify}
        out.append(item)
    body = json.dumps({"transfer": "basic", "objects": out}).encode()
    handler.record(200)
    handler.send_response(200)
    handler.send_header("Content-Type", "application/vnd.git-lfs+json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    return True


def complete(handler, oid, body):
    up = handler.state.upload
    d = os.path.join(up.store, "parts", oid)
    paths = []
    for i, p in enumerate(sorted(body.get("parts", []), key=lambda p: p["partNumber"])):
        path = os.path.join(d, str(p["partNumber"]))
        if p["partNumber"] != i + 1 or not os.path.exists(path):
            handler.error(400, "", f"part {p['partNumber']} was not uploaded")
            return True
        data = open(path, "rb").read()
        if '"' + hashlib.md5(data).hexdigest() + '"' != p.get("etag"):
            handler.error(400, "", f"part {p['partNumber']}: wrong ETag")
            return True
        paths.append(path)
    h = hashlib.sha256()
    for p in paths:
        h.update(open(p, "rb").read())
    if h.hexdigest() != oid:
        handler.error(400, "", "the parts do not make up the object")
        return True
    store_object(handler.state, oid, paths)
    handler.send_json(200, {})
    return True


def preupload(handler, repo, commit, body):
    files = repo.commits[commit]
    attrs = files.get(".gitattributes")
    patterns = lfs_patterns(attrs["data"]) if attrs and attrs["data"] else []
    out = []
    for f in json.loads(body).get("files", []):
        sample = base64.b64decode(f.get("sample", ""))
        lfs = f["size"] > REGULAR_MAX or matches_lfs(f["path"], patterns) or b"\0" in sample
        item = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
        old = files.get(f["path"])
        if old is not None:
            item["oid"] = old["lfs"]["oid"] if old["lfs"] else old["oid"]
        out.append(item)
    handler.send_json(200, {"files": out, "commitOid": commit})
    return True


def branch(handler, repo, name, body):
    start = json.loads(body or b"{}").get("startingPoint") or "main"
    commit = repo.resolve(start)
    if commit is None:
        handler.error(404, "RevisionNotFound", f"Invalid rev id: {start}")
    elif name in repo.branches:
        handler.error(409, "", f"Branch {name} already exists")
    else:
        with handler.state.lock:
            repo.branches[name] = commit
        handler.send_json(200, {})
    return True


def commit_route(handler, repo, rev, body):
    st = handler.state
    if "x-ndjson" not in (handler.headers.get("Content-Type") or ""):
        handler.error(400, "", "commit needs application/x-ndjson")
        return True
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    if not lines or lines[0].get("key") != "header":
        handler.error(400, "", "the first line must be the header")
        return True
    header = lines[0]["value"]
    # Never answer while holding the lock (answering records under it).
    with st.lock:
        outcome = apply_commit(st, repo, rev, header, lines[1:])
    if isinstance(outcome, tuple):
        handler.error(*outcome)
        return True
    sha = outcome
    handler.send_json(200, {"success": True, "commitOid": sha,
                            "commitUrl": f"{endpoint(handler)}/{repo.id}/commit/{sha}",
                            "pullRequestUrl": None})
    return True


def apply_commit(st, repo, rev, header, lines):
    """The new commit's sha, or (status, code, message); called under st.lock."""
    head = repo.branches.get(rev)
    parent = header.get("parentCommit")
    if parent is not None and parent != head:
        return (412, "", "A commit has happened since. Please refresh and try again.")
    files = dict(repo.commits[head])
    ops = []
    for line in lines:
        key, value = line.get("key"), line.get("value", {})
        path = value.get("path", "")
        if key == "file":
            files[path] = regular_entry(base64.b64decode(value["content"]))
        elif key == "lfsFile":
            oid = value["oid"]
            stored = st.upload.lookup(oid)
            if stored is None:
                return (422, "", f"LFS object {oid} for {path} was never uploaded")
            files[path] = lfs_entry(oid, os.path.getsize(stored), stored)
        elif key == "deletedFile":
            if path not in files:
                return (404, "EntryNotFound", f"A file with this name doesn't exist: {path}")
            del files[path]
        else:
            return (400, "", f"unknown commit operation {key}")
        ops.append({"key": key, "path": path})
    sha = repo.add_commit(head, files, header.get("summary", ""))
    repo.branches[rev] = sha
    st.commits.append({"repo": repo.id, "revision": rev, "commit": sha, "summary": header.get("summary"),
                       "operations": ops})
    return sha


def route_fault(handler, path):
    """`route_status` faults: answer STATUS (with Retry-After) on matching routes."""
    f = handler.state.take_fault({"route_status"}, path, handler.command)
    if f is None:
        return False
    length = int(handler.headers.get("Content-Length") or 0)
    if length:
        handler.rfile.read(length)
    extra = [("Retry-After", str(f["retry_after"]))] if "retry_after" in f else []
    handler.send_json(f["status"], {"error": f"fault {f['status']}"}, [("X-Error-Message", "fault"), *extra])
    return True
