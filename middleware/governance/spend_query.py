"""The spend endpoints' query parameters: dates (YYYY-MM-DD, UTC days, both ends included), who the rows are for,
and the conditions on the log's `start_time` and the roll-ups' `date` that a date range becomes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from kernel.errors import ClientError
from kernel.store import Condition
from middleware.governance.credentials import token_of

MAX_DAYS = 3660  # a report or a summary spans at most ten years: each day is a row of the answer


def day_of(q: dict, name: str) -> date | None:
    text = q.get(name)
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ClientError(f"{name}: expected a date as YYYY-MM-DD, got {text!r}", param=name,
                          code="invalid_field") from None


def date_range(q: dict, *, required: bool = False) -> tuple[date | None, date | None]:
    """(start, end) from `start_date` / `end_date`; 400 naming the field when one is bad, missing (if required),
    or the range runs backwards or past MAX_DAYS."""
    start, end = day_of(q, "start_date"), day_of(q, "end_date")
    if required:
        for name, value in (("start_date", start), ("end_date", end)):
            if value is None:
                raise ClientError(f"{name} is required (YYYY-MM-DD)", param=name, code="invalid_field")
    if start is not None and end is not None:
        if end < start:
            raise ClientError(f"end_date {end} is before start_date {start}", param="end_date", code="invalid_field")
        if (end - start).days >= MAX_DAYS:
            raise ClientError(f"end_date: a range spans at most {MAX_DAYS} days", param="end_date",
                              code="invalid_field")
    return start, end


def days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def log_range(start: date | None, end: date | None) -> list[Condition]:
    """The log's `start_time` within the UTC days start..end, end included (what its time index serves)."""
    out: list[Condition] = []
    if start is not None:
        out.append(("start_time", ">=", datetime.combine(start, time(), UTC)))
    if end is not None:
        out.append(("start_time", "<", datetime.combine(end + timedelta(days=1), time(), UTC)))
    return out


def daily_range(start: date | None, end: date | None) -> list[Condition]:
    """The roll-ups' `date` (YYYY-MM-DD text, which sorts as dates do) within start..end."""
    out: list[Condition] = []
    if start is not None:
        out.append(("date", ">=", start.isoformat()))
    if end is not None:
        out.append(("date", "<=", end.isoformat()))
    return out


def who(q: dict, names: dict[str, str]) -> dict[str, str]:
    """Equality filters from the query: `names` maps a query parameter to its column. A key given as `sk-...` is
    hashed first (the tables hold the SHA-256 hex, as LiteLLM's do); a hash is taken as it is."""
    out = {}
    for param, column in names.items():
        if param in q:
            out[column] = token_of(q[param]) if column == "api_key" else q[param]
    return out


def today() -> date:
    return datetime.now(UTC).date()
