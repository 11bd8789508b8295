"""The PriceBook: what a call cost in USD, and an upper bound of what it may cost before it goes upstream.

Prices come from the packaged, trimmed copy of LiteLLM's table (price_data/, refreshed with tools/trim_prices.py)
and a deployment's own LiteLLM cost keys in `model_info` (or `litellm_params`, which the config folds into
model_info), which win key by key. Everything per deployment is resolved once and cached, so pricing a call is a
dict lookup and a few multiplications.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import orjson
from attrs import frozen

from kernel.config.costs import COST_KEY_SET
from kernel.errors import UnknownModel
from kernel.models import Deployment
from middleware.routing.context import routing_of, supports
from middleware.spend.price_keys import accepts, candidates, image_variants, sized_base
from middleware.spend.usage import Usage

FREE = frozenset({"moderations", "count_tokens"})  # endpoints no provider bills
LONG_CONTEXT = 200_000  # prompt tokens past which the `*_above_200k_tokens` rates apply to the whole call
DEFAULT_OUTPUT_LIMIT = 4096  # output tokens assumed when neither the request nor the model names a limit
# The ceiling's input estimate: one token per 2 bytes of request body. English runs ~4 bytes a token and JSON
# punctuation and keys add bytes without tokens, so this over-counts ordinary text about 2x; it can under-count
# only text denser than 2 bytes a token (digit runs), which no budget-sized request is made of. The estimate is
# capped at the model's max_input_tokens, so a base64 image in the body cannot inflate it past what fits.
BYTES_PER_TOKEN = 2
AUDIO_BYTES_PER_SECOND = 2000  # 16 kbit/s, the low end of speech codecs: an upload's duration is at most bytes / this
IMAGE_OUTPUT_TOKENS = 8192  # above the largest image a token-billed image model (gpt-image) draws today (~6,240)
_INFO_KEYS = COST_KEY_SET | {"base_model", "max_input_tokens", "max_output_tokens"}  # model_info keys that price
_CACHE_LIMIT = 4096  # resolved deployments kept; wildcard and user_config deployments are named by clients


@cache
def packaged_table() -> Mapping[str, dict]:
    """The packaged price table, read once per process."""
    data = resources.files("middleware.spend").joinpath("price_data", "litellm_prices.json").read_bytes()
    return orjson.loads(data)


def _rate(entry: Mapping, key: str) -> float | None:
    value = entry.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@frozen(slots=True)
class Price:
    """One deployment's rates (USD per token, image, second or character; None: not priced that way)."""

    key: str | None  # the table entry it came from (None: priced by the deployment's own cost keys alone)
    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    input_long: float | None = None
    output_long: float | None = None
    cache_read_long: float | None = None
    cache_write_long: float | None = None
    per_image: float | None = None  # per generated image, for any size
    per_pixel: float | None = None  # per generated pixel (LiteLLM's per-size DALL-E entries)
    image_token: float | None = None  # per output image token (gpt-image)
    second_in: float | None = None  # per second of audio in (transcriptions)
    second_out: float | None = None  # per second of audio out (speech)
    character: float | None = None  # per character of text in (speech)
    max_input: int | None = None
    max_output: int | None = None
    fixed_image: bool = False  # the deployment set its own per-image price: size and quality variants do not apply

    @classmethod
    def of(cls, key: str | None, entry: Mapping, own: Mapping) -> Price:
        merged = {**entry, **own}
        image_mode = merged.get("mode") == "image_generation"
        per_image = _rate(merged, "output_cost_per_image")
        if per_image is None and image_mode:
            per_image = _rate(merged, "input_cost_per_image")  # LiteLLM files some image models' price there
        return cls(
            key=key,
            input=_rate(merged, "input_cost_per_token"), output=_rate(merged, "output_cost_per_token"),
            cache_read=_rate(merged, "cache_read_input_token_cost"),
            cache_write=_rate(merged, "cache_creation_input_token_cost"),
            input_long=_rate(merged, "input_cost_per_token_above_200k_tokens"),
            output_long=_rate(merged, "output_cost_per_token_above_200k_tokens"),
            cache_read_long=_rate(merged, "cache_read_input_token_cost_above_200k_tokens"),
            cache_write_long=_rate(merged, "cache_creation_input_token_cost_above_200k_tokens"),
            per_image=per_image, per_pixel=_rate(merged, "input_cost_per_pixel"),
            image_token=_rate(merged, "output_cost_per_image_token"),
            second_in=_rate(merged, "input_cost_per_second"), second_out=_rate(merged, "output_cost_per_second"),
            character=_rate(merged, "input_cost_per_character"),
            max_input=_count(merged.get("max_input_tokens")),
            max_output=_count(merged.get("max_output_tokens")),
            fixed_image=any(k in own for k in ("output_cost_per_image", "input_cost_per_image", "input_cost_per_pixel")),
        )

    @property
    def by_tokens(self) -> bool:
        return self.input is not None or self.output is not None

    def rates(self, prompt_tokens: int) -> tuple[float, float, float, float]:
        """(input, cache read, cache write, output) per token for a call of `prompt_tokens`; an unpriced cache
        rate is the input rate, as the provider then bills those tokens as ordinary input."""
        long = prompt_tokens > LONG_CONTEXT and self.input_long is not None
        inp = (self.input_long if long else self.input) or 0.0
        out = (self.output_long if long and self.output_long is not None else self.output) or 0.0
        read = self.cache_read_long if long and self.cache_read_long is not None else self.cache_read
        write = self.cache_write_long if long and self.cache_write_long is not None else self.cache_write
        return inp, inp if read is None else read, inp if write is None else write, out

    def token_cost(self, u: Usage) -> float:
        inp, read, write, out = self.rates(u.prompt_tokens)
        plain = max(0, u.prompt_tokens - u.cache_read_tokens - u.cache_creation_tokens)
        return plain * inp + u.cache_read_tokens * read + u.cache_creation_tokens * write + u.completion_tokens * out


class PriceBook:
    """Prices per deployment for one gateway; build it with `PriceBook.of(gateway)`."""

    __slots__ = ("_images", "_prices", "sized_only", "table")

    def __init__(self, table: Mapping[str, dict] | None = None, deployments: Iterable[Deployment] = ()) -> None:
        self.table = packaged_table() if table is None else table
        # Image models LiteLLM prices only per size (`azure/hd/1024-x-1024/dall-e-3`, no `azure/dall-e-3`): the
        # key they would have → the provider of their sized entries, so the lookup still finds them.
        self.sized_only: dict[str, str] = {}
        for key, entry in self.table.items():
            base = sized_base(key)
            if base is not None and base not in self.table:
                self.sized_only.setdefault(base, entry.get("litellm_provider") or "")
        self._prices: dict[tuple, Price | None] = {}
        self._images: dict[tuple[str, str | None, str | None], float | None] = {}
        for d in deployments:  # resolve the configured ones at start-up, off the request path
            self.price(d)

    @classmethod
    def of(cls, gateway) -> PriceBook:
        """The gateway's PriceBook, built on first use and kept in `gateway.shared["prices"]`."""
        book = gateway.shared.get("prices")
        if book is None:
            book = gateway.shared["prices"] = cls(deployments=gateway.settings.deployments)
        return book

    # -- lookup ----------------------------------------------------------------------------------------------

    def price(self, d: Deployment) -> Price | None:
        """The deployment's rates, or None when neither the table nor its own cost keys price it."""
        # Keyed by what decides the price, not by d.id: entries differing only in model_info share an id, and
        # wildcard and user_config deployments are built per request.
        info = d.model_info
        ck = (d.provider, d.upstream_model, d.extra.get("aws_region_name") if d.provider == "bedrock" else None,
              tuple((k, v if isinstance(v, (str, int, float)) else repr(v)) for k, v in info.items() if k in _INFO_KEYS)
              if info else ())
        try:
            return self._prices[ck]
        except KeyError:
            pass
        found = self._resolve(d)
        if len(self._prices) < _CACHE_LIMIT:
            self._prices[ck] = found
        return found

    def known(self, d: Deployment) -> bool:
        """Whether the deployment has a price (False: its calls are counted at 0.0, and callers should say so)."""
        return self.price(d) is not None

    def _resolve(self, d: Deployment) -> Price | None:
        info = d.model_info
        own = {k: v for k, v in info.items() if k in COST_KEY_SET or k in ("max_input_tokens", "max_output_tokens")}
        region = d.extra.get("aws_region_name") if d.provider == "bedrock" else None
        # LiteLLM prices a deployment by model_info.base_model when given (an Azure deployment's name says nothing
        # of the model behind it); relaykit does so for every provider, then tries the upstream model itself.
        names = [str(info["base_model"])] if info.get("base_model") else []
        names.append(d.upstream_model)
        for name in names:
            for key in candidates(d.provider, name, region if isinstance(region, str) else None):
                entry = self.table.get(key)
                if entry is not None and accepts(d.provider, entry.get("litellm_provider")):
                    return Price.of(key, entry, own)
                if key in self.sized_only and accepts(d.provider, self.sized_only[key]):
                    return Price.of(key, {"mode": "image_generation"}, own)
        if any(k in COST_KEY_SET for k in own):
            return Price.of(None, {}, own)
        return None

    def image_price(self, p: Price, body: Mapping | None) -> float | None:
        """USD per generated image at the request's size and quality (LiteLLM's `quality/WxH/model` entries)."""
        size = body.get("size") if body else None
        quality = body.get("quality") if body else None
        size = size if isinstance(size, str) and "x" in size else None
        quality = quality if isinstance(quality, str) and quality not in ("auto", "") else None
        if p.fixed_image or p.key is None or size is None:
            return p.per_image
        ck = (p.key, size, quality)
        try:
            return self._images[ck]
        except KeyError:
            pass
        found = p.per_image
        for key in image_variants(p.key, size, quality):
            entry = self.table.get(key)
            if entry is None:
                continue
            each = _rate(entry, "output_cost_per_image") or _rate(entry, "input_cost_per_image")
            pixel = _rate(entry, "input_cost_per_pixel")
            if each is None and pixel is not None:
                w, _, h = size.partition("x")
                each = pixel * int(w) * int(h) if w.isdigit() and h.isdigit() else None
            if each is not None:
                found = each
                break
        if found is None and p.per_pixel is not None:
            w, _, h = size.partition("x")
            found = p.per_pixel * int(w) * int(h) if w.isdigit() and h.isdigit() else None
        if len(self._images) < _CACHE_LIMIT:
            self._images[ck] = found
        return found

    # -- what a call cost ------------------------------------------------------------------------------------

    def cost(self, d: Deployment, endpoint: str, usage: Usage | None, body: Mapping | None = None) -> float:
        """USD for one finished call on `d` (0.0 for a failed call, a free endpoint or an unpriced model).
        `body` (the canonical request) is read only for images, whose price may depend on size and quality."""
        if usage is None or endpoint in FREE:
            return 0.0
        p = self.price(d)
        if p is None:
            return 0.0
        tokens = usage.prompt_tokens or usage.completion_tokens
        if endpoint == "images":
            if tokens and p.by_tokens:  # gpt-image reports and bills tokens; its output tokens are image tokens
                inp, _, _, out = p.rates(usage.prompt_tokens)
                return usage.prompt_tokens * inp + usage.completion_tokens * (p.image_token or out)
            return usage.images * (self.image_price(p, body) or 0.0)
        if endpoint in ("transcriptions", "translations") and not (tokens and p.by_tokens):
            return usage.audio_seconds * (p.second_in if p.second_in is not None else (p.second_out or 0.0))
        if endpoint == "speech":
            if usage.characters and p.character is not None:
                return usage.characters * p.character
            if not tokens and usage.audio_seconds and p.second_out is not None:
                return usage.audio_seconds * p.second_out
        return p.token_cost(usage)

    # -- what a call may cost --------------------------------------------------------------------------------

    def ceiling(self, deployments: Iterable[Deployment], endpoint: str, body: Mapping | None, raw_len: int) -> float:
        """An upper estimate of one call's cost before it goes upstream: the most any of `deployments` would
        charge for a prompt of `raw_len` body bytes (see BYTES_PER_TOKEN) and the request's output limit
        (max_tokens / max_completion_tokens / max_output_tokens, else the deployment's default, else the model's
        max_output_tokens, else DEFAULT_OUTPUT_LIMIT). Images: n × the per-image price at the request's size.
        Unpriced deployments count 0.0. No body serialisation: `raw_len` is len(call.raw)."""
        if endpoint in FREE:
            return 0.0
        body = body if isinstance(body, Mapping) else {}
        best = 0.0
        for d in deployments:
            p = self.price(d)
            if p is not None:
                best = max(best, self._ceiling(p, d, endpoint, body, raw_len))
        return best

    def _ceiling(self, p: Price, d: Deployment, endpoint: str, body: Mapping, raw_len: int) -> float:
        prompt = raw_len // BYTES_PER_TOKEN + 1
        if p.max_input is not None:
            prompt = min(prompt, p.max_input)
        inp, read, write, out = p.rates(prompt)
        in_cost = prompt * max(inp, read, write)  # every input token might be a (dearer) cache write
        if endpoint == "embeddings":
            return in_cost
        if endpoint == "images":
            n = min(_count(body.get("n")) or 1, 10)  # OpenAI's own cap on n
            each = self.image_price(p, body) or 0.0
            if p.by_tokens:
                each = max(each, IMAGE_OUTPUT_TOKENS * (p.image_token or out))
                return in_cost + n * each
            return n * each
        tokens = in_cost + self._output_limit(p, d, body) * out if p.by_tokens else 0.0
        if endpoint in ("transcriptions", "translations"):
            seconds = raw_len / AUDIO_BYTES_PER_SECOND
            return max(tokens, seconds * (p.second_in if p.second_in is not None else (p.second_out or 0.0)))
        if endpoint == "speech":
            text = body.get("input")
            chars = len(text) if isinstance(text, str) else raw_len
            return max(tokens, chars * (p.character or 0.0))
        return tokens

    @staticmethod
    def _output_limit(p: Price, d: Deployment, body: Mapping) -> int:
        for source in (body, d.defaults):
            for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
                asked = _count(source.get(field))
                if asked is not None:  # the upstream refuses more than the model's limit, so it is the most billed
                    return min(asked, p.max_output) if p.max_output else asked
        return p.max_output or DEFAULT_OUTPUT_LIMIT


def deployments_for(call) -> list[Deployment]:
    """The deployments the router may send `call` to (its model group, on its endpoint), for `ceiling`;
    [] when the model is unknown or unnamed (the router refuses those itself)."""
    if call.model is None or call.gateway is None:
        return []
    rc = call.routing or routing_of(call.gateway)
    try:
        group = rc.models.lookup(call.model)
    except UnknownModel:
        return []
    return [d for d in group if supports(d, call.endpoint)]
