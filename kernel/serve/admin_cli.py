"""`relaykit keys create|list|revoke` and `relaykit spend`: the management API of a running relaykit, from a terminal.

They talk HTTP to the gateway (`--url`, default http://127.0.0.1:4000) with the master key (`--master-key`, or
env RELAYKIT_MASTER_KEY / LITELLM_MASTER_KEY), so they work against any relaykit, local or remote, on SQLite or
PostgreSQL alike. A refusal from the server is printed as the server worded it, and the command exits 1.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from kernel.serve.tables import money, render

COMMANDS = ("keys", "spend")
DEFAULT_URL = "http://127.0.0.1:4000"
MASTER_ENV = ("RELAYKIT_MASTER_KEY", "LITELLM_MASTER_KEY")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_SINCE = re.compile(r"^(\d+)([dw])$")


class Failed(Exception):
    """What the user reads after `relaykit: `; the command exits 1."""


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("RELAYKIT_URL", DEFAULT_URL),
                        help=f"the running relaykit (default: env RELAYKIT_URL or {DEFAULT_URL})")
    common.add_argument("--master-key", "--master_key", dest="master_key",
                        help="the gateway's master key (default: env RELAYKIT_MASTER_KEY or LITELLM_MASTER_KEY)")
    common.add_argument("--json", action="store_true", help="print the server's JSON answer instead of a table")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server (30)")

    p = argparse.ArgumentParser(prog="relaykit", description="Manage a running relaykit's keys and read its spend.")
    sub = p.add_subparsers(dest="command", required=True)
    keys = sub.add_parser("keys", help="create, list and revoke virtual keys").add_subparsers(dest="action",
                                                                                            required=True)
    create = keys.add_parser("create", parents=[common], help="create a virtual key (POST /key/generate)")
    create.add_argument("--models", help="comma-separated model names the key may call (default: every model)")
    create.add_argument("--rpm", type=int, help="requests per minute (rpm_limit)")
    create.add_argument("--tpm", type=int, help="tokens per minute (tpm_limit)")
    create.add_argument("--budget", type=float, help="max_budget in USD")
    create.add_argument("--budget-duration", dest="budget_duration", help="when the budget resets: 30d, 1mo, ...")
    create.add_argument("--duration", help="how long the key lives: 30s, 30m, 30h, 30d, 1mo (default: forever)")
    create.add_argument("--alias", help="key_alias: a unique name to find and revoke the key by")
    create.add_argument("--team", help="team_id (the team must exist)")
    create.add_argument("--user", help="user_id")
    create.set_defaults(run=keys_create)
    listing = keys.add_parser("list", parents=[common], help="list every key (GET /key/list)")
    listing.set_defaults(run=keys_list)
    revoke = keys.add_parser("revoke", parents=[common], help="delete a key, named by the key, its hash or its alias")
    revoke.add_argument("key", metavar="KEY_OR_ALIAS")
    revoke.set_defaults(run=keys_revoke)

    spend = sub.add_parser("spend", parents=[common], help="spend per model, key, team or day (GET /global/spend/report)")
    spend.add_argument("--by", choices=("model", "key", "team", "day"), default="model")
    spend.add_argument("--since", default="7d", help="Nd or Nw (N days or weeks ago) or YYYY-MM-DD, UTC (7d)")
    spend.add_argument("--until", help="the last day, YYYY-MM-DD (default: today, UTC)")
    spend.set_defaults(run=spend_report)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    master = args.master_key or next((os.environ[n] for n in MASTER_ENV if os.environ.get(n)), None)
    try:
        if not master:
            raise Failed("no master key: pass --master-key or set RELAYKIT_MASTER_KEY (or LITELLM_MASTER_KEY)")
        with httpx.Client(base_url=args.url.rstrip("/"), timeout=args.timeout,
                          headers={"authorization": f"Bearer {master}"}) as client:
            args.run(Api(client), args)
        return 0
    except Failed as problem:
        print(f"relaykit: {problem}", file=sys.stderr)
        return 1


class Api:
    """The management API over one client: the JSON answer, or Failed saying what the server said."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def __call__(self, method: str, path: str, **kw) -> Any:
        try:
            reply = self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise Failed(f"cannot reach relaykit at {self.client.base_url}: {exc or type(exc).__name__}") from None
        try:
            data = reply.json()
        except ValueError:
            data = None
        if reply.status_code >= 400:
            error = data.get("error") if isinstance(data, dict) else None
            if isinstance(error, dict) and error.get("message"):
                field = f" (field: {error['param']})" if error.get("param") else ""
                raise Failed(f"{method} {path} was refused with {reply.status_code}: {error['message']}{field}")
            raise Failed(f"{method} {path} was refused with {reply.status_code}: {reply.text[:300]}")
        if data is None:
            raise Failed(f"{method} {path}: the answer is not JSON: {reply.text[:300]}")
        return data


def _emit_json(data: Any) -> None:
    import orjson

    print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


# -- keys -------------------------------------------------------------------------------------------------------


def keys_create(api: Api, args: argparse.Namespace) -> None:
    fields = {"models": [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None,
              "rpm_limit": args.rpm, "tpm_limit": args.tpm, "max_budget": args.budget,
              "budget_duration": args.budget_duration, "duration": args.duration, "key_alias": args.alias,
              "team_id": args.team, "user_id": args.user}
    made = api("POST", "/key/generate", json={k: v for k, v in fields.items() if v is not None})
    if args.json:
        return _emit_json(made)
    print(f"key:     {made['key']}")
    print("         (shown once: relaykit keeps only its hash; store it now)")
    for label, value in (("alias", made.get("key_alias")), ("token", made.get("token")),
                         ("models", ", ".join(made.get("models") or []) or "every model"),
                         ("team", made.get("team_id")), ("user", made.get("user_id")),
                         ("rpm", made.get("rpm_limit")), ("tpm", made.get("tpm_limit")),
                         ("budget", money(made["max_budget"]) if made.get("max_budget") is not None else None),
                         ("expires", made.get("expires") or "never")):
        if value is not None:
            print(f"{label + ':':<9}{value}")


def keys_list(api: Api, args: argparse.Namespace) -> None:
    rows, page = [], 1
    while True:
        answer = api("GET", "/key/list", params={"return_full_object": "true", "size": 100, "page": page})
        rows += answer["keys"]
        if page >= (answer.get("total_pages") or 0):
            break
        page += 1
    if args.json:
        return _emit_json(rows)
    table = [[k.get("key_alias") or "", k.get("key_name") or "", k.get("team_id") or "",
              ", ".join(k.get("models") or []) or "(all)", money(k.get("spend") or 0.0),
              money(k["max_budget"]) if k.get("max_budget") is not None else "",
              _num(k.get("rpm_limit")), _num(k.get("tpm_limit")), _when(k.get("expires")),
              "yes" if k.get("blocked") else ""] for k in rows]
    print(render(["ALIAS", "KEY", "TEAM", "MODELS", "SPEND", "BUDGET", "RPM", "TPM", "EXPIRES", "BLOCKED"], table,
                 right={4, 5, 6, 7}))
    print(f"{len(rows)} key(s)")


def keys_revoke(api: Api, args: argparse.Namespace) -> None:
    given = args.key
    # A key (sk-...) or its SHA-256 hex names a key itself; anything else is an alias.
    body = {"keys": [given]} if given.startswith("sk-") or _HASH.match(given) else {"key_aliases": [given]}
    answer = api("POST", "/key/delete", json=body)
    if args.json:
        return _emit_json(answer)
    shown = given if "key_aliases" in body or not given.startswith("sk-") else f"sk-...{given[-4:]}"
    print(f"revoked {shown}: it stops working now")


def _num(value: Any) -> str:
    return "" if value is None else str(value)


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "never"


# -- spend ------------------------------------------------------------------------------------------------------


def since_day(text: str, today: date) -> date:
    m = _SINCE.match(text)
    if m:
        n = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        return today - timedelta(days=n)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Failed(f"--since: expected Nd, Nw or YYYY-MM-DD, got {text!r}") from None


def spend_report(api: Api, args: argparse.Namespace) -> None:
    today = datetime.now(UTC).date()
    start = since_day(args.since, today)
    try:
        end = date.fromisoformat(args.until) if args.until else today
    except ValueError:
        raise Failed(f"--until: expected YYYY-MM-DD, got {args.until!r}") from None
    group_by = {"key": "api_key"}.get(args.by, args.by)
    report = api("GET", "/global/spend/report",
                 params={"start_date": start.isoformat(), "end_date": end.isoformat(), "group_by": group_by})
    if args.json:
        return _emit_json(report)
    print(f"spend by {args.by}, {start} to {end} (UTC)")
    header, rows, right = _spend_table(args.by, report)
    print(render(header, rows, right=right))


def _spend_table(by: str, report: list) -> tuple[list[str], list[list[str]], set[int]]:
    if by == "day":
        rows = [[d["group_by_day"], money(d["total_spend"]), str(d["api_requests"]), str(d["total_input_tokens"]),
                 str(d["total_output_tokens"])] for d in report]
        total = sum(d["total_spend"] for d in report)
        requests = sum(d["api_requests"] for d in report)
        return (["DAY", "SPEND", "REQUESTS", "INPUT TOKENS", "OUTPUT TOKENS"],
                [*rows, ["total", money(total), str(requests), "", ""]], {1, 2, 3, 4})
    if by == "key":
        rows = [[k.get("key_alias") or "", k.get("key_name") or ("(master key)" if not k["api_key"] else
                                                                 k["api_key"][:12] + "…"),
                 money(k["total_cost"]), str(k["total_input_tokens"]), str(k["total_output_tokens"])] for k in report]
        total = sum(k["total_cost"] for k in report)
        return (["ALIAS", "KEY", "SPEND", "INPUT TOKENS", "OUTPUT TOKENS"], [*rows, ["total", "", money(total), "", ""]],
                {2, 3, 4})
    label, name = {"model": ("models", "model_group"), "team": ("teams", "team_name")}[by]
    spend: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for day in report:
        for entry in day[label]:
            who = entry[name] or "(none)"
            spend[who] = spend.get(who, 0.0) + entry["total_spend"]
            tokens[who] = tokens.get(who, 0) + sum(m["total_tokens"] for m in entry["metadata"])
    order = sorted(spend, key=lambda w: (-spend[w], w))
    rows = [[w, money(spend[w]), str(tokens[w])] for w in order]
    return ([by.upper(), "SPEND", "TOKENS"], [*rows, ["total", money(sum(spend.values())), str(sum(tokens.values()))]],
            {1, 2})
