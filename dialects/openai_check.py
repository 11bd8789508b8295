"""The JSON types of an OpenAI request's fields, checked once in decode so every provider's translator can trust them.

A table per endpoint maps each field to a small check built here at import time. A check returns None when
the value is fine, or a `Bad` that names what was expected; the path (`messages[2].content`) is assembled
only on the way back out of a failure, so a good body costs one dict lookup and an isinstance test or two
per field present (no JSON Schema per request). `null` counts as absent for optional fields, as OpenAI treats
it; fields the table does not know are left to the provider (they may be its own extensions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kernel.errors import ClientError


class Bad:
    """A failed check: what was expected, what came, and the keys from the culprit up (innermost first)."""

    __slots__ = ("expected", "got", "text", "where")

    def __init__(self, expected: str, got: Any, where: list | None = None, text: str | None = None) -> None:
        self.expected = expected
        self.got = got
        self.where = where if where is not None else []
        self.text = text  # the whole complaint after the path, when "must be X, got Y" does not say it well

    def at(self, key: str | int) -> Bad:
        self.where.append(key)
        return self


Check = Callable[[Any], "Bad | None"]

_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array",
               dict: "an object", type(None): "null"}


def json_type(value: Any) -> str:
    if value == []:
        return "an empty array"
    return _JSON_NAMES.get(type(value), type(value).__name__)


def path_of(root: str, where: list) -> str:
    """`messages` + [2, "content"] (stored innermost first) → `messages[2].content`."""
    out = root
    for key in reversed(where):
        out += f"[{key}]" if isinstance(key, int) else f".{key}"
    return out


def problem(root: str, bad: Bad) -> ClientError:
    """The 400 for a failed check, its `param` the exact path; a top-level field is quoted like the other
    decode errors ('stream' must be ...)."""
    path = path_of(root, bad.where)
    shown = path if bad.where else f"'{path}'"
    if bad.text is not None:
        return ClientError(f"{shown} {bad.text}", param=path)
    if bad.got is _MISSING:
        return ClientError(f"{shown} is required: expected {bad.expected}", param=path)
    return ClientError(f"{shown} must be {bad.expected}, got {json_type(bad.got)}", param=path)


_MISSING = object()


# -- building blocks --------------------------------------------------------------------------------------

def _is(types: tuple[type, ...], expected: str) -> Check:
    def check(v: Any) -> Bad | None:
        return None if type(v) in types else Bad(expected, v)
    return check


STRING = _is((str,), "a string")
BOOL = _is((bool,), "true or false")
INTEGER = _is((int,), "an integer")  # type() is exact, so true/false are not integers here
NUMBER = _is((int, float), "a number")
OBJECT = _is((dict,), "an object")


def array(item: Check, expected: str) -> Check:
    def check(v: Any) -> Bad | None:
        if type(v) is not list:
            return Bad(expected, v)
        for i, x in enumerate(v):
            bad = item(x)
            if bad is not None:
                return bad.at(i)
        return None
    return check


def one_of(expected: str, *checks: Check) -> Check:
    """The first check that accepts the value wins; the error names the whole union."""
    def check(v: Any) -> Bad | None:
        for c in checks:
            if c(v) is None:
                return None
        return Bad(expected, v)
    return check


def known_fields(fields: dict[str, Check], v: dict) -> Bad | None:
    """The first of `v`'s fields that `fields` knows and whose non-null value has the wrong type; unknown fields pass."""
    for key, x in v.items():
        c = fields.get(key)
        if c is not None and x is not None:
            bad = c(x)
            if bad is not None:
                return bad.at(key)
    return None


def obj(fields: dict[str, Check], required: tuple[str, ...] = (), expected: str = "an object") -> Check:
    """An object whose known fields have these types; `required` ones must be present and not null."""
    def check(v: Any) -> Bad | None:
        if type(v) is not dict:
            return Bad(expected, v)
        for key in required:
            if v.get(key) is None:
                c = fields[key]
                return Bad(_expected_of(c), _MISSING).at(key)
        return known_fields(fields, v)
    check.expected = expected
    return check


def _expected_of(c: Check) -> str:
    expected = getattr(c, "expected", None)
    if expected is not None:
        return expected
    bad = c(_MISSING)
    return bad.expected if bad is not None else "a value"


STRINGS = array(STRING, "an array of strings")
STRING_OR_STRINGS = one_of("a string or an array of strings", STRING, STRINGS)
INTS = array(INTEGER, "an array of integers")
TOKEN_INPUT = one_of("a string, an array of strings, an array of integers or an array of arrays of integers",
                     STRING, STRINGS, INTS, array(INTS, "an array of arrays of integers"))

# -- chat messages ---------------------------------------------------------------------------------------

FUNCTION_CALL = obj({"name": STRING, "arguments": STRING}, required=("name",))
TOOL_CALL = obj({"id": STRING, "type": STRING, "function": FUNCTION_CALL}, required=("function",))
IMAGE_URL = one_of("a string or an object with a string `url`", STRING,
                   obj({"url": STRING, "detail": STRING, "format": STRING}, required=("url",)))
_PART_TYPE = {"type": STRING}
# What each content-part type carries; a type not listed needs only its `type` string.
PARTS: dict[str, Check] = {
    "text": obj({**_PART_TYPE, "text": STRING, "cache_control": OBJECT}, required=("text",)),
    "image_url": obj({**_PART_TYPE, "image_url": IMAGE_URL, "cache_control": OBJECT}, required=("image_url",)),
    "input_audio": obj({**_PART_TYPE, "input_audio": obj({"data": STRING, "format": STRING}, required=("data",))},
                       required=("input_audio",)),
    "file": obj({**_PART_TYPE, "file": obj({"file_data": STRING, "file_id": STRING, "filename": STRING,
                                            "format": STRING}), "cache_control": OBJECT}, required=("file",)),
    "refusal": obj({**_PART_TYPE, "refusal": STRING}, required=("refusal",)),
}
_CONTENT = "a string or an array of content parts"


def part(p: Any) -> Bad | None:
    if type(p) is not dict:
        return Bad("an object (a content part)", p)
    kind = p.get("type")
    if type(kind) is not str:
        return Bad("a string", _MISSING if kind is None else kind).at("type")
    check = PARTS.get(kind)
    return None if check is None else check(p)


PARTS_LIST = array(part, _CONTENT)
BLOCK = obj({"type": STRING}, required=("type",))  # an Anthropic block a client carries through (thinking)

MESSAGE_FIELDS: dict[str, Check] = {
    "role": STRING,
    "name": STRING,
    "tool_calls": array(TOOL_CALL, "an array of tool calls"),
    "tool_call_id": STRING,
    "function_call": FUNCTION_CALL,
    "refusal": STRING,
    "reasoning_content": STRING,
    "thinking_blocks": array(BLOCK, "an array of thinking blocks"),
    "audio": obj({"id": STRING}),
}
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_ROLE_NAMES = ", ".join(sorted(ROLES))
# Roles whose content may be null or left out (an assistant turn that only calls tools, a function result).
_NULL_CONTENT_OK = frozenset({"assistant", "function"})


def message(m: Any) -> Bad | None:
    if type(m) is not dict:
        return Bad("an object (a message)", m)
    role = m.get("role")
    if type(role) is not str or role not in ROLES:
        if role is None:
            what = "is missing"
        elif type(role) is str:
            what = f"is {role[:40]!r}, expected one of {_ROLE_NAMES}"
        else:
            what = f"must be one of {_ROLE_NAMES}, got {json_type(role)}"
        return Bad(_ROLE_NAMES, role, text=what).at("role")
    content = m.get("content")
    if type(content) is not str:
        if content is None:
            if role not in _NULL_CONTENT_OK:
                return Bad(_CONTENT, _MISSING).at("content")
        elif type(content) is list:
            bad = PARTS_LIST(content)
            if bad is not None:
                return bad.at("content")
        else:
            return Bad(_CONTENT, content).at("content")
    if len(m) > 1 + ("content" in m):  # fields beyond role and content (most messages have none)
        return known_fields(MESSAGE_FIELDS, m)
    return None


def messages(v: Any) -> Bad | None:
    if type(v) is not list or not v:
        return Bad("a non-empty array of messages", v)
    for i, m in enumerate(v):
        bad = message(m)
        if bad is not None:
            return bad.at(i)
    return None


# -- tools ------------------------------------------------------------------------------------------------

FUNCTION = obj({"name": STRING, "description": STRING, "parameters": OBJECT, "strict": BOOL}, required=("name",))


def tool(t: Any) -> Bad | None:
    """An OpenAI function tool, or a provider's own tool (Anthropic's web_search, Gemini's googleSearch) as is."""
    if type(t) is not dict:
        return Bad("an object (a tool)", t)
    kind = t.get("type")
    if kind is not None and type(kind) is not str:
        return Bad("a string", kind).at("type")
    fn = t.get("function")
    if kind == "function" or fn is not None:
        if fn is None:
            return Bad("an object with the function's name", _MISSING).at("function")
        bad = FUNCTION(fn)
        if bad is not None:
            return bad.at("function")
    cache = t.get("cache_control")
    if cache is not None and type(cache) is not dict:
        return Bad("an object", cache).at("cache_control")
    return None


TOOL_CHOICE = one_of('"none", "auto", "required" or an object naming a function', STRING,
                     obj({"type": STRING, "function": obj({"name": STRING}, required=("name",)), "name": STRING}))
RESPONSE_FORMAT = obj({"type": STRING, "json_schema": obj({"name": STRING, "description": STRING, "schema": OBJECT,
                                                           "strict": BOOL})}, required=("type",))
def logit_bias(v: Any) -> Bad | None:
    if type(v) is not dict:
        return Bad("an object of token ids to numbers", v)
    for key, x in v.items():
        if type(x) not in (int, float):
            return Bad("a number", x).at(key)
    return None


# -- the tables -------------------------------------------------------------------------------------------

_SAMPLING = {"temperature": NUMBER, "top_p": NUMBER, "presence_penalty": NUMBER, "frequency_penalty": NUMBER,
             "n": INTEGER, "seed": INTEGER, "user": STRING, "logit_bias": logit_bias, "stop": STRING_OR_STRINGS,
             "stream_options": obj({"include_usage": BOOL}), "max_tokens": INTEGER}
CHAT: dict[str, Check] = {
    **_SAMPLING,
    "messages": messages,
    "top_k": NUMBER,
    "max_completion_tokens": INTEGER,
    "logprobs": BOOL,
    "top_logprobs": INTEGER,
    "response_format": RESPONSE_FORMAT,
    "tools": array(tool, "an array of tools"),
    "tool_choice": TOOL_CHOICE,
    "parallel_tool_calls": BOOL,
    "functions": array(FUNCTION, "an array of functions"),
    "function_call": one_of('"none", "auto" or an object naming a function', STRING,
                            obj({"name": STRING}, required=("name",))),
    "reasoning_effort": STRING,
    "thinking": obj({"type": STRING, "budget_tokens": INTEGER}),
    "modalities": STRINGS,
    "audio": OBJECT,
    "prediction": OBJECT,
    "service_tier": STRING,
    "store": BOOL,
    "web_search_options": OBJECT,
    "verbosity": STRING,
}
COMPLETIONS: dict[str, Check] = {**_SAMPLING, "prompt": TOKEN_INPUT, "echo": BOOL, "best_of": INTEGER,
                                 "suffix": STRING, "logprobs": INTEGER}
EMBEDDINGS: dict[str, Check] = {"input": TOKEN_INPUT, "dimensions": INTEGER, "encoding_format": STRING, "user": STRING,
                                "input_type": STRING}
MODERATIONS: dict[str, Check] = {"input": one_of("a string, an array of strings or an array of input objects",
                                                 STRING, STRINGS, array(part, "an array of input objects"))}
IMAGES: dict[str, Check] = {"prompt": STRING, "n": INTEGER, "size": STRING, "quality": STRING, "style": STRING,
                            "response_format": STRING, "user": STRING, "background": STRING, "moderation": STRING,
                            "output_format": STRING, "output_compression": INTEGER}
SPEECH: dict[str, Check] = {"input": STRING, "voice": one_of("a string or an object", STRING, OBJECT), "speed": NUMBER,
                            "response_format": STRING, "instructions": STRING, "stream_format": STRING}
TABLES: dict[str, dict[str, Check]] = {"chat": CHAT, "completions": COMPLETIONS, "embeddings": EMBEDDINGS,
                                       "moderations": MODERATIONS, "images": IMAGES, "speech": SPEECH}
# Uploads (transcriptions, translations) arrive as multipart forms, whose values are strings and files by nature.


def check_body(endpoint: str, body: dict) -> None:
    """Raise a ClientError naming the first field (by its path) whose JSON type is wrong for `endpoint`."""
    table = TABLES.get(endpoint)
    if table is None:
        return
    for key, value in body.items():
        c = table.get(key)
        if c is not None and value is not None:
            bad = c(value)
            if bad is not None:
                raise problem(key, bad)
