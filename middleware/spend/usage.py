"""Usage: what one call consumed, in the units prices are quoted in; the value `call.on_done` hooks receive."""

from __future__ import annotations

from attrs import Factory, define, frozen


@frozen(slots=True)
class Usage:
    prompt_tokens: int = 0  # every input token, cached ones included (OpenAI's prompt_tokens)
    completion_tokens: int = 0
    cache_read_tokens: int = 0  # of prompt_tokens, those read from the provider's prompt cache
    cache_creation_tokens: int = 0  # of prompt_tokens, those written to it (Anthropic's cache_creation_input_tokens)
    images: int = 0  # images generated
    audio_seconds: float = 0.0  # seconds of audio transcribed or translated
    characters: int = 0  # characters of text spoken (speech)
    estimated: bool = False  # counted by relaykit (from text or a reservation), not reported by the provider

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@define(slots=True, eq=False)
class Spend:
    """What the meter found one call cost, and the budget accounts (with the amount) it was charged to."""

    cost: float = 0.0
    estimated: bool = False
    charged: list = Factory(list)  # (middleware.spend.ledger.Account, amount) pairs, for the spend writer
    done: bool = False  # settled: the meter settles a call exactly once
