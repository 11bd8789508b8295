"""spend_reports: LiteLLM's spend read API, /spend/logs, /global/spend/report, /global/spend/keys and /models.

Reports read the daily roll-ups (`relaykit_daily_spend`, one row per day × key × team × user × model × endpoint)
with one grouped SUM each, never the log, so their cost follows the number of groups, not of calls. Two things
the roll-ups cannot answer read the log instead, through its indexes: a list of calls (/spend/logs) and anything
by end user (`group_by=customer`, `customer_id`), which the roll-ups do not keep.
"""

from __future__ import annotations

from datetime import timedelta

from kernel.call import Call
from kernel.registry import middleware
from kernel.store import Day
from kernel.store.migrations import DAILY_SPEND, KEYS, SPEND_LOGS, TEAMS
from middleware.governance import spend_shapes as shapes
from middleware.governance.api import ManagementLink
from middleware.governance.requests import query_of
from middleware.governance.spend_query import daily_range, date_range, days, log_range, today, who

NEXT_PAGE = "x-relaykit-next-page"  # set when /spend/logs has more rows than the page held
TOP_WINDOW_DAYS = 30  # /global/spend/keys and /models cover the last 30 days, like LiteLLM's views
_SUMS = ("spend", "prompt_tokens", "completion_tokens")

_LOGS_QUERY = {"api_key": "str", "user_id": "str", "team_id": "str", "request_id": "str", "start_date": "str",
               "end_date": "str", "summarize": "bool", "page": (1, 1_000_000), "page_size": (1, 1000)}
_REPORT_QUERY = {"start_date": "str", "end_date": "str", "group_by": ("team", "customer", "api_key", "model", "day"),
                 "api_key": "str", "internal_user_id": "str", "team_id": "str", "customer_id": "str"}
_TOP_QUERY = {"limit": (1, 1000)}
_LOG_FILTERS = {"api_key": "api_key", "user_id": "user_id", "team_id": "team_id", "request_id": "request_id"}
_REPORT_FILTERS = {"api_key": "api_key", "internal_user_id": "user_id", "team_id": "team_id"}
# What each report groups by, besides the day; `model` is the upstream model, `model_group` the name clients call.
_DIMS = {"team": ("date", "team_id", "model", "api_key"), "customer": ("date", "end_user", "model", "api_key"),
         "model": ("date", "model_group", "model", "api_key"), "api_key": ("api_key", "model"), "day": ("date",)}


@middleware("spend_reports")
class SpendReports(ManagementLink):
    ACTIONS = {"logs": "logs", "report": "report", "keys": "top_keys", "models": "top_models"}

    async def logs(self, call: Call) -> list:
        q = query_of(call, _LOGS_QUERY)
        where = who(q, _LOG_FILTERS)
        start, end = date_range(q)
        if start is not None and end is not None and q.get("summarize", True):
            return await self._summary(where, start, end)
        page, size = q.get("page", 1), q.get("page_size", 100)
        rows = await self.store.find(SPEND_LOGS, where, conditions=log_range(start, end),
                                     order=[("start_time", True), ("request_id", True)],
                                     limit=size + 1, offset=(page - 1) * size)
        if len(rows) > size:
            call.reply_headers[NEXT_PAGE] = str(page + 1)
        return [shapes.log_view(r) for r in rows[:size]]

    async def _summary(self, where: dict, start, end) -> list:
        # One call (request_id): the roll-ups do not know it, the log's primary key does.
        rows = await self._grouped(("date", "api_key", "user_id", "model"), where, start, end,
                                   from_log="request_id" in where)
        return shapes.summary(rows, days(start, end))

    async def report(self, call: Call) -> list:
        q = query_of(call, _REPORT_QUERY)
        start, end = date_range(q, required=True)
        where = who(q, _REPORT_FILTERS)
        # LiteLLM answers a report for one key or one user by key, whatever group_by says by default.
        group_by = q.get("group_by") or ("api_key" if {"api_key", "internal_user_id"} & q.keys() else "team")
        from_log = group_by == "customer" or "customer_id" in q
        if "customer_id" in q:
            where["end_user"] = q["customer_id"]
        rows = await self._grouped(_DIMS[group_by], where, start, end, from_log=from_log)
        if group_by == "team":
            teams = {r["team_id"] for r in rows if r["team_id"]}
            found = await self.store.find(TEAMS, conditions=[("team_id", "in", sorted(teams))]) if teams else []
            return shapes.per_day(rows, "team_id", "teams", shapes.team_entry({t["team_id"]: t["team_alias"]
                                                                              for t in found}))
        if group_by == "customer":
            return shapes.per_day(rows, "end_user", "customers", lambda v: {"customer": v or None})
        if group_by == "model":
            return shapes.per_day(rows, "model_group", "models", lambda v: {"model_group": v})
        if group_by == "api_key":
            return shapes.by_key(rows, await self._key_names({r["api_key"] for r in rows}))
        return shapes.by_day(rows, days(start, end))

    async def _grouped(self, dims: tuple[str, ...], where: dict, start, end, *, from_log: bool) -> list[dict]:
        """Grouped sums over the roll-ups, or over the log (by the UTC day of `start_time`), as rows of one shape."""
        if from_log:
            group = [Day("start_time") if d == "date" else d for d in dims]
            rows = await self.store.aggregate(SPEND_LOGS, _SUMS, group, where, conditions=log_range(start, end))
            for r in rows:
                if "day" in r:
                    r["date"] = r.pop("day")
                r["api_requests"] = r["count"]
                for d in dims:
                    r[d] = r[d] if r[d] is not None else ""  # the log's NULLs read as the roll-ups' ''
        else:
            daily_where = {k: v for k, v in where.items() if k != "end_user"}
            rows = await self.store.aggregate(DAILY_SPEND, (*_SUMS, "api_requests"), dims, daily_where,
                                              conditions=daily_range(start, end))
        for r in rows:
            r["total_tokens"] = r["prompt_tokens"] + r["completion_tokens"]
        return rows

    async def _key_names(self, tokens: set[str]) -> dict[str, tuple[str | None, str | None]]:
        tokens.discard("")  # the master key's spend: no key row
        if not tokens:
            return {}
        rows = await self.store.find(KEYS, conditions=[("token", "in", sorted(tokens))])
        return {r["token"]: (r["key_alias"], r["key_name"]) for r in rows}

    async def top_keys(self, call: Call) -> list:
        limit = query_of(call, _TOP_QUERY).get("limit", 10)
        since = [("date", ">=", (today() - timedelta(days=TOP_WINDOW_DAYS)).isoformat())]
        rows = await self.store.aggregate(DAILY_SPEND, ["spend"], ["api_key"], conditions=since,
                                          order=[("spend", True), ("api_key", False)], limit=limit)
        names = await self._key_names({r["api_key"] for r in rows})
        out = []
        for r in rows:
            alias, name = names.get(r["api_key"], (None, None))
            out.append({"api_key": r["api_key"], "total_spend": r["spend"], "key_alias": alias, "key_name": name})
        return out

    async def top_models(self, call: Call) -> list:
        limit = query_of(call, _TOP_QUERY).get("limit", 10)
        since = [("date", ">=", (today() - timedelta(days=TOP_WINDOW_DAYS)).isoformat()), ("model", "!=", "")]
        rows = await self.store.aggregate(DAILY_SPEND, ["spend"], ["model"], conditions=since,
                                          order=[("spend", True), ("model", False)], limit=limit)
        return [{"model": r["model"], "total_spend": r["spend"]} for r in rows]
