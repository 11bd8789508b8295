"""Request bodies shared by dialects, middlewares and providers: parsed once as a JSON object, and edited by copying
only what changes, never by mutating."""

from __future__ import annotations

import orjson

from kernel.errors import ClientError


def parse_json_body(raw: bytes) -> dict:
    """A request body as a JSON object, or a 400 saying what it is instead."""
    if not raw.strip():
        raise ClientError("request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ClientError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ClientError("request body must be a JSON object")
    return body


def drop_path(body: dict, path: str) -> dict:
    """Remove `a.b` or `tools[*].input_examples` from a body, copying only what it changes."""
    head, _, rest = path.partition(".")
    if head.endswith("[*]"):
        key = head[:-3]
        items = body.get(key)
        if not isinstance(items, list):
            return body
        if not rest:
            return {k: v for k, v in body.items() if k != key}
        new_items = [drop_path(i, rest) if isinstance(i, dict) else i for i in items]
        if all(a is b for a, b in zip(new_items, items, strict=True)):
            return body
        return {**body, key: new_items}
    if head not in body:
        return body
    if not rest:
        return {k: v for k, v in body.items() if k != head}
    inner = body[head]
    if not isinstance(inner, dict):
        return body
    new_inner = drop_path(inner, rest)
    return body if new_inner is inner else {**body, head: new_inner}


def drop_paths(body: dict, paths) -> dict:
    """`body` less every path in `paths` (see `drop_path`)."""
    for path in paths:
        body = drop_path(body, path)
    return body


def refuse_form(call) -> None:
    """A dialect that takes only JSON bodies: a multipart or form upload is a 400 naming its Content-Type."""
    if call.form is not None:
        raise ClientError(f"{call.path} takes a JSON body, not Content-Type {call.headers.get('content-type')!r}",
                          param="content-type")
