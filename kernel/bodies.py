"""Edits of request bodies shared by middlewares and providers: copy only what changes, never mutate."""

from __future__ import annotations


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
