#!/usr/bin/env python3
"""Build a Hub-style git repository that olah (and tests/hub/fault_hub.py) serve.

    make_repo.py SRC_DIR MIRRORS_DIR ORG/NAME [FILE ...]

Copies SRC_DIR (or only the listed files) into MIRRORS_DIR/models/ORG/NAME as a
git work tree with one commit on `main`. Files that the source's .gitattributes
marks `filter=lfs` are stored as Git LFS pointers, their content under
.git/lfs/objects/aa/bb/<sha256>, exactly where git-lfs puts it (and where olah
reads it), so git-lfs itself is not needed. Author, committer and dates are
fixed: the same input always gives the same commit hash.
"""
import hashlib
import os
import shutil
import subprocess
import sys


def git(cwd, *args, capture=False):
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="mlxk tests",
        GIT_AUTHOR_EMAIL="tests@mlxk.invalid",
        GIT_COMMITTER_NAME="mlxk tests",
        GIT_COMMITTER_EMAIL="tests@mlxk.invalid",
        GIT_AUTHOR_DATE="2024-01-01T00:00:00Z",
        GIT_COMMITTER_DATE="2024-01-01T00:00:00Z",
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
    )
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                         stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
    return out.stdout.decode().strip() if capture else None


def main():
    src, mirrors, repo_id, *only = sys.argv[1:]
    org, name = repo_id.split("/")
    dest = os.path.join(mirrors, "models", org, name)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    files = only or sorted(
        os.path.relpath(os.path.join(root, f), src)
        for root, _, names in os.walk(src) for f in names
    )
    if ".gitattributes" not in files and os.path.exists(os.path.join(src, ".gitattributes")):
        files = [".gitattributes", *files]
    git(dest, "init", "-q", "-b", "main")
    for rel in files:
        os.makedirs(os.path.dirname(os.path.join(dest, rel)) or dest, exist_ok=True)
        shutil.copyfile(os.path.join(src, rel), os.path.join(dest, rel))
    attrs = git(dest, "check-attr", "filter", "--", *files, capture=True)
    lfs = {line.split(": ")[0] for line in attrs.splitlines() if line.endswith(": filter: lfs")}
    for rel in sorted(lfs):
        path = os.path.join(dest, rel)
        data = open(path, "rb").read()
        oid = hashlib.sha256(data).hexdigest()
        obj = os.path.join(dest, ".git", "lfs", "objects", oid[:2], oid[2:4], oid)
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        shutil.copyfile(path, obj)
        with open(path, "w") as f:
            f.write(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n")
    git(dest, "add", "--", *files)
    git(dest, "commit", "-q", "-m", f"{repo_id} fixture")
    print(git(dest, "rev-parse", "HEAD", capture=True))


if __name__ == "__main__":
    main()
