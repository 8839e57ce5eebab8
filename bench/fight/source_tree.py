"""The two trees the tangle round compares: the working tree and the repository's first commit.

The first commit is the system as inherited; ``snapshot`` writes it with ``git archive`` into a
directory of its own, so it is read (and, by the import probe, imported) apart from the working
tree it shares every package name with.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class NotACheckout(Exception):
    """Not a git checkout with its whole history (a shallow clone lacks the first commit)."""


def _git(*args: str, root: Path = ROOT) -> bytes:
    try:
        return subprocess.run(
            ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=root,
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc).encode()
        raise NotACheckout(
            f"git {' '.join(args)}: {detail.decode(errors='replace').strip()}"
        ) from exc


def first_commit(root: Path = ROOT) -> str:
    """The repository's root commit: the code as it was inherited."""
    roots = _git("rev-list", "--max-parents=0", "HEAD", root=root).decode().split()
    if len(roots) != 1:
        raise NotACheckout(f"expected one root commit, found {len(roots)}")
    return roots[0]


def head_commit(root: Path = ROOT) -> str:
    return _git("rev-parse", "HEAD", root=root).decode().strip()


def read_at(commit: str, path: str, root: Path = ROOT) -> str | None:
    """A file's text at ``commit``; None when the commit has no such file."""
    try:
        return _git("show", f"{commit}:{path}", root=root).decode()
    except NotACheckout:
        return None


def snapshot(commit: str, into: Path, root: Path = ROOT) -> Path:
    """Write the tree of ``commit`` into the empty directory ``into`` and return it."""
    archive = _git("archive", "--format=tar", commit, root=root)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into
