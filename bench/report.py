"""The benchmark's targets (from the performance issue) and the markdown tables bench/README.md shows."""

from __future__ import annotations

TARGETS = {  # the targets, checked and reported with every run
    "added_p50_ms_1conn": 0.5, "added_p99_ms_1conn": 2.0, "rps_32conn": 3000, "rps_32conn_translation": 2500,
    "p99_ms_32conn": 40.0, "stream_added_ttft_ms": 1.0, "stream_added_per_chunk_ms": 0.1, "rss_mb": 80.0,
    "startup_s": 1.0,
}


def check_targets(out: dict) -> dict:
    got: dict[str, dict] = {}

    def mark(name: str, value: float, limit: float, higher_is_better: bool = False) -> None:
        ok = value >= limit if higher_is_better else value <= limit
        got[name] = {"value": round(value, 4), "target": limit, "met": ok}

    for name, res in out["cases"].items():
        if "c1" in res:
            mark(f"{name}: added p50 at 1 conn (ms)", res["c1"]["added_p50_ms"], TARGETS["added_p50_ms_1conn"])
            mark(f"{name}: added p99 at 1 conn (ms)", res["c1"]["added_p99_ms"], TARGETS["added_p99_ms_1conn"])
            want = TARGETS["rps_32conn_translation" if res["translation"] else "rps_32conn"]
            mark(f"{name}: requests/s at 32 conns", res["c32"]["relaykit"]["rps"], want, higher_is_better=True)
            mark(f"{name}: p99 at 32 conns (ms)", res["c32"]["relaykit"]["p99_ms"], TARGETS["p99_ms_32conn"])
        else:
            mark(f"{name}: added time to first token (ms)", res["added_ttft_ms"], TARGETS["stream_added_ttft_ms"])
            mark(f"{name}: added per chunk (ms)", res["added_per_chunk_ms"], TARGETS["stream_added_per_chunk_ms"])
    vk, master = out["cases"].get("virtual key openai->openai"), out["cases"].get("openai->openai")
    if vk and master:  # the keys issue: a budgeted, limited key keeps 85 % of the master key's req/s, +0.05 ms p50
        mark("virtual key: req/s at 32 conns vs master key", vk["c32"]["relaykit"]["rps"]
             / max(master["c32"]["relaykit"]["rps"], 1), 0.85, higher_is_better=True)
        mark("virtual key: added p50 at 1 conn vs master key (ms)",
             vk["c1"]["relaykit"]["p50_ms"] - master["c1"]["relaykit"]["p50_ms"], 0.05)
    mark("peak RSS (MB)", out["peak_rss_mb"], TARGETS["rss_mb"])
    mark("start to first served request (s)", out["startup_s"], TARGETS["startup_s"])
    if "soak" in out:
        mark("RSS growth 50%->100% of soak (MB)", out["soak"]["growth_mb"], 1.0)
    return got


def markdown(out: dict) -> str:
    """The run as the tables bench/README.md shows."""
    rows = ["| case | direct p50 / p99, 1 conn | relaykit p50 / p99, 1 conn | **added p50 / p99**, 1 conn "
            "| direct req/s, 32 conns | **relaykit req/s**, 32 conns | relaykit p99, 32 conns | CPU s / 1k req |",
            "|---|---|---|---|---|---|---|---|"]
    streams = ["| case | direct TTFT | relaykit TTFT | **added TTFT** | **added per chunk** | frames |",
               "|---|---|---|---|---|---|"]
    cases = dict(out["cases"])
    if "floor" in out:
        cases["floor: bare pass-through on the same stack, no pipeline"] = out["floor"]
    for name, r in cases.items():
        if "c1" in r:
            d1, g1, d32, g32 = r["c1"]["direct"], r["c1"]["relaykit"], r["c32"]["direct"], r["c32"]["relaykit"]
            rows.append(f"| {name} | {d1['p50_ms']:.3f} / {d1['p99_ms']:.3f} ms | {g1['p50_ms']:.3f} / {g1['p99_ms']:.3f} ms "
                        f"| **{r['c1']['added_p50_ms']:.3f} / {r['c1']['added_p99_ms']:.3f} ms** | {d32['rps']:,.0f} "
                        f"| **{g32['rps']:,.0f}** | {g32['p99_ms']:.1f} ms | {g32['cpu_s_per_1k']:.3f} |")
        else:
            streams.append(f"| {name} | {r['ttft_ms']['direct']:.3f} ms | {r['ttft_ms']['relaykit']:.3f} ms "
                           f"| **{r['added_ttft_ms']:.3f} ms** | **{r['added_per_chunk_ms']:.4f} ms** | {r['frames']} |")
    extra = [f"start to first served request: {out['startup_s']:.3f} s; peak RSS: {out['peak_rss_mb']:.1f} MB; "
             f"load average before/after: {out['load_before']} / {out['load_after']}"]
    if "soak" in out:
        s = out["soak"]
        extra.append(f"soak: RSS {s['half']['rss_mb']} MB after {s['half']['requests']:,} requests, "
                     f"{s['end']['rss_mb']} MB after {s['end']['requests']:,} (growth {s['growth_mb']} MB)")
    skipped = [f"skipped {k}: {v}" for k, v in out["skipped"].items()]
    return "\n".join([*rows, "", *streams, "", *extra, *skipped])
