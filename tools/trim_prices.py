"""Regenerate middleware/spend/price_data/litellm_prices.json from a litellm wheel, keeping what relaykit prices.

Usage (from the repository root; nothing is installed):
    pip download litellm==VERSION --no-deps -d /tmp/litellm-wheel
    python tools/trim_prices.py /tmp/litellm-wheel/litellm-VERSION-*.whl

It reads `litellm/model_prices_and_context_window_backup.json` from the wheel (a zip), keeps the entries of the
providers relaykit serves in the modes it serves, keeps only the cost and limit fields middleware/spend/prices.py
reads, drops regional copies whose prices equal the entry the lookup falls back to, and writes one entry per line
(sorted) so a refresh shows up in review as a readable diff. It also rewrites the version and date in NOTICE.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from middleware.spend.price_keys import PRICE_FIELDS, broader  # noqa: E402  (the lookup's own rules)

OUT = ROOT / "middleware" / "spend" / "price_data" / "litellm_prices.json"
NOTICE = OUT.with_name("NOTICE")
MEMBER = "litellm/model_prices_and_context_window_backup.json"

# LiteLLM's `litellm_provider` values for the providers relaykit serves (kernel/registry.PROVIDERS); vertex_ai-* too.
PROVIDERS = frozenset({
    "openai", "text-completion-openai", "azure", "azure_text", "anthropic", "gemini", "bedrock", "bedrock_converse",
    "mistral", "groq", "deepseek", "cohere", "cohere_chat", "xai", "together_ai", "fireworks_ai",
    "fireworks_ai-embedding-models", "perplexity", "cerebras", "deepinfra", "ollama",
})
# What relaykit's endpoints serve; realtime, video, rerank, search, OCR and the rest have no endpoint here.
MODES = frozenset({"chat", "completion", "responses", "embedding", "image_generation", "audio_transcription",
                   "audio_speech", "moderation"})
LIMITS = ("max_input_tokens", "max_output_tokens")
META = ("litellm_provider", "mode")


# Fireworks lists hundreds of open-weights models in bulk (prices and limits, nothing else); relaykit keeps the
# ones LiteLLM describes further (a `source`, a `supports_*` flag): the models people run there today.
CATALOGUES = frozenset({"fireworks_ai"})
_PER_REGION = re.compile(r"^bedrock/[a-z]{2}(?:-gov)?-[a-z]+-\d/")  # bedrock/<region>/<model>: one copy per region


def served(key: str, entry: dict) -> bool:
    provider = entry.get("litellm_provider") or ""
    if not (provider in PROVIDERS or provider.startswith("vertex_ai")) or entry.get("mode") not in MODES:
        return False
    if _PER_REGION.match(key):
        return False  # the lookup falls back to the model's own entry (a region's surcharge needs an override)
    if "us-gov" in key:
        return False  # GovCloud copies (their own contracts): a GovCloud deployment states its price in model_info
    return provider not in CATALOGUES or "source" in entry or any(k.startswith("supports_") for k in entry)


def trim(data: dict) -> dict[str, dict]:
    # Entries LiteLLM marks deprecated stay: its dates are announcements, and configs still name those models
    # (gpt-3.5-turbo, gpt-4); dropping them would make their calls free and let them past every budget.
    kept: dict[str, dict] = {}
    for key, entry in data.items():
        if not isinstance(entry, dict) or not served(key, entry):
            continue
        prices = {f: entry[f] for f in PRICE_FIELDS if isinstance(entry.get(f), (int, float))}
        if not prices:
            continue
        limits = {f: entry[f] for f in LIMITS if isinstance(entry.get(f), int)}
        kept[key] = {**prices, **limits, **{f: entry[f] for f in META}}
    # A regional copy (`bedrock/eu-west-1/x`, `eu.x`, `azure/eu/x`) with the very prices and limits of the entry
    # the lookup falls back to carries nothing: drop it. Copies that differ (most data-zone prices do) stay.
    # Likewise `deepseek/deepseek-chat` beside an identical `deepseek-chat` of the same provider: the lookup tries the
    # bare name right after the prefixed ones.
    out = {}
    for key, entry in kept.items():
        parent = broader(key)
        if parent is not None and parent in kept and _same(kept[parent], entry):
            continue
        head, _, bare = key.partition("/")
        if bare and head in (entry["litellm_provider"], "vertex_ai") and kept.get(bare) == entry:
            continue
        out[key] = entry
    return dict(sorted(out.items()))


def _same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "litellm_provider"} == {k: v for k, v in b.items() if k != "litellm_provider"}


def dump(table: dict[str, dict]) -> str:
    lines = [f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in table.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel", help="a litellm-*.whl downloaded with `pip download litellm --no-deps`")
    ap.add_argument("--date", default=datetime.date.today().isoformat(), help="date recorded in NOTICE (today)")
    args = ap.parse_args(argv)
    match = re.match(r"litellm-([^-]+)-", Path(args.wheel).name)
    if match is None:
        ap.error(f"{args.wheel}: not a litellm wheel file name (litellm-VERSION-....whl)")
    with zipfile.ZipFile(args.wheel) as wheel:
        data = json.loads(wheel.read(MEMBER))
    table = trim(data)
    OUT.write_text(dump(table), encoding="utf-8")
    notice = NOTICE.read_text(encoding="utf-8")
    notice = re.sub(r"(?m)^litellm version: .*$", f"litellm version: {match.group(1)}", notice)
    notice = re.sub(r"(?m)^taken on: .*$", f"taken on: {args.date}", notice)
    NOTICE.write_text(notice, encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(table)} of {len(data)} entries, {OUT.stat().st_size // 1024} KiB "
          f"(litellm {match.group(1)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
