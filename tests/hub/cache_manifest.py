#!/usr/bin/env python3
"""Print a JSON manifest of a Hugging Face hub cache: what two caches must share.

    cache_manifest.py CACHE_DIR

For each models--* directory: blobs (name -> size), snapshot entries
(path -> symlink target), refs (name -> content), trees (name -> parsed JSON)
and any other top-level entries. Lock files (.locks/) are left out: they are
empty and their presence depends on the client.
"""
import json
import os
import sys


def manifest(cache):
    out = {}
    for repo in sorted(os.listdir(cache)):
        if not repo.startswith("models--"):
            continue
        root = os.path.join(cache, repo)
        m = {"blobs": {}, "snapshots": {}, "refs": {}, "trees": {}, "other": []}
        for top in sorted(os.listdir(root)):
            if top not in m:
                m["other"].append(top)
        for dirpath, _, files in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root)
            for f in files:
                full = os.path.join(dirpath, f)
                rel = os.path.normpath(os.path.join(rel_dir, f))
                kind, _, rest = rel.partition(os.sep)
                if kind == "blobs":
                    m["blobs"][rest] = os.path.getsize(full)
                elif kind == "snapshots":
                    m["snapshots"][rest] = os.readlink(full) if os.path.islink(full) else "<file>"
                elif kind == "refs":
                    m["refs"][rest] = open(full).read()
                elif kind == "trees":
                    m["trees"][rest] = json.load(open(full))
        out[repo] = m
    return out


if __name__ == "__main__":
    json.dump(manifest(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)
    print()
