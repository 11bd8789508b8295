"""LiteLLM's duration strings (`30s`, `30m`, `30h`, `30d`, `1w`, `1mo`): the pattern requests are checked against,
and a key's expiry time from its `duration`."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

PATTERN = r"^[0-9]+(s|m|h|d|w|mo)$"
EXPECTED = "a duration like 30s, 30m, 30h, 30d, 1w or 1mo"
_SPLIT = re.compile(PATTERN)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_months(start: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the last day of a shorter month (Jan 31 + 1mo = Feb 28)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def after(duration: str, start: datetime) -> datetime:
    """`start` + `duration`; the string has already been checked against PATTERN."""
    m = _SPLIT.match(duration)
    if m is None:
        raise ValueError(f"not {EXPECTED}: {duration!r}")
    count = int(duration[: m.start(1)])
    if m[1] == "mo":
        return add_months(start, count)
    return start + timedelta(seconds=count * _UNIT[m[1]])
