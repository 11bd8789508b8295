"""The management API's request shapes (LiteLLM's field names) as JSON Schemas, and the checks that apply them.

A body is checked whole before anything is read or written, so a bad field means nothing is created or
changed. Every problem is a 400 whose `param` is the first bad field and whose message lists them all.
LiteLLM fields that relaykit does not implement yet are refused by name rather than silently ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from kernel.bodies import parse_json_body
from kernel.call import Call
from kernel.config import json_path
from kernel.errors import ClientError
from middleware.governance.durations import EXPECTED, PATTERN

_STR = {"type": ["string", "null"]}
_ID = {"type": ["string", "null"], "minLength": 1}
_DURATION = {"type": ["string", "null"], "pattern": PATTERN, "x-expected": EXPECTED}
_MONEY = {"type": ["number", "null"], "minimum": 0}
_COUNT = {"type": ["integer", "null"], "minimum": 0}
_BOOL = {"type": ["boolean", "null"]}
_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}}
_ALIASES = {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}}
_OBJECT = {"type": "object"}
_PER_MODEL_COUNT = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_MODEL_MAX_BUDGET = {"type": "object", "additionalProperties": {
    "type": "object", "required": ["budget_limit"], "additionalProperties": False,
    "properties": {"budget_limit": {"type": "number", "minimum": 0}, "time_period": _DURATION}}}

_LIMITS = {
    "max_budget": _MONEY, "soft_budget": _MONEY, "budget_duration": _DURATION,
    "tpm_limit": _COUNT, "rpm_limit": _COUNT, "max_parallel_requests": _COUNT,
    "model_max_budget": _MODEL_MAX_BUDGET, "model_rpm_limit": _PER_MODEL_COUNT, "model_tpm_limit": _PER_MODEL_COUNT,
}
KEY_FIELDS = {
    "key_alias": _ID, "duration": _DURATION, "models": _NAMES, "aliases": _ALIASES, "spend": _MONEY,
    "budget_id": _ID, "user_id": _ID, "team_id": _ID, "organization_id": _ID, "metadata": _OBJECT, "blocked": _BOOL,
    "tags": {"type": ["array", "null"], "items": {"type": "string"}}, **_LIMITS,
}
_KEY_VALUE = {"type": "string", "minLength": 1}
_NEW_KEY = {"type": ["string", "null"], "pattern": "^sk-[^\\s]+$", "x-expected": "a key that starts with 'sk-'"}


def _obj(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


KEY_GENERATE = _obj({**KEY_FIELDS, "key": _NEW_KEY})
KEY_UPDATE = _obj({**KEY_FIELDS, "key": _KEY_VALUE}, ("key",))
KEY_DELETE = _obj({"keys": {"type": ["array", "null"], "items": _KEY_VALUE},
                   "key_aliases": {"type": ["array", "null"], "items": _KEY_VALUE}})
KEY_BLOCK = _obj({"key": _KEY_VALUE}, ("key",))
KEY_REGENERATE = _obj({**KEY_FIELDS, "key": _KEY_VALUE, "new_key": _NEW_KEY})

_MEMBER = {"type": "object", "additionalProperties": False, "properties": {
    "user_id": _ID, "user_email": _STR, "role": {"enum": ["admin", "user"]}}}
TEAM_FIELDS = {
    "team_alias": _ID, "team_id": _ID, "organization_id": _ID, "models": _NAMES, "model_aliases": _ALIASES,
    "metadata": _OBJECT, "blocked": _BOOL, "members_with_roles": {"type": "array", "items": _MEMBER},
    "budget_id": _ID, **_LIMITS,
}
TEAM_NEW = _obj(TEAM_FIELDS)
TEAM_UPDATE = _obj({**TEAM_FIELDS, "team_id": {"type": "string", "minLength": 1}}, ("team_id",))
TEAM_DELETE = _obj({"team_ids": {"type": "array", "minItems": 1, "items": _KEY_VALUE}}, ("team_ids",))

USER_ROLES = ["proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer"]
USER_NEW = _obj({
    "user_id": _ID, "user_alias": _STR, "user_email": _STR, "user_role": {"enum": [*USER_ROLES, None]},
    "teams": _NAMES, "models": _NAMES, "metadata": _OBJECT, "budget_id": _ID, **_LIMITS,
    # The key /user/new creates for the user (LiteLLM's auto_create_key), and its own fields.
    "auto_create_key": {"type": "boolean"}, "duration": _DURATION, "key_alias": _ID, "team_id": _ID,
    "aliases": _ALIASES,
})
BUDGET_NEW = _obj({"budget_id": _ID, **_LIMITS})

# LiteLLM request fields relaykit knows of but does not implement yet: refused with a message that says so.
NOT_YET = frozenset({
    "key_type", "config", "permissions", "allowed_cache_controls", "allowed_routes", "guardrails", "policies",
    "prompts", "enforced_params", "object_permission", "send_invite_email", "auto_rotate", "rotation_interval",
    "access_group_ids", "router_settings", "allowed_passthrough_routes", "denied_passthrough_routes",
    "allowed_vector_store_indexes", "budget_fallbacks", "budget_limits", "tpd_limit", "rpm_limit_type",
    "tpm_limit_type", "project_id", "agent_id", "grace_period", "new_master_key", "temp_budget_increase",
    "temp_budget_expiry", "admins", "members", "team_member_permissions", "default_team_member_models",
    "sso_user_id", "organizations", "password", "budget_reset_at", "model_id", "team_member_budget",
    "team_member_rpm_limit", "team_member_tpm_limit", "team_member_key_duration", "secret_manager_settings",
})

_VALIDATORS: dict[int, jsonschema.Draft202012Validator] = {}


def _validator(schema: dict) -> jsonschema.Draft202012Validator:
    v = _VALIDATORS.get(id(schema))
    if v is None:
        v = _VALIDATORS[id(schema)] = jsonschema.Draft202012Validator(schema)
    return v


def _path(parts) -> str:
    return json_path(parts) if parts else ""


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


_KIND = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
         type(None): "null"}


def _problems(err: jsonschema.ValidationError) -> list[tuple[str, str]]:
    """(param, message) for one schema violation."""
    where = _path(err.absolute_path)
    v = err.validator
    if v == "additionalProperties":
        out = []
        for name in sorted(set(err.instance) - set(err.schema.get("properties", {}))):
            param = f"{where}.{name}" if where else name
            why = "is a LiteLLM field relaykit does not support yet" if name in NOT_YET and not where else "is not a known field"
            out.append((param, f"{param}: {why}"))
        return out
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return [(f"{where}.{k}" if where else k, f"missing required field {k!r}") for k in missing]
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        got = _KIND.get(type(err.instance), type(err.instance).__name__)
        return [(where, f"{where}: expected {want}, got {got} {_short(err.instance)}")]
    if v == "pattern":
        expected = err.schema.get("x-expected", f"a value matching {err.validator_value}")
        return [(where, f"{where}: expected {expected}, got {_short(err.instance)}")]
    if v == "minimum":
        return [(where, f"{where}: must be >= {err.validator_value}, got {_short(err.instance)}")]
    if v == "minLength":
        return [(where, f"{where}: must not be empty")]
    if v == "minItems":
        return [(where, f"{where}: must list at least {err.validator_value}")]
    if v == "enum":
        allowed = ", ".join(str(x) for x in err.validator_value if x is not None)
        return [(where, f"{where}: {_short(err.instance)} is not one of {allowed}")]
    return [(where, f"{where}: {err.message}")]


def check(schema: dict, data: Any) -> dict:
    """`data` if it fits `schema`; else a 400 naming every bad field (the first one as `param`)."""
    errors = sorted(_validator(schema).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    found = [p for e in errors for p in _problems(e)]
    if found:
        raise ClientError("; ".join(m for _, m in found), param=found[0][0] or None, code="invalid_field")
    return data


def body_of(call: Call, *, empty_ok: bool = False) -> dict:
    """The request's JSON object (an empty body is `{}` where every field is optional)."""
    if empty_ok and not call.raw.strip():
        return {}
    return parse_json_body(call.raw)


def query_of(call: Call, spec: Mapping[str, Any]) -> dict:
    """Query parameters parsed by `spec` (name → "str" | "bool" | (min, max) for an int | tuple of choices)."""
    out: dict[str, Any] = {}
    for name, value in call.query.items():
        kind = spec.get(name)
        if kind is None:
            known = ", ".join(sorted(spec))
            raise ClientError(f"unknown query parameter {name!r} (known: {known})", param=name, code="invalid_field")
        if kind == "str":
            out[name] = value
        elif kind == "bool":
            if value.lower() not in ("true", "false", "1", "0"):
                raise ClientError(f"{name}: expected true or false, got {value!r}", param=name, code="invalid_field")
            out[name] = value.lower() in ("true", "1")
        elif isinstance(kind, tuple) and all(isinstance(k, int) for k in kind):
            low, high = kind
            if not value.isdigit() or not low <= int(value) <= high:
                raise ClientError(f"{name}: expected an integer from {low} to {high}, got {value!r}", param=name,
                                  code="invalid_field")
            out[name] = int(value)
        else:
            if value not in kind:
                raise ClientError(f"{name}: {value!r} is not one of {', '.join(kind)}", param=name, code="invalid_field")
            out[name] = value
    return out
