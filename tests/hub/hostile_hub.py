#!/usr/bin/env python3
"""A Hub-protocol server that attacks its client (tests only).

    hostile_hub.py PORT_FILE

Serves one small, healthy repository, `evil/model` (config.json, a real
safetensors file stored as LFS, a README), on a free loopback port written
to PORT_FILE. Every request is logged with the headers a leak would show:
`Authorization` and `User-Agent`. Two instances make an attack across
origins: the endpoint, and a "foreign" server on another port that serves
the same repository and logs what it is sent.

Routes (the part of the Hub protocol mlxk-pull speaks):
    GET  /api/models/evil/model/revision/REV    {"sha": COMMIT}
    GET  /api/models/evil/model/tree/COMMIT     the listing; ?page=N serves page N of two
    HEAD /evil/model/resolve/COMMIT/PATH         ETag, X-Repo-Commit, X-Linked-*
    GET  /evil/model/resolve/COMMIT/PATH         the file

Control:
    POST /_control/attack {"name": ..., ...}    set the attack (replaces any earlier one)
        next_foreign   the listing's first page links its next page on "foreign" (a URL)
        next_endless   every page links a new next page (?page=N+1), for ever
        next_loop      the listing's next page is the listing itself
        big_json       the listing is a JSON array of "bytes" bytes (streamed;
                       "length": false leaves out Content-Length)
        redirect_foreign   file GETs answer 302 to the same path on "foreign"
        redirect_loop      file GETs answer 302 to themselves, with a new query, for ever
        retry_after_date   the first "times" revision calls answer 503 with
                           Retry-After as an HTTP date "seconds" ahead
        hold_api       revision calls get no answer until the server ends
    GET  /_control/log      [{method, path, authorization, user_agent}]
    POST /_control/reset    no attack, empty log
"""
import email.utils
import hashlib
import json
import os
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

REPO = "evil/model"
COMMIT = "5eedc0de5eedc0de5eedc0de5eedc0de5eedc0de"


def safetensors():
    header = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + bytes(range(64))


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def make_files():
    files = {
        "config.json": json.dumps({"model_type": "llama", "hidden_size": 4}).encode(),
        "README.md": b"---\nlibrary_name: mlx\n---\n# evil/model\n",
        "model.safetensors": safetensors(),
    }
    out = {}
    for path, data in files.items():
        lfs = path.endswith(".safetensors")
        sha = hashlib.sha256(data).hexdigest()
        out[path] = {"data": data, "oid": git_sha1(data), "lfs": {"oid": sha, "size": len(data)} if lfs else None}
    return out


FILES = make_files()


def tree():
    out = []
    for path, f in sorted(FILES.items()):
        item = {"type": "file", "oid": f["oid"], "size": len(f["data"]), "path": path}
        if f["lfs"]:
            item["lfs"] = f["lfs"]
        out.append(item)
    return out


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.attack = {}
        self.log = []
        self.hold = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile-hub/1"
    # Headers and body go out in two writes: without this, Nagle and delayed
    # ACKs hold each answer 40 ms (a thousand pages would take a minute).
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    @property
    def st(self):
        return self.server.state

    def send(self, status, body=b"", headers=(), length=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, status, obj, headers=()):
        self.send(status, json.dumps(obj).encode(), [("Content-Type", "application/json"), *headers])

    def do_POST(self):
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if path == "/_control/attack":
            with self.st.lock:
                self.st.attack = body
        elif path == "/_control/reset":
            with self.st.lock:
                self.st.attack = {}
                self.st.log = []
        else:
            return self.send_json(404, {"error": "no such route"})
        self.send_json(200, {"ok": True})

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_control/log":
            with self.st.lock:
                return self.send_json(200, list(self.st.log))
        with self.st.lock:
            self.st.log.append({
                "method": self.command, "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "user_agent": self.headers.get("User-Agent"),
            })
            attack = dict(self.st.attack)
        name = attack.get("name")
        query = parse_qs(url.query)
        if url.path.startswith(f"/api/models/{REPO}/revision/"):
            if name == "hold_api":
                self.st.hold.wait()
                return
            if name == "retry_after_date":
                with self.st.lock:
                    left = self.st.attack.get("times", 1)
                    self.st.attack["times"] = left - 1
                if left > 0:
                    when = email.utils.formatdate(time.time() + attack.get("seconds", 2), usegmt=True)
                    return self.send_json(503, {"error": "busy"}, [("Retry-After", when)])
            return self.send_json(200, {"id": REPO, "sha": COMMIT, "private": False})
        if url.path == f"/api/models/{REPO}/tree/{COMMIT}":
            return self.listing(name, attack, query)
        prefix = f"/{REPO}/resolve/{COMMIT}/"
        if url.path.startswith(prefix):
            return self.resolve(url.path[len(prefix):], name, attack, query)
        self.send_json(404, {"error": "no such route"}, [("X-Error-Code", "EntryNotFound")])

    def listing(self, name, attack, query):
        entries = tree()
        page = int(query.get("page", ["1"])[0])
        if name == "big_json":
            return self.big_json(attack)
        if name == "next_endless":
            nxt = f"http://{self.headers.get('Host')}/api/models/{REPO}/tree/{COMMIT}?recursive=true&page={page + 1}"
            return self.send_json(200, [], [("Link", f'<{nxt}>; rel="next"')])
        if name == "next_loop":
            return self.send_json(200, entries, [("Link", f'<{self.path}>; rel="next"')])
        if name == "next_foreign" and page == 1:
            nxt = f"{attack['foreign']}/api/models/{REPO}/tree/{COMMIT}?recursive=true&page=2"
            return self.send_json(200, entries[:1], [("Link", f'<{nxt}>; rel="next"')])
        if page == 2:
            return self.send_json(200, entries[1:])
        self.send_json(200, entries)

    def big_json(self, attack):
        total = int(attack.get("bytes", 200_000_000))
        item = json.dumps({"type": "file", "oid": "0" * 40, "size": 1, "path": "x" * 200}).encode() + b","
        headers = [("Content-Type", "application/json")]
        if attack.get("length", True):
            headers.append(("Content-Length", str(total)))
        else:
            headers.append(("Connection", "close"))
            self.close_connection = True
        self.send_response(200)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(b"[")
            sent = 1
            block = item * 4096
            while sent + len(block) < total:
                self.wfile.write(block)
                sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def resolve(self, path, name, attack, query):
        f = FILES.get(path)
        if f is None:
            return self.send_json(404, {"error": "no such file"}, [("X-Error-Code", "EntryNotFound")])
        etag = f["lfs"]["oid"] if f["lfs"] else f["oid"]
        headers = [("ETag", f'"{etag}"'), ("X-Repo-Commit", COMMIT)]
        if f["lfs"]:
            headers += [("X-Linked-Etag", f'"{etag}"'), ("X-Linked-Size", str(len(f["data"])))]
        if self.command == "GET" and name == "redirect_foreign":
            return self.send(302, b"", [("Location", f"{attack['foreign']}{self.path}")])
        if self.command == "GET" and name == "redirect_loop":
            n = int(query.get("n", ["0"])[0])
            return self.send(302, b"", [("Location", f"/{REPO}/resolve/{COMMIT}/{path}?n={n + 1}")])
        self.send(200, f["data"], headers)


def main():
    port_file = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(str(server.server_address[1]))
    os.replace(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
