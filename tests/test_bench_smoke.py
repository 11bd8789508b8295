"""The benchmark harness runs end to end (tiny request counts, built-in upstream, asyncio driver) so it cannot rot.

Nothing here asserts timing: the numbers of a run this small mean nothing; only their presence and the
absence of errors are checked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
CASES = {"openai->openai", "openai->anthropic", "anthropic->openai",
         "stream openai->openai", "stream openai->anthropic", "stream anthropic->openai", "virtual key openai->openai"}


def test_bench_quick_run_end_to_end(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--driver", "asyncio", "--upstream", "builtin",
                           "--requests", "50", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = orjson.loads(out.read_bytes())
    assert result["driver"] == "asyncio" and result["upstream"] == "builtin"
    assert set(result["cases"]) | set(result["skipped"]) == CASES
    assert not set(result["cases"]) & set(result["skipped"])
    plain = result["cases"]["openai->openai"]
    for conns in ("c1", "c32"):
        for side in ("direct", "relaykit"):
            run = plain[conns][side]
            assert run["errors"] == 0, run
            assert run["requests"] >= 50 and run["rps"] > 0 and 0 < run["p50_ms"] <= run["p99_ms"]
    assert plain["c32"]["relaykit"]["cpu_s_per_1k"] > 0
    keyed = result["cases"]["virtual key openai->openai"]
    assert keyed["c32"]["relaykit"]["errors"] == 0 and keyed["c32"]["relaykit"]["requests"] >= 50
    assert "virtual key: req/s at 32 conns vs master key" in result["targets"]
    stream = result["cases"]["stream openai->openai"]
    assert stream["errors"] == 0
    assert stream["frames"] == 43  # role delta, 40 content deltas, finish, [DONE]: every frame reached the client
    assert 0 < stream["ttft_ms"]["relaykit"] <= stream["total_ms"]["relaykit"]
    assert 0 < result["startup_s"] < 60 and result["peak_rss_mb"] > 0
    assert "start to first served request (s)" in result["targets"]
    for name, why in result["skipped"].items():
        assert "not in this checkout yet" in why, (name, why)
