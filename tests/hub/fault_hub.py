#!/usr/bin/env python3
"""A small Hub-protocol server that can misbehave on purpose (tests only).

    fault_hub.py MIRRORS_DIR PORT_FILE [STORE_DIR]

Serves the git repositories under MIRRORS_DIR/models/ORG/NAME (built by
make_repo.py, the same ones olah serves; the directory may be empty) on a free
loopback port, which it writes to PORT_FILE once it listens. It also takes
uploads (tests/hub/hub_upload.py: create, preupload, LFS batch with basic and
multipart transfers, commit); uploaded LFS objects are kept in STORE_DIR
(default: a temporary directory). Routes, as the Hub answers them:

    GET  /api/models/ORG/NAME                  repo info at main
    GET  /api/models/ORG/NAME/revision/REV     repo info (sha, siblings)
    GET  /api/models/ORG/NAME/tree/REV         recursive file listing (lfs oid/size)
    HEAD /ORG/NAME/resolve/REV/PATH            ETag, X-Repo-Commit, X-Linked-*
    GET  /ORG/NAME/resolve/REV/PATH            the file, honouring Range

Control (JSON bodies):
    POST /_control/fault   {"path": glob, "mode": ..., "after": N, "status": S, "times": K}
        modes: drop (close after N bytes), hold (send N bytes, then wait until
        released), ignore_range (answer 200 with the whole file), corrupt (flip
        the byte at offset N), status (answer S on the file routes), api_status
        (answer S on the api routes; path is then the repo id), tree_extra (add
        "entry" to the repo's tree listing; path is the repo id), route_status
        (answer S, with "retry_after" as Retry-After, on any route whose URL
        path matches; "method" narrows it), drop_upload (cut the connection
        after reading N bytes of a request body), hold_upload (read N bytes of
        the body, then wait until released and cut the connection).
        times: how many requests the fault applies to (default: all).
    POST /_control/token   {"token": "..."}   require "Authorization: Bearer ..."
    POST /_control/release                    let held responses finish
    POST /_control/reset                      clear faults, token and counters (repos stay)
    POST /_control/config  {"multipart_threshold": N, "chunk_size": M, "lfs_base": URL}
                           (lfs_base: upload hrefs on another server sharing STORE_DIR)
    GET  /_control/stats   {"bytes_sent": {path: n}, "bytes_received": {path: n},
                           "requests": [{method, path, range, status, auth, ua}], "holding": n,
                            "lfs_stored": [oid], "commits": [{repo, revision, commit, operations}]}
    GET  /_control/repo/ORG/NAME/REV   the repo's files: {path: {size, lfs, oid, sha256}}
"""
import fnmatch
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import hub_upload

LFS_POINTER = re.compile(rb"version https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize ([0-9]+)\n$")


class Repo:
    def __init__(self, path, repo_id, private=False):
        self.id = repo_id
        self.path = path
        self.private = private
        self.files = {}  # path -> dict(oid, size, lfs, source | data)
        if path is None:  # created through the API
            self.branches = {}
            self.commits = {}
            sha = self.add_commit(None, {".gitattributes": hub_upload.regular_entry(hub_upload.DEFAULT_GITATTRIBUTES)},
                                  "initial commit")
            self.branches["main"] = sha
            return
        head = self.git("rev-parse", "HEAD").decode().strip()
        self.branches = {"main": head}
        for line in self.git("ls-tree", "-r", "-l", "HEAD").decode().splitlines():
            meta, rel = line.split("\t", 1)
            _, _, oid, size = meta.split()
            entry = {"oid": oid, "size": int(size), "lfs": None, "data": None}
            data = self.git("cat-file", "blob", oid)
            m = LFS_POINTER.match(data) if 120 < len(data) < 150 else None
            if m:
                sha = m.group(1).decode()
                entry["lfs"] = {"oid": sha, "size": int(m.group(2)), "pointerSize": len(data)}
                entry["source"] = os.path.join(path, ".git", "lfs", "objects", sha[:2], sha[2:4], sha)
            else:
                entry["data"] = data
            self.files[rel] = entry
        self.commits = {head: self.files}

    @property
    def sha(self):
        return self.branches["main"]

    def resolve(self, rev):
        """The commit a branch or commit hash names, or None."""
        if rev in self.branches:
            return self.branches[rev]
        return rev if rev in self.commits else None

    def add_commit(self, parent, files, summary):
        h = hashlib.sha1(f"{self.id}\n{parent}\n{summary}\n{len(self.commits)}\n".encode())
        for rel in sorted(files):
            e = files[rel]
            h.update(f"{rel} {e['oid']}\n".encode())
        sha = h.hexdigest()
        self.commits[sha] = files
        return sha

    def git(self, *args):
        return subprocess.run(["git", *args], cwd=self.path, check=True, stdout=subprocess.PIPE).stdout

    def content_size(self, entry):
        return entry["lfs"]["size"] if entry["lfs"] else entry["size"]

    def etag(self, entry):
        return entry["lfs"]["oid"] if entry["lfs"] else entry["oid"]

    def tree(self, commit=None):
        files = self.commits[commit or self.sha]
        out, dirs = [], set()
        for rel in sorted(files):
            parts = rel.split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": d})
        for rel, e in sorted(files.items()):
            item = {"type": "file", "oid": e["oid"], "size": self.content_size(e), "path": rel}
            if e["lfs"]:
                item["lfs"] = e["lfs"]
            out.append(item)
        return out


class State:
    def __init__(self, mirrors, store):
        self.lock = threading.Lock()
        self.repos = {}
        self.upload = hub_upload.Upload(store)
        root = os.path.join(mirrors, "models")
        for org in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            for name in sorted(os.listdir(os.path.join(root, org))):
                rid = f"{org}/{name}"
                self.repos[rid] = Repo(os.path.join(root, org, name), rid)
        self.release = threading.Event()
        self.reset()

    def reset(self):
        with self.lock:
            self.faults = []
            self.token = None
            self.bytes_sent = {}
            self.bytes_received = {}
            self.requests = []
            self.holding = 0
            self.lfs_stored = []
            self.commits = []
        self.release.set()
        self.release = threading.Event()

    def new_repo(self, repo_id, private):
        return Repo(None, repo_id, private)

    def take_fault(self, kind_filter, key, method=None):
        with self.lock:
            for f in self.faults:
                if f.get("method") not in (None, method):
                    continue
                if f["mode"] in kind_filter and fnmatch.fnmatch(key, f.get("path", "*")):
                    if f.get("times") is not None:
                        if f["times"] <= 0:
                            continue
                        f["times"] -= 1
                    return dict(f)
        return None

    def count(self, key, n):
        with self.lock:
            self.bytes_sent[key] = self.bytes_sent.get(key, 0) + n

    def count_received(self, key, n):
        with self.lock:
            self.bytes_received[key] = self.bytes_received.get(key, 0) + n


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-hub/1"

    def log_message(self, *args):
        pass

    @property
    def state(self):
        return self.server.state

    def record(self, status):
        with self.state.lock:
            self.state.requests.append({
                "method": self.command, "path": urlsplit(self.path).path,
                "range": self.headers.get("Range"), "status": status,
                "auth": self.headers.get("Authorization"), "ua": self.headers.get("User-Agent"),
            })

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message):
        self.send_json(status, {"error": message}, [("X-Error-Code", code), ("X-Error-Message", message)])

    def authorized(self):
        token = self.state.token
        return token is None or self.headers.get("Authorization") == f"Bearer {token}"

    # -- control -------------------------------------------------------
    def control(self, what):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        st = self.state
        if what == "fault":
            with st.lock:
                st.faults.append(body)
        elif what == "token":
            st.token = body.get("token")
        elif what == "release":
            st.release.set()
        elif what == "reset":
            st.reset()
        elif what == "config":
            for key in ("multipart_threshold", "chunk_size"):
                if key in body:
                    setattr(st.upload, key, int(body[key]))
            if "lfs_base" in body:
                st.upload.lfs_base = body["lfs_base"]
        elif what == "stats":
            with st.lock:
                stats = {"bytes_sent": dict(st.bytes_sent), "bytes_received": dict(st.bytes_received),
                         "requests": list(st.requests), "holding": st.holding,
                         "lfs_stored": list(st.lfs_stored), "commits": list(st.commits)}
            return self.send_json(200, stats)
        else:
            return self.send_json(404, {"error": "unknown control"})
        self.send_json(200, {"ok": True})

    def do_POST(self):
        path = urlsplit(self.path).path
        if path.startswith("/_control/"):
            return self.control(path[len("/_control/"):])
        path = unquote(path)
        if hub_upload.route_fault(self, path) or hub_upload.handle_post(self, path):
            return
        self.error(404, "EntryNotFound", "no such route")

    def do_PUT(self):
        path = unquote(urlsplit(self.path).path)
        if hub_upload.route_fault(self, path) or hub_upload.handle_put(self, path):
            return
        self.error(404, "EntryNotFound", "no such route")

    def repo_files(self, repo_id, rev):
        repo = self.state.repos.get(repo_id)
        commit = repo.resolve(rev) if repo else None
        if commit is None:
            return self.send_json(404, {"error": "no such repo or revision"})
        out = {}
        for rel, e in repo.commits[commit].items():
            if e["lfs"]:
                out[rel] = {"size": e["lfs"]["size"], "lfs": True, "oid": e["oid"], "sha256": e["lfs"]["oid"]}
            else:
                out[rel] = {"size": e["size"], "lfs": False, "oid": e["oid"],
                            "sha256": hashlib.sha256(e["data"]).hexdigest()}
        self.send_json(200, out)

    # -- hub -----------------------------------------------------------
    def do_GET(self):
        path = unquote(urlsplit(self.path).path)
        if path == "/_control/stats":
            return self.control("stats")
        m = re.match(r"^/_control/repo/([^/]+/[^/]+)/([^/]+)$", path)
        if m:
            return self.repo_files(*m.groups())
        if hub_upload.route_fault(self, path):
            return
        m = re.match(r"^/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)/?$", path)
        if m:
            return self.api(*m.groups())
        m = re.match(r"^/api/models/([^/]+/[^/]+)/?$", path)
        if m:
            return self.api(m.group(1), "revision", "main")
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m:
            return self.resolve(*m.groups())
        self.error(404, "EntryNotFound", "no such route")

    def do_HEAD(self):
        self.do_GET()

    def repo_and_commit(self, repo_id, rev):
        fault = self.state.take_fault({"api_status"}, repo_id)
        if fault:
            status = fault["status"]
            code = {401: "GatedRepo", 403: "GatedRepo", 404: "RepoNotFound"}.get(status, "")
            self.error(status, code, f"fault {status}")
            return None, None
        repo = self.state.repos.get(repo_id)
        if self.headers.get("Authorization") and not self.authorized():
            self.error(401, "", "Invalid credentials in Authorization header")
            return None, None
        if repo is None or not self.authorized() or (repo.private and not self.headers.get("Authorization")):
            # The Hub does not tell a missing repo from a private one.
            self.error(401, "RepoNotFound", "Repository not found")
            return None, None
        commit = repo.resolve(rev)
        if commit is None:
            self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return None, None
        return repo, commit

    def api(self, repo_id, kind, rev):
        repo, commit = self.repo_and_commit(repo_id, rev)
        if repo is None:
            return
        if kind == "revision":
            self.send_json(200, {
                "id": repo.id, "modelId": repo.id, "sha": commit, "private": repo.private, "gated": False,
                "disabled": False, "lastModified": "2024-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": p} for p in sorted(repo.commits[commit])],
            })
        else:
            tree = repo.tree(commit)
            extra = self.state.take_fault({"tree_extra"}, repo_id)
            if extra:
                tree.append(extra["entry"])
            self.send_json(200, tree)

    def resolve(self, repo_id, rev, rel):
        repo, commit = self.repo_and_commit(repo_id, rev)
        if repo is None:
            return
        entry = repo.commits[commit].get(rel)
        if entry is None:
            return self.error(404, "EntryNotFound", f"{rel} does not exist")
        fault = self.state.take_fault({"status"}, rel)
        if fault:
            return self.error(fault["status"], "", f"fault {fault['status']}")
        size = repo.content_size(entry)
        etag = repo.etag(entry)
        headers = [("ETag", f'"{etag}"'), ("X-Repo-Commit", commit), ("Accept-Ranges", "bytes")]
        if entry["lfs"]:
            headers += [("X-Linked-Etag", f'"{etag}"'), ("X-Linked-Size", str(size))]
        start, status = 0, 200
        rng = self.headers.get("Range")
        if self.command == "GET" and rng:
            m = re.match(r"bytes=(\d+)-$", rng)
            if m and not self.state.take_fault({"ignore_range"}, rel):
                start = int(m.group(1))
                if start >= size:
                    self.record(416)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
                headers.append(("Content-Range", f"bytes {start}-{size - 1}/{size}"))
        self.record(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        if self.command == "HEAD":
            return
        fault = self.state.take_fault({"drop", "hold", "corrupt"}, rel)
        self.stream(repo, entry, rel, start, size, fault)

    def stream(self, repo, entry, rel, start, size, fault):
        src = open(entry["source"], "rb") if entry["lfs"] else None
        try:
            if src:
                src.seek(start)
            pos = start
            while pos < size:
                limit = min(size, pos + 65536)
                if fault and fault["mode"] in ("drop", "hold") and pos < fault["after"] <= limit:
                    limit = fault["after"]
                chunk = src.read(limit - pos) if src else entry["data"][pos:limit]
                if fault and fault["mode"] == "corrupt" and pos <= fault["after"] < limit:
                    i = fault["after"] - pos
                    chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
                self.wfile.write(chunk)
                self.wfile.flush()
                self.state.count(rel, len(chunk))
                pos = limit
                if fault and fault["mode"] in ("drop", "hold") and pos == fault["after"]:
                    if fault["mode"] == "drop":
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    with self.state.lock:
                        self.state.holding += 1
                    self.state.release.wait()
                    with self.state.lock:
                        self.state.holding -= 1
                    self.close_connection = True
                    return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if src:
                src.close()


def main():
    mirrors, port_file = sys.argv[1:3]
    store = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="fault-hub-store-")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(mirrors, store)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
