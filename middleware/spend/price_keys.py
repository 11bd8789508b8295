"""How a deployment's provider and upstream model name map to keys of LiteLLM's price table (its naming conventions)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from kernel.config.costs import COST_KEYS

PRICE_FIELDS = COST_KEYS  # what the packaged table keeps of each entry, besides limits, provider and mode

# provider → (key prefixes LiteLLM files its models under, the `litellm_provider` values an entry may carry).
# A key found under another provider's name is not this deployment's price (`gpt-4o` is OpenAI's, not Groq's).
_FAMILIES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "openai": (("openai",), frozenset({"openai", "text-completion-openai"})),
    "azure": (("azure",), frozenset({"azure", "azure_text"})),
    "bedrock": (("bedrock",), frozenset({"bedrock", "bedrock_converse"})),
    "cohere": (("cohere", "cohere_chat"), frozenset({"cohere", "cohere_chat"})),
    "fireworks_ai": (("fireworks_ai", "fireworks_ai/accounts/fireworks/models"),
                     frozenset({"fireworks_ai", "fireworks_ai-embedding-models"})),
    "ollama_chat": (("ollama_chat", "ollama"), frozenset({"ollama"})),
}

_BEDROCK_REGION = re.compile(r"^bedrock/[a-z]{2}(?:-gov)?-[a-z]+-\d/(.+)$")  # bedrock/eu-west-1/<model>
_BEDROCK_GEO = re.compile(r"^(?:us|eu|apac|au|jp|ca|in|global|us-gov)\.([a-z0-9-]+\..+)$")  # us.anthropic.<model>
_AZURE_ZONE = re.compile(r"^azure/(?:us|eu|apac|global|global-standard|us-gov)/(.+)$")  # azure/eu/<model>
_DATED = re.compile(r"^(.+?)-(?:20\d\d-\d\d-\d\d|20\d{6})$")  # gpt-4o-2024-08-06, claude-sonnet-4-5-20250929
_SIZED = re.compile(r"^(azure/)?(?:[a-z]+/)?\d+-x-\d+/(?:[a-z0-9-]+-steps/)?(.+)$")  # [azure/][hd/]1024-x-1024/<model>
_BEDROCK_ROUTE = re.compile(r"^(?:converse|invoke)/")  # litellm's bedrock/converse/<model> route prefix


def accepts(provider: str, litellm_provider: str | None) -> bool:
    """Whether an entry filed under `litellm_provider` prices this relaykit provider's models."""
    if provider == "vertex_ai":
        return bool(litellm_provider) and litellm_provider.startswith("vertex_ai")
    family = _FAMILIES.get(provider)
    return litellm_provider in family[1] if family else litellm_provider == provider


def broader(key: str) -> str | None:
    """The entry a key falls back to: a region's to the model's (`bedrock/eu-west-1/x`, `eu.x` → `x`; `azure/eu/x`
    → `azure/x`), a dated snapshot's to its alias (`gpt-4o-2024-08-06` → `gpt-4o`). tools/trim_prices.py drops a
    copy priced exactly like its fallback, so the lookup takes the same steps; a snapshot the table does not list
    is priced as its alias (what the alias pointed to when the table was taken)."""
    for pattern in (_BEDROCK_REGION, _BEDROCK_GEO, _AZURE_ZONE):
        m = pattern.match(key)
        if m:
            return ("azure/" if pattern is _AZURE_ZONE else "") + m.group(1)
    m = _DATED.match(key)
    return m.group(1) if m else None


def candidates(provider: str, model: str, region: str | None = None) -> Iterator[str]:
    """Table keys to try for `model` on `provider`, most specific first (each followed by its broader forms)."""
    prefixes = _FAMILIES.get(provider, ((provider,), None))[0]
    if provider == "bedrock":
        model = _BEDROCK_ROUTE.sub("", model)
    names = [model]
    if provider == "vertex_ai" and "@" in model:
        names.append(model.partition("@")[0])  # claude-3-5-sonnet@20240620 → its undated entry
    if provider == "openai" and model.startswith("ft:"):
        names.append(":".join(model.split(":")[:2]))  # ft:gpt-4o-mini-2024-07-18:org::id → its base's entry
    first = [f"bedrock/{region}/{model}"] if provider == "bedrock" and region else []
    # Every exact form first (prefixed, then bare), then their broader forms, level by level: a listed dated
    # snapshot beats its alias under any prefix.
    level = [*first, *(f"{p}/{n}" for n in names for p in prefixes), *names]
    seen: set[str] = set()
    while level:
        nxt = []
        for key in level:
            if key not in seen:
                seen.add(key)
                yield key
                wider = broader(key)
                if wider is not None:
                    nxt.append(wider)
        level = nxt


def image_variants(key: str, size: str | None, quality: str | None) -> Iterator[str]:
    """LiteLLM's per-size/quality image keys for an entry's key: `hd/1024-x-1024/dall-e-3`, `azure/hd/...`."""
    if not size:
        return
    size = size.replace("x", "-x-")
    prefix, _, name = key.rpartition("/") if key.startswith("azure/") else ("", "", key)
    lead = f"{prefix}/" if prefix else ""
    if quality:
        yield f"{lead}{quality}/{size}/{name}"
    yield f"{lead}{size}/{name}"


def sized_base(key: str) -> str | None:
    """The model key a per-size image key prices: `azure/hd/1024-x-1024/dall-e-3` → `azure/dall-e-3`."""
    m = _SIZED.match(key)
    return (m.group(1) or "") + m.group(2) if m else None
