"""The image runs the project from its source tree: every package the project installs is copied."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT


def test_the_dockerfile_copies_every_project_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        pattern.rstrip("*")
        for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))

    assert sorted(set(packages) - copied) == []
