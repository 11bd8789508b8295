"""LiteLLM's answer shapes for the spend endpoints, built from grouped rows (what `Store.aggregate` returns).

Every row handed in has its group values plus `spend`, `prompt_tokens`, `completion_tokens`, `api_requests` and
`total_tokens`. Money is summed in floats, as the tables hold it; ordering is by spend, largest first, then name,
so an answer is the same every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

UNASSIGNED_TEAM = "Unassigned Team"  # LiteLLM's name for spend without a team


def per_day(rows: Iterable[dict], dim: str, label: str, entry: Callable[[str], dict]) -> list[dict]:
    """[{group_by_day, <label>: [{...entry(value), total_spend, metadata: [{model, api_key, spend, total_tokens}]}]}]:
    LiteLLM's team and customer report shape (relaykit's model report uses it too)."""
    out: dict[str, dict[str, dict]] = {}
    for r in rows:
        group = out.setdefault(r["date"], {}).setdefault(r[dim] or "", {"total_spend": 0.0, "metadata": []})
        group["total_spend"] += r["spend"]
        group["metadata"].append({"model": r["model"], "api_key": r["api_key"], "spend": r["spend"],
                                  "total_tokens": r["total_tokens"]})
    answer = []
    for day in sorted(out):
        groups = sorted(out[day].items(), key=lambda kv: (-kv[1]["total_spend"], kv[0]))
        items = []
        for value, g in groups:
            g["metadata"].sort(key=lambda m: (-m["spend"], m["model"], m["api_key"]))
            items.append({**entry(value), "total_spend": g["total_spend"], "metadata": g["metadata"]})
        answer.append({"group_by_day": day, label: items})
    return answer


def team_entry(aliases: Mapping[str, str | None]) -> Callable[[str], dict]:
    def entry(team_id: str) -> dict:
        name = aliases.get(team_id) or team_id or UNASSIGNED_TEAM
        return {"team_name": name, "team_id": team_id or None}

    return entry


def by_key(rows: Iterable[dict], names: Mapping[str, tuple[str | None, str | None]]) -> list[dict]:
    """LiteLLM's api_key report: [{api_key, total_cost, total_input_tokens, total_output_tokens, model_details}],
    with relaykit's key_alias and key_name beside them."""
    keys: dict[str, dict] = {}
    for r in rows:
        k = keys.setdefault(r["api_key"], {"api_key": r["api_key"], "total_cost": 0.0, "total_input_tokens": 0,
                                           "total_output_tokens": 0, "model_details": []})
        k["total_cost"] += r["spend"]
        k["total_input_tokens"] += r["prompt_tokens"]
        k["total_output_tokens"] += r["completion_tokens"]
        k["model_details"].append({"model": r["model"], "total_cost": r["spend"],
                                   "total_input_tokens": r["prompt_tokens"],
                                   "total_output_tokens": r["completion_tokens"]})
    out = sorted(keys.values(), key=lambda k: (-k["total_cost"], k["api_key"]))
    for k in out:
        k["model_details"].sort(key=lambda m: (-m["total_cost"], m["model"]))
        k["key_alias"], k["key_name"] = names.get(k["api_key"], (None, None))
    return out


def by_day(rows: Iterable[dict], all_days: list[str]) -> list[dict]:
    """relaykit's day report: one entry per day of the range, days without spend included at zero."""
    found = {r["date"]: r for r in rows}
    out = []
    for day in all_days:
        r = found.get(day)
        out.append({"group_by_day": day, "total_spend": r["spend"] if r else 0.0,
                    "api_requests": r["api_requests"] if r else 0,
                    "total_input_tokens": r["prompt_tokens"] if r else 0,
                    "total_output_tokens": r["completion_tokens"] if r else 0})
    return out


def summary(rows: Iterable[dict], all_days: list[str]) -> list[dict]:
    """LiteLLM's summarized /spend/logs: per day {startTime, spend, users: {user: spend}, models: {model: spend},
    and each key's hash: its spend}; days without spend included at zero."""
    out: dict[str, dict[str, Any]] = {d: {"startTime": d, "spend": 0.0, "users": {}, "models": {}} for d in all_days}
    for r in rows:
        day = out.get(r["date"])
        if day is None:
            continue
        user, model, key = r["user_id"] or "", r["model"] or "", r["api_key"] or ""
        day["spend"] += r["spend"]
        day["users"][user] = day["users"].get(user, 0.0) + r["spend"]
        day["models"][model] = day["models"].get(model, 0.0) + r["spend"]
        day[key] = day.get(key, 0.0) + r["spend"]
    return list(out.values())


def log_view(row: Mapping[str, Any]) -> dict:
    """One spend-log row under LiteLLM_SpendLogs' field names, with relaykit's own fields after them."""
    return {
        "request_id": row["request_id"], "call_type": row["call_type"], "api_key": row["api_key"],
        "spend": row["spend"], "total_tokens": row["total_tokens"], "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"], "startTime": row["start_time"], "endTime": row["end_time"],
        "model": row["model"], "model_id": row["model_id"], "model_group": row["model_group"],
        "custom_llm_provider": row["provider"], "user": row["user_id"], "team_id": row["team_id"],
        "end_user": row["end_user"], "metadata": row["metadata"], "request_tags": row["request_tags"],
        "status": row["status"],
        "key_alias": row["key_alias"], "cache_read_tokens": row["cache_read_tokens"],
        "cache_creation_tokens": row["cache_creation_tokens"], "cost_estimated": row["cost_estimated"],
        "latency_ms": row["latency_ms"], "ttft_ms": row["ttft_ms"], "error_type": row["error_type"],
    }
