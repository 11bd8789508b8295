"""The LiteLLM cost keys a deployment may set in `model_info` or `litellm_params`, checked at start-up (spend prices them)."""

from __future__ import annotations

from collections.abc import Mapping

# LiteLLM's per-deployment price keys (USD). They never go upstream: build_deployment keeps them in model_info,
# where middleware/spend/prices.py reads them over the packaged table's entry.
COST_KEYS = (
    "input_cost_per_token", "output_cost_per_token",
    "cache_read_input_token_cost", "cache_creation_input_token_cost",
    "input_cost_per_token_above_200k_tokens", "output_cost_per_token_above_200k_tokens",
    "cache_read_input_token_cost_above_200k_tokens", "cache_creation_input_token_cost_above_200k_tokens",
    "output_cost_per_image", "input_cost_per_image", "input_cost_per_pixel", "output_cost_per_image_token",
    "input_cost_per_second", "output_cost_per_second", "input_cost_per_character",
)
COST_KEY_SET = frozenset(COST_KEYS)


def cost_problems(section: Mapping, where: str) -> list[str]:
    """A cost key that is not a number >= 0 (`"abc"`, `-1`, `true`), named by its path."""
    out = []
    for key in COST_KEYS:
        value = section.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
            out.append(f"{where}.{key}: expected a number >= 0 (USD), got {value!r}")
    return out


def fold_costs(params: dict, info: dict) -> dict:
    """model_info with the cost keys given in litellm_params added (LiteLLM reads both; model_info's own win).
    Pops them from `params`, so nothing downstream mistakes them for request parameters."""
    found = {key: params.pop(key) for key in COST_KEYS if key in params}
    return {**found, **info} if found else info
