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



def test_the_price_table_ships_with_the_package_and_loads_from_a_build(tmp_path):
    """Run setuptools' build_py (the step a wheel build packs its files from; this venv has no `wheel` to build one
    offline) into a bare directory, and price a call from that copy alone."""
    import subprocess
    import sys

    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["middleware"]
    for needed in ("spend/price_data/litellm_prices.json", "spend/price_data/NOTICE"):
        assert any(fnmatch(needed, g) for g in globs), needed
    lib = tmp_path / "lib"
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib",
                    str(lib)], check=True, cwd=ROOT, capture_output=True)
    for needed in ("litellm_prices.json", "NOTICE"):
        assert (lib / "middleware" / "spend" / "price_data" / needed).is_file(), needed
    probe = ("import middleware.spend.prices as p; from middleware.spend.usage import Usage; "
             "from kernel.models import Deployment; "
             "d = Deployment(id='x', model_name='x', provider='openai', upstream_model='gpt-4o'); "
             "print(p.__file__); print(p.PriceBook().cost(d, 'chat', Usage(prompt_tokens=1000000)))")
    run = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"})
    where, cost = run.stdout.split()
    assert where.startswith(str(lib))  # the built copy, not the source tree
    assert float(cost) == 2.5  # gpt-4o input: $2.50 per million tokens
