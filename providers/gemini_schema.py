"""Reduce a JSON Schema to the OpenAPI-3.0 subset Gemini accepts for function parameters and responseSchema.

Gemini answers 400 to `$ref`, `additionalProperties`, `$schema`, `const`, `oneOf`, unknown `format`s and
type arrays, all of which OpenAI tool definitions (and Pydantic-generated schemas) use freely. So: refs are
inlined, `["string", "null"]` becomes `nullable`, `const` an `enum`, `oneOf` an `anyOf`, a one-item
`allOf` is merged, and every key Gemini does not know is removed.
"""

from __future__ import annotations

from typing import Any

# The Schema fields Gemini documents; anything else is dropped.
_KEEP = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
    "propertyOrdering", "default", "items", "minimum", "maximum",
})
# `format` values Gemini accepts per type; others are answered with 400, so they go.
_FORMATS = {"string": frozenset({"enum", "date-time"}), "integer": frozenset({"int32", "int64"}),
            "number": frozenset({"float", "double"})}
_MAX_DEPTH = 32  # a recursive $ref is cut here: Gemini schemas cannot express recursion


def reduce_schema(schema: Any) -> Any:
    """A Gemini-acceptable copy of `schema` (the input is never modified)."""
    if not isinstance(schema, dict):
        return schema
    defs = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _reduce(schema, defs, 0)


def _resolve(ref: Any, defs: dict) -> dict:
    # Only local refs (#/$defs/X, #/definitions/X) appear in tool schemas; anything else becomes an open object.
    if not isinstance(ref, str):
        return {"type": "object"}
    name = ref.rsplit("/", 1)[-1]
    target = defs.get(name)
    return target if isinstance(target, dict) else {"type": "object"}


def _reduce(node: dict, defs: dict, depth: int) -> dict:
    if depth > _MAX_DEPTH:
        return {"type": "object"}
    if "$ref" in node:
        merged = {**_resolve(node["$ref"], defs), **{k: v for k, v in node.items() if k != "$ref"}}
        return _reduce(merged, defs, depth + 1)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for part in all_of:
            if isinstance(part, dict):
                part = _resolve(part["$ref"], defs) if "$ref" in part else part
                merged = {**part, **merged}
        return _reduce(merged, defs, depth + 1)
    out: dict[str, Any] = {}
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if kinds else None
    if kind is not None:
        out["type"] = kind
    for key, value in node.items():
        if key == "type":
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            out.update(_any_of(value, defs, depth))
        elif key not in _KEEP:
            continue
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: _reduce(sub, defs, depth + 1) if isinstance(sub, dict) else sub
                                 for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out["items"] = _reduce(value, defs, depth + 1)
        elif key == "format":
            if isinstance(value, str) and value in _FORMATS.get(kind if isinstance(kind, str) else "", ()):
                out["format"] = value
        elif key not in out:
            out[key] = value
    if "required" in out:
        props = out.get("properties")
        required = out["required"]
        out["required"] = [r for r in required if isinstance(r, str) and isinstance(props, dict) and r in props] \
            if isinstance(required, list) else []
        if not out["required"]:
            del out["required"]
    if "enum" in out:  # Gemini enums are strings only; a number enum stays a plain typed value
        if isinstance(out["enum"], list) and all(isinstance(v, str) for v in out["enum"]):
            out.setdefault("type", "string")
        else:
            del out["enum"]
    if out.get("type") == "object" and not out.get("properties") and "anyOf" not in out:
        out.pop("properties", None)  # an empty `properties` map is refused; an open object is not
    return out


def _any_of(options: list, defs: dict, depth: int) -> dict:
    """`anyOf` with a null branch becomes `nullable`; a single remaining branch is inlined."""
    branches = [o for o in options if isinstance(o, dict)]
    real = [o for o in branches if o.get("type") != "null"]
    out: dict[str, Any] = {}
    if len(real) < len(branches):
        out["nullable"] = True
    reduced = [_reduce(o, defs, depth + 1) for o in real]
    if len(reduced) == 1:
        out.update(reduced[0])
    elif reduced:
        out["anyOf"] = reduced
    return out
