"""What a non-editable install ships: every package and the data files the kernel reads at startup."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

from setuptools import find_packages

from kernel.pipeline import default_pipelines_text

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_source_package_is_shipped():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    shipped = set(find_packages(where=ROOT, include=include))
    on_disk = {str(p.parent.relative_to(ROOT)).replace("/", ".") for p in ROOT.glob("*/**/__init__.py")
               if p.parts[len(ROOT.parts)] in ("kernel", "middleware", "dialects", "providers")}
    assert on_disk, "found no packages: the layout changed"
    assert on_disk <= shipped, f"not shipped: {sorted(on_disk - shipped)}"


def test_kernel_data_files_are_declared_and_present():
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["kernel"]
    for needed in ("schemas/config.schema.json", "schemas/pipelines.schema.json", "pipelines.yaml"):
        assert any(fnmatch(needed, g) for g in globs), needed
        assert (ROOT / "kernel" / needed).is_file(), needed
    # The shipped default pipelines are the repository's pipelines.yaml, not a drifting copy: the package's file is a
    # link to it (a wheel build copies the target in), and it is what the gateway loads as its built-in pipelines.
    shipped = ROOT / "kernel" / "pipelines.yaml"
    assert shipped.is_symlink() and shipped.resolve() == (ROOT / "pipelines.yaml").resolve()
    assert default_pipelines_text() == (ROOT / "pipelines.yaml").read_text()
