"""The README's chain diagram is the `model_call` chain of pipelines.yaml, link for link and in order."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


def test_readme_chain_diagram_matches_pipelines_yaml():
    diagrams = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("client ─▶ ")]
    assert len(diagrams) == 1, "README.md should draw the model-call chain once, on a line starting 'client ─▶ '"
    drawn = diagrams[0].split(" ─▶ ")
    assert drawn[0] == "client" and drawn[-1] == "upstream"
    chain = yaml.safe_load((ROOT / "pipelines.yaml").read_text())["chains"]["model_call"]
    names = [entry if isinstance(entry, str) else next(iter(entry)) for entry in chain]
    assert drawn[1:-1] == names
