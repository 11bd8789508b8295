"""OpenAI message content, walked the same way for every provider: its parts, their text, image URLs, data URLs.

Content is a string or a list of typed parts (`{"type": "text", "text": ...}`, `{"type": "image_url",
"image_url": {"url": ...}}`, `input_audio`, `file`, ...). Each provider maps the parts to its own blocks;
what a part *is* (its text, its URL, a data URL's media type and payload) is read here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

OCTET_STREAM = "application/octet-stream"


def parts(content: Any) -> list[dict]:
    """`content` as a list of part objects: None is none, a string one text part (none when it is empty); in a
    list, what is not an object is skipped (the OpenAI dialect has refused such bodies already)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return []
    return [p for p in content if isinstance(p, dict)]


def text_of(content: Any, sep: str = "") -> str:
    """The text of `content`: a string as it is, the text parts of a list joined by `sep`."""
    if isinstance(content, str):
        return content
    return sep.join(p.get("text", "") for p in parts(content) if p.get("type") == "text")


def image_url(part: dict) -> str:
    """The URL of an `image_url` part, given as {"url": ...} or as a bare string; "" when there is none."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    return url if isinstance(url, str) else ""


class DataURL(NamedTuple):
    mime: str  # application/octet-stream when the URL names no media type
    base64: bool  # the payload is base64 (";base64" before the comma)
    data: str  # the payload, as it stands after the comma


def data_url(url: str) -> DataURL | None:
    """`data:[<media type>][;param...][;base64],<data>` taken apart (RFC 2397); None when `url` is not a data URL."""
    if not url.startswith("data:"):
        return None
    head, comma, data = url[5:].partition(",")
    mime, _, params = head.partition(";")
    return DataURL(mime or OCTET_STREAM, bool(comma) and "base64" in params.split(";"), data)
