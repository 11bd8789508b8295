"""The benchmark: a zero-delay upstream, relaykit in front of it, load on both side by side, results as JSON.

    python -m bench                      # every case, wrk + nginx when installed
    python -m bench --soak 100000        # also RSS after 100k requests (growth between 50k and 100k)
    python -m bench --quick              # a few hundred requests: checks the harness, measures nothing
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import orjson
import yaml
from attrs import define

from bench import upstream as up
from bench.load import Target, run_asyncio, run_streams, run_wrk, wrk_available
from bench.procs import cpu_seconds, load, machine, rss_mb, tree_pids
from bench.report import check_targets, markdown

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MASTER = "sk-bench-master-0123456789"  # relaykit refuses a master key under 16 characters
UPSTREAM_KEY = "sk-bench-upstream"
PROMPT = [{"role": "user", "content": "Hello, how are you?"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@define
class Case:
    name: str
    relaykit: Target
    direct: Target
    stream: bool = False
    translation: bool = False
    needs: tuple[str, ...] = ()  # "anthropic provider", "anthropic dialect"


def anthropic_support() -> dict[str, bool]:
    """Which Anthropic pieces this checkout has (they were being written while this harness was)."""
    sys.path.insert(0, str(ROOT))
    from kernel import registry
    from kernel.pipeline import default_pipelines_text

    registry.load_plugins()
    pipelines = yaml.safe_load(default_pipelines_text())["pipelines"]
    messages = any(p.get("dialect") == "anthropic" and "/v1/messages" in p["paths"] for p in pipelines.values())
    return {"anthropic provider": "anthropic" in registry.PROVIDERS,
            "anthropic dialect": "anthropic" in registry.DIALECTS and messages}


def observe_settings(observe: list[str], work_dir: Path, upstream_url: str) -> dict:
    """The config that switches on the observability sinks named by --observe: metrics, logs (JSON lines to a
    file in the run's temp dir), otel (OTLP/HTTP to the built-in upstream, which accepts any POST)."""
    litellm: dict = {}
    general: dict = {}
    callbacks = [name for name in observe if name in ("prometheus", "otel")]
    if "metrics" in observe:
        callbacks.append("prometheus")
    if callbacks:
        litellm["callbacks"] = sorted(set(callbacks))
    if "logs" in observe:
        general["request_log_file"] = str(work_dir / "requests.jsonl")
    extra: dict = {"litellm_settings": litellm, "general_settings": general}
    if "otel" in observe:
        extra["callback_settings"] = {"otel": {"endpoint": upstream_url + "/v1/traces"}}
    return extra


def gateway_config(upstream_url: str, stream_url: str, support: dict[str, bool]) -> dict:
    def openai(name: str, base: str) -> dict:
        return {"model_name": name, "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": base + "/v1",
                                                        "api_key": UPSTREAM_KEY}}

    def anthropic(name: str, base: str) -> dict:
        return {"model_name": name, "litellm_params": {"model": "anthropic/claude-3-5-haiku-latest", "api_base": base,
                                                        "api_key": UPSTREAM_KEY}}

    models = [openai("bench-openai", upstream_url), openai("bench-openai-stream", stream_url + "/stream")]
    if support["anthropic provider"]:
        models += [anthropic("bench-anthropic", upstream_url), anthropic("bench-anthropic-stream", stream_url + "/stream")]
    return {"model_list": models, "general_settings": {"master_key": MASTER}}


def cases(gw: str, upstream_url: str, stream_url: str) -> list[Case]:
    def oa_body(model: str, stream: bool = False) -> bytes:
        body = {"model": model, "messages": PROMPT, "max_tokens": 64}
        if stream:
            body["stream"] = True
        return orjson.dumps(body)

    def an_body(model: str, stream: bool = False) -> bytes:
        body = {"model": model, "max_tokens": 64, "messages": PROMPT}
        if stream:
            body["stream"] = True
        return orjson.dumps(body)

    json_ = {"content-type": "application/json"}
    oa_gw = {**json_, "authorization": "Bearer " + MASTER}
    an_gw = {**json_, "x-api-key": MASTER, "anthropic-version": "2023-06-01"}
    oa_up = {**json_, "authorization": "Bearer " + UPSTREAM_KEY}
    an_up = {**json_, "x-api-key": UPSTREAM_KEY, "anthropic-version": "2023-06-01"}
    chat, msgs = "/v1/chat/completions", "/v1/messages"
    direct_oa = Target(upstream_url + chat, oa_body("gpt-4o-mini"), oa_up)
    direct_an = Target(upstream_url + msgs, an_body("claude-3-5-haiku-latest"), an_up)
    sdirect_oa = Target(stream_url + "/stream" + chat, oa_body("gpt-4o-mini", True), oa_up)
    sdirect_an = Target(stream_url + "/stream" + msgs, an_body("claude-3-5-haiku-latest", True), an_up)
    return [
        Case("openai->openai", Target(gw + chat, oa_body("bench-openai"), oa_gw), direct_oa),
        Case("openai->anthropic", Target(gw + chat, oa_body("bench-anthropic"), oa_gw), direct_an,
             translation=True, needs=("anthropic provider",)),
        Case("anthropic->openai", Target(gw + msgs, an_body("bench-openai"), an_gw), direct_oa,
             translation=True, needs=("anthropic dialect",)),
        Case("stream openai->openai", Target(gw + chat, oa_body("bench-openai-stream", True), oa_gw), sdirect_oa,
             stream=True),
        Case("stream openai->anthropic", Target(gw + chat, oa_body("bench-anthropic-stream", True), oa_gw), sdirect_an,
             stream=True, translation=True, needs=("anthropic provider",)),
        Case("stream anthropic->openai", Target(gw + msgs, an_body("bench-openai-stream", True), an_gw), sdirect_oa,
             stream=True, translation=True, needs=("anthropic dialect",)),
    ]


VIRTUAL_KEY_CASE = "virtual key openai->openai"


def virtual_key_case(gw: str, master_case: Case) -> Case:
    """The openai->openai case with a virtual key that has a budget and an rpm limit (neither reached), so the
    key check, the limiter, the budget reservation, the price and the spend row are all on the path."""
    body = orjson.dumps({"max_budget": 1e9, "rpm_limit": 100_000_000, "tpm_limit": 100_000_000_000,
                         "key_alias": "bench"})
    request = urllib.request.Request(gw + "/key/generate", data=body, method="POST",
                                     headers={"authorization": "Bearer " + MASTER, "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        key = orjson.loads(reply.read())["key"]
    target = Target(master_case.relaykit.url, master_case.relaykit.body,
                    {**master_case.relaykit.headers, "authorization": "Bearer " + key})
    return Case(VIRTUAL_KEY_CASE, target, master_case.direct)


def wait_http(target: Target, timeout: float, proc: subprocess.Popen | None = None) -> float:
    """Poll until `target` answers 200; returns the seconds it took."""
    from urllib.parse import urlsplit

    parts = urlsplit(target.url)
    t0 = time.perf_counter()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before serving")
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            conn.request("POST", parts.path, body=target.body, headers=target.headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            if resp.status == 200:
                return time.perf_counter() - t0
            raise RuntimeError(f"{target.url} answered {resp.status}: {data[:300]!r}")
        except (ConnectionError, OSError):
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"{target.url} did not come up within {timeout}s") from None
            time.sleep(0.005)


def check_answer(target: Target, stream: bool) -> None:
    """One request by hand: a benchmark of error responses would measure nothing."""
    from urllib.parse import urlsplit

    parts = urlsplit(target.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", parts.path, body=target.body, headers=target.headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    want = b"tok39" if stream else b"How can I help you today?"
    if resp.status != 200 or want not in data:
        raise RuntimeError(f"{target.url} gave {resp.status}: {data[:500]!r}")


def median_result(runs: list[dict]) -> dict:
    keys = ("rps", "p50_ms", "p99_ms", "mean_ms")
    out = {k: round(statistics.median(r[k] for r in runs), 4) for k in keys}
    out["requests"] = sum(r["requests"] for r in runs)
    out["errors"] = sum(r["errors"] for r in runs)
    out["runs"] = runs
    return out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.procs: list[subprocess.Popen] = []
        self.driver = "wrk" if args.driver == "wrk" or (args.driver == "auto" and wrk_available()) else "asyncio"
        use_nginx = args.upstream == "nginx" or (args.upstream == "auto" and up.nginx_available())
        self.upstream_kind = "nginx" if use_nginx else "builtin"

    def start(self, argv: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, **kw)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def drive(self, target: Target, connections: int) -> dict:
        a = self.args
        if self.driver == "wrk":
            return run_wrk(target, connections, a.duration).as_dict()
        return run_asyncio(target, connections, a.duration, a.requests).as_dict()

    def run(self) -> dict:
        a = self.args
        support = anthropic_support()
        # Streams always come from the built-in upstream: it writes one event per write, as a real model does,
        # where nginx's canned `return` would hand the gateway the whole stream in one piece.
        builtin_port = free_port()
        self.procs.append(up.start_builtin(builtin_port))
        stream_url = f"http://127.0.0.1:{builtin_port}"
        if self.upstream_kind == "nginx":
            port = free_port()
            proc, _ = up.start_nginx(port)
            self.procs.append(proc)
            upstream_url = f"http://127.0.0.1:{port}"
        else:
            upstream_url = stream_url
        gw_port = free_port()
        gw = f"http://127.0.0.1:{gw_port}"
        all_cases = cases(gw, upstream_url, stream_url)
        for url in {upstream_url, stream_url}:
            wait_http(Target(url + "/v1/chat/completions", b"{}", {}), 10)
        config = Path(tempfile.mkdtemp(prefix="relaykit-bench-")) / "config.yaml"
        settings = gateway_config(upstream_url, stream_url, support)
        extra = observe_settings(a.observe, config.parent, stream_url)
        settings["general_settings"].update(extra.pop("general_settings"))
        settings.update({k: v for k, v in extra.items() if v})
        config.write_text(yaml.safe_dump(settings))
        t0 = time.perf_counter()
        gw_proc = self.start([sys.executable, "-m", "kernel.serve.cli", "--config", str(config), "--host", "127.0.0.1",
                              "--port", str(gw_port), "--num_workers", str(a.workers)],
                             cwd=str(ROOT), stdout=subprocess.DEVNULL)
        wait_http(all_cases[0].relaykit, 30, gw_proc)
        startup = time.perf_counter() - t0
        pids = tree_pids(gw_proc.pid)
        out: dict = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
            "driver": self.driver, "upstream": self.upstream_kind, "workers": a.workers, "observe": a.observe,
            "duration_s": a.duration, "repeat": a.repeat, "load_before": load(),
            "startup_s": round(startup, 3), "cases": {}, "skipped": {},
        }
        print(f"relaykit up in {startup:.3f}s (driver {self.driver}, upstream {self.upstream_kind}, "
              f"workers {a.workers}, load {load()})", flush=True)
        all_cases.append(virtual_key_case(gw, all_cases[0]))
        chosen = [c for c in all_cases if not a.cases or c.name in a.cases]
        for case in chosen:
            missing = [n for n in case.needs if not support[n]]
            if missing:
                out["skipped"][case.name] = f"not in this checkout yet: {', '.join(missing)}"
                print(f"skip {case.name}: not in this checkout yet: {', '.join(missing)}", flush=True)
                continue
            check_answer(case.direct, case.stream)
            check_answer(case.relaykit, case.stream)
            out["cases"][case.name] = self.stream_case(case) if case.stream else self.plain_case(case, pids)
        if a.floor:
            out["floor"] = self.floor(all_cases[0], upstream_url)
        if a.soak:
            out["soak"] = self.soak(all_cases[0], pids)
        out["peak_rss_mb"] = round(rss_mb(pids, "VmHWM"), 1)
        out["rss_mb_end"] = round(rss_mb(pids), 1)
        out["load_after"] = load()
        out["targets"] = check_targets(out)
        return out

    def floor(self, case: Case, upstream_url: str) -> dict:
        """The `openai->openai` load against bench/floor.py: the stack without the pipeline."""
        port = free_port()
        proc = self.start([sys.executable, "-m", "bench.floor", "--port", str(port), "--upstream", upstream_url,
                           "--key", UPSTREAM_KEY], cwd=str(ROOT), stdout=subprocess.DEVNULL)
        target = Target(f"http://127.0.0.1:{port}/v1/chat/completions", case.direct.body, case.relaykit.headers)
        wait_http(target, 30, proc)
        check_answer(target, False)
        floor_case = Case("floor (bare pass-through, no pipeline)", target, case.direct)
        return self.plain_case(floor_case, tree_pids(proc.pid))

    def plain_case(self, case: Case, pids: list[int]) -> dict:
        a = self.args
        run_asyncio(case.relaykit, 4, 1.0, 200 if a.quick else 2000)  # warm up both ends
        res: dict = {"translation": case.translation}
        for conns in (1, 32):
            direct, relay = [], []
            for _ in range(a.repeat):
                direct.append({**self.drive(case.direct, conns), "load": load()})
                c0 = cpu_seconds(pids)
                r = self.drive(case.relaykit, conns)
                r["cpu_s_per_1k"] = round((cpu_seconds(pids) - c0) / max(1, r["requests"]) * 1000, 4)
                relay.append({**r, "load": load()})
            d, r = median_result(direct), median_result(relay)
            r["cpu_s_per_1k"] = round(statistics.median(x["cpu_s_per_1k"] for x in relay), 4)
            res[f"c{conns}"] = {"direct": d, "relaykit": r,
                                "added_p50_ms": round(r["p50_ms"] - d["p50_ms"], 4),
                                "added_p99_ms": round(r["p99_ms"] - d["p99_ms"], 4)}
            print(f"{case.name:<26} c={conns:<3} direct p50 {d['p50_ms']:.3f} p99 {d['p99_ms']:.3f} "
                  f"{d['rps']:>8.0f}/s | relaykit p50 {r['p50_ms']:.3f} p99 {r['p99_ms']:.3f} {r['rps']:>8.0f}/s "
                  f"| added p50 {r['p50_ms'] - d['p50_ms']:+.3f} p99 {r['p99_ms'] - d['p99_ms']:+.3f} "
                  f"| cpu {r['cpu_s_per_1k']:.3f}s/1k | load {load()[0]}", flush=True)
        return res

    def stream_case(self, case: Case) -> dict:
        a = self.args
        n = 20 if a.quick else a.streams
        run_streams(case.relaykit, 10)
        direct, relay = [], []
        for _ in range(a.repeat):
            direct.append(run_streams(case.direct, n).as_dict())
            relay.append(run_streams(case.relaykit, n).as_dict())

        def med(runs: list[dict], key: str) -> float:
            return round(statistics.median(r[key] for r in runs), 5)

        res = {"translation": case.translation, "direct": direct, "relaykit": relay, "load": load()}
        for key in ("ttft_ms", "total_ms", "per_chunk_ms"):
            res[key] = {"direct": med(direct, key), "relaykit": med(relay, key)}
        res["frames"] = relay[-1]["frames"]
        res["errors"] = sum(r["errors"] for r in direct + relay)
        res["added_ttft_ms"] = round(res["ttft_ms"]["relaykit"] - res["ttft_ms"]["direct"], 4)
        # Added per chunk: the extra time from first to last frame, spread over the frames.
        gw_span = res["total_ms"]["relaykit"] - res["ttft_ms"]["relaykit"]
        up_span = res["total_ms"]["direct"] - res["ttft_ms"]["direct"]
        res["added_per_chunk_ms"] = round((gw_span - up_span) / max(1, res["frames"] - 1), 5)
        print(f"{case.name:<26} ttft direct {res['ttft_ms']['direct']:.3f} relaykit {res['ttft_ms']['relaykit']:.3f} "
              f"(added {res['added_ttft_ms']:+.3f}) | added per chunk {res['added_per_chunk_ms']:+.4f} ms "
              f"over {res['frames']} frames | load {load()[0]}", flush=True)
        return res

    def soak(self, case: Case, pids: list[int]) -> dict:
        """RSS after N requests at 32 connections, sampled at the half-way mark and the end."""
        total, done, samples = self.args.soak, 0, {}
        step = max(1000, total // 20)
        while done < total:
            if self.driver == "wrk":
                r = run_wrk(case.relaykit, 32, max(1.0, step / 3000))
            else:
                r = run_asyncio(case.relaykit, 32, 3600, min(step, total - done))
            done += r.requests
            if done >= total // 2 and "half" not in samples:
                samples["half"] = {"requests": done, "rss_mb": round(rss_mb(pids), 1)}
        samples["end"] = {"requests": done, "rss_mb": round(rss_mb(pids), 1)}
        samples["growth_mb"] = round(samples["end"]["rss_mb"] - samples["half"]["rss_mb"], 1)
        print(f"soak: {samples}", flush=True)
        return samples


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="*", help="case names to run (default: all), e.g. 'openai->openai'")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per load run (default 5)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians are reported (default 3)")
    p.add_argument("--streams", type=int, default=300, help="streamed requests per stream run (default 300)")
    p.add_argument("--requests", type=int, default=None, help="cap requests per run (asyncio driver)")
    p.add_argument("--driver", choices=("auto", "wrk", "asyncio"), default="auto")
    p.add_argument("--upstream", choices=("auto", "nginx", "builtin"), default="auto")
    p.add_argument("--workers", type=int, default=1, help="relaykit --num_workers (default 1)")
    p.add_argument("--floor", action="store_true",
                   help="also measure bench/floor.py, a bare pass-through on the same stack with no pipeline")
    p.add_argument("--soak", type=int, default=0, help="also send this many requests and report RSS growth")
    p.add_argument("--quick", action="store_true", help="tiny runs: checks the harness end to end")
    p.add_argument("--observe", nargs="*", default=[], choices=("metrics", "logs", "otel"),
                   help="switch on observability sinks: metrics (prometheus), logs (JSON lines to a file), otel")
    p.add_argument("--out", help="results file (default bench/results/<UTC time>.json)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.duration, args.repeat, args.streams = 1.0, 1, 20
        args.requests = args.requests or 100
    bench = Bench(args)
    try:
        out = bench.run()
    finally:
        bench.stop()
    RESULTS.mkdir(exist_ok=True)
    path = Path(args.out) if args.out else RESULTS / (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ".json")
    path.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    missed = [k for k, v in out["targets"].items() if not v["met"]]
    print()
    print(markdown(out))
    print()
    print(f"results: {path}")
    print("targets missed: " + ("; ".join(f"{k} = {out['targets'][k]['value']} (target {out['targets'][k]['target']})"
                                          for k in missed) if missed else "none"))
    return 0
