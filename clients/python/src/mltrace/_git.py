"""Git capture without GitPython: the commit and the tags of the repository
that contains the working directory.

The hash is read from ``.git`` directly (worktrees and packed refs included);
tags come from ``git tag --points-at HEAD`` when the ``git`` command exists, else
from the ref files (lightweight tags and peeled packed tags).
"""

import logging
import os
import shutil
import subprocess
from typing import Any, Dict, List, Optional, Tuple

logger = logging.getLogger("mltrace")


def _find_git_dir(start: Optional[str] = None) -> Optional[Tuple[str, str]]:
    """``(git_dir, common_dir)`` of the repository containing ``start``."""
    path = os.path.abspath(start or os.getcwd())
    while True:
        candidate = os.path.join(path, ".git")
        if os.path.isdir(candidate):
            return candidate, candidate
        if os.path.isfile(candidate):
            try:
                with open(candidate, encoding="utf-8") as f:
                    line = f.read().strip()
            except OSError:
                return None
            if line.startswith("gitdir:"):
                gd = line[len("gitdir:"):].strip()
                if not os.path.isabs(gd):
                    gd = os.path.normpath(os.path.join(path, gd))
                common = gd
                try:
                    with open(os.path.join(gd, "commondir"), encoding="utf-8") as f:
                        c = f.read().strip()
                    common = c if os.path.isabs(c) else os.path.normpath(os.path.join(gd, c))
                except OSError:
                    pass
                return gd, common
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def _packed_refs(common: str) -> List[Tuple[str, str, Optional[str]]]:
    """``(ref, sha, peeled_sha)`` from ``packed-refs``."""
    out: List[Tuple[str, str, Optional[str]]] = []
    text = _read(os.path.join(common, "packed-refs"))
    if not text:
        return out
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("^"):
            if out:
                ref, sha, _ = out[-1]
                out[-1] = (ref, sha, line[1:].strip())
            continue
        parts = line.split(" ", 1)
        if len(parts) == 2:
            out.append((parts[1].strip(), parts[0].strip(), None))
    return out


def _resolve_ref(git_dir: str, common: str, ref: str, depth: int = 0) -> Optional[str]:
    if depth > 10:
        return None
    for base in (git_dir, common):
        value = _read(os.path.join(base, *ref.split("/")))
        if value:
            if value.startswith("ref:"):
                return _resolve_ref(git_dir, common, value[4:].strip(), depth + 1)
            return value
    for name, sha, _ in _packed_refs(common):
        if name == ref:
            return sha
    return None


def get_git_hash(path: Optional[str] = None) -> Optional[str]:
    """The commit hash checked out in the repository containing ``path`` (the
    working directory by default), or ``None`` outside a repository."""
    found = _find_git_dir(path)
    if not found:
        return None
    git_dir, common = found
    head = _read(os.path.join(git_dir, "HEAD"))
    if not head:
        return None
    if head.startswith("ref:"):
        return _resolve_ref(git_dir, common, head[4:].strip())
    return head or None


def get_git_tags(path: Optional[str] = None) -> List[str]:
    """Tags pointing at the checked-out commit (``[]`` when none or outside a
    repository)."""
    found = _find_git_dir(path)
    if not found:
        return []
    head = get_git_hash(path)
    if not head:
        return []
    git = shutil.which("git")
    if git:
        try:
            res = subprocess.run(
                [git, "tag", "--points-at", "HEAD"],
                cwd=os.path.abspath(path or os.getcwd()),
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                timeout=10, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            )
            if res.returncode == 0:
                return [t for t in res.stdout.decode("utf-8", "replace").splitlines() if t.strip()]
        except (OSError, subprocess.SubprocessError) as e:
            logger.debug("mltrace: git tag failed: %s", e)
    git_dir, common = found
    tags = set()
    tag_dir = os.path.join(common, "refs", "tags")
    for root, _dirs, files in os.walk(tag_dir):
        for fname in files:
            full = os.path.join(root, fname)
            if _read(full) == head:
                tags.add(os.path.relpath(full, tag_dir).replace(os.sep, "/"))
    for ref, sha, peeled in _packed_refs(common):
        if ref.startswith("refs/tags/") and head in (sha, peeled):
            tags.add(ref[len("refs/tags/"):])
    return sorted(tags)


# What a decorated call captures, cached per working directory. A call only
# stats the files a commit, a checkout or a new tag changes (HEAD, the branch's
# ref, packed-refs, refs/tags), and reruns the capture (which spawns `git tag`)
# when one of them changed: milliseconds per run otherwise.
_dirs: Dict[str, Optional[Tuple[str, str]]] = {}
_captured: Dict[str, Tuple[Tuple[Any, ...], Optional[str], List[str]]] = {}


def _stamp(path: str) -> Optional[Tuple[int, int]]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _branch_ref_path(git_dir: str, common: str) -> Optional[str]:
    head = _read(os.path.join(git_dir, "HEAD")) or ""
    if not head.startswith("ref:"):
        return None
    ref = head[4:].strip().split("/")
    loose = os.path.join(git_dir, *ref)
    return loose if os.path.exists(loose) else os.path.join(common, *ref)


def capture() -> Tuple[Optional[str], List[str]]:
    """``(commit, tags)`` of the working directory's repository, as
    :func:`get_git_hash` and :func:`get_git_tags` answer them."""
    cwd = os.getcwd()
    if cwd not in _dirs:
        _dirs[cwd] = _find_git_dir(cwd)
    found = _dirs[cwd]
    if not found:
        return None, []
    git_dir, common = found
    head_stamp = _stamp(os.path.join(git_dir, "HEAD"))
    cached = _captured.get(cwd)
    branch = cached[0][1] if cached and cached[0][0] == head_stamp else _branch_ref_path(git_dir, common)
    key = (head_stamp, branch, _stamp(branch) if branch else None,
           _stamp(os.path.join(common, "packed-refs")), _stamp(os.path.join(common, "refs", "tags")))
    if cached and cached[0] == key:
        return cached[1], list(cached[2])
    commit, tags = get_git_hash(cwd), get_git_tags(cwd)
    _captured[cwd] = (key, commit, tags)
    return commit, list(tags)
