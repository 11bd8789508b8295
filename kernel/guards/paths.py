"""Pass-through paths and queries checked before they go upstream: only plain segments that stay under their route.

uvicorn hands the app a percent-decoded `path`, and the HTTP clients below us (httpx, then aiohttp's yarl)
collapse `../` and decode `%2e`; a URL built from the decoded string can therefore climb out of `/v1` and carry
the upstream key anywhere on the upstream host. So a pass-through reads the path as it was sent (`raw_path`),
splits it on the slashes the client really sent, decodes each segment once, refuses anything that could
mean another path to some server along the way, and builds the upstream path from those segments re-quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote_to_bytes, urlencode

from kernel.errors import ClientError

# Bytes no path segment or query value has a use for: C0 controls (NUL, CR, LF, ...) and DEL.
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x1f\x7f]")
# A percent escape left after one decode: the client encoded twice, hoping someone decodes twice.
_ESCAPE = re.compile(rb"%[0-9A-Fa-f]{2}")
# What a segment may keep literally when re-quoted (RFC 3986 pchar): ':' must stay for Vertex's `model:method`.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"


class UnsafePath(ClientError):
    """A pass-through path (or its query) that could reach somewhere other than under its route."""

    code = "invalid_path"


def path_segments(raw_path: bytes, path: str = "") -> list[str]:
    """The checked, once-decoded segments of a request path (`/v1/files/file-abc` → `["v1", "files", "file-abc"]`).

    Refused: `.` and `..` segments in any encoding or case (also `..;x`, which Java servers read as `..`),
    a slash or backslash inside a segment (`%2F`, `%5C`, `\\`), an empty segment (`//`), control characters,
    anything still percent-encoded after one decode, and bytes that are not UTF-8. One trailing slash is
    dropped, as the router does. `path` is the decoded path the router matched: it stands in when the server
    gave no `raw_path`, and the segments must spell it exactly, so they are under the prefix the route matched.
    """
    if not raw_path:
        raw_path = quote(path, safe="/").encode()
    parts = raw_path.split(b"/")
    if parts[0] != b"":
        raise UnsafePath("the request path must start with '/'")
    parts = parts[1:]
    if len(parts) > 1 and parts[-1] == b"":
        parts.pop()
    segments = [_segment(p) for p in parts]
    if path and "/" + "/".join(segments) != (path[:-1] if len(path) > 1 and path.endswith("/") else path):
        # The server decoded the path another way than we did: route and upstream URL could disagree.
        raise UnsafePath("the request path does not decode to the path that was routed")
    return segments


def _segment(raw: bytes) -> str:
    seg = unquote_to_bytes(raw)
    if not seg:
        raise UnsafePath("the request path has an empty segment ('//'); pass-through paths must be plain")
    if seg.split(b";", 1)[0] in (b".", b".."):
        raise UnsafePath("the request path has a '.' or '..' segment (encoded or not); "
                         "pass-through paths must stay under their route")
    if b"/" in seg or b"\\" in seg:
        raise UnsafePath("the request path has a slash or backslash inside a segment (%2F, %5C or a raw backslash); "
                         "pass-through paths must be plain")
    if _CONTROL.search(seg):
        raise UnsafePath("the request path has a control character (such as %00 or %0A)")
    if _ESCAPE.search(seg):
        raise UnsafePath("the request path is percent-encoded twice (such as %252e); "
                         "pass-through paths must be encoded once")
    try:
        return seg.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsafePath("the request path is not UTF-8 once percent-decoded") from None


def join_segments(segments: Iterable[str]) -> str:
    """Checked segments as a URL path (`a/b:c`, no leading slash), each re-quoted so nothing in it is a separator."""
    return "/".join(quote(s, safe=_SEGMENT_SAFE) for s in segments)


def query_suffix(query: Mapping[str, str]) -> str:
    """`?k=v&...` for the upstream URL, or ''. Every key and value is percent-encoded (`/`, `?`, `#` included),
    so nothing in a query can end it early or reach the path; control characters are refused."""
    if not query:
        return ""
    for k, v in query.items():
        if _CONTROL_TEXT.search(k) or _CONTROL_TEXT.search(v):
            raise UnsafePath("the query string has a control character (such as %00 or %0A)", param=k)
    return "?" + urlencode(query)
