"""Read pipelines.yaml, validate it, build each chain's middlewares and fold them once into a handler."""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import cattrs
from attrs import frozen

from kernel import registry
from kernel.call import Call, Next, Reply
from kernel.config import PIPELINES_SCHEMA, cattrs_problems, read_yaml, schema_problems
from kernel.errors import ConfigError, GatewayError
from kernel.state import Gateway

_converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


@frozen
class Pipeline:
    """One route: the paths it serves, what the client speaks, and its folded chain."""

    name: str
    paths: tuple[str, ...]
    methods: frozenset[str]
    endpoint: str
    dialect: str
    handler: Next
    middlewares: tuple[Any, ...]


async def _end_of_chain(call: Call) -> Reply:
    raise GatewayError(f"pipeline {call.route!r} has no middleware that answers", status=500)


def fold(middlewares: list[Any]) -> Next:
    """Fold middlewares (outermost first) into one callable; done once at startup, never per request."""
    handler: Next = _end_of_chain
    for mw in reversed(middlewares):
        handler = functools.partial(mw.__call__, next=handler)
    return handler


def default_pipelines_text() -> str:
    return resources.files("kernel").joinpath("pipelines.yaml").read_text()


def build_middleware(entry: Any, where: str, gateway: Gateway, problems: list[str], source: str) -> Any:
    name, options = (entry, None) if isinstance(entry, str) else next(iter(entry.items()))
    try:
        cls = registry.resolve_middleware(name)
    except LookupError as exc:
        problems.append(f"{source}: {where}: {exc}")
        return None
    options_cls = getattr(cls, "Options", None)
    if options_cls is None:
        if options:
            problems.append(f"{source}: {where}.{name}: this middleware takes no options")
        parsed = None
    else:
        try:
            parsed = _converter.structure(options or {}, options_cls)
        except cattrs.ClassValidationError as exc:
            problems.extend(cattrs_problems(exc, f"{where}.{name}", source))
            return None
    try:
        return cls(parsed, gateway)
    except (ValueError, TypeError) as exc:
        problems.append(f"{source}: {where}.{name}: {exc}")
        return None


def build_pipelines(data: Any, source: str, gateway: Gateway) -> dict[str, Pipeline]:
    """Validate a pipelines tree and build every chain; raises ConfigError with every problem."""
    problems = schema_problems(PIPELINES_SCHEMA, data, source)
    if problems:
        raise ConfigError(problems)
    named_chains = data.get("chains") or {}
    pipelines: dict[str, Pipeline] = {}
    seen_paths: dict[tuple[str, str], str] = {}
    for name, spec in data["pipelines"].items():
        where = f"pipelines.{name}"
        chain = spec["chain"]
        if isinstance(chain, str):
            if chain not in named_chains:
                problems.append(f"{source}: {where}.chain: no chain named {chain!r} under `chains`")
                continue
            chain = named_chains[chain]
        if spec["dialect"] not in registry.DIALECTS:
            known = ", ".join(sorted(registry.DIALECTS))
            problems.append(f"{source}: {where}.dialect: unknown dialect {spec['dialect']!r} (known: {known})")
        methods = frozenset(spec.get("methods") or ["POST"])
        for path in spec["paths"]:
            for method in methods:
                other = seen_paths.setdefault((method, path), name)
                if other != name:
                    problems.append(f"{source}: {where}.paths: {method} {path} is already served by pipeline {other!r}")
        built = [build_middleware(e, f"{where}.chain[{i}]", gateway, problems, source) for i, e in enumerate(chain)]
        if None in built:
            continue
        pipelines[name] = Pipeline(name=name, paths=tuple(spec["paths"]), methods=methods,
                                   endpoint=spec["endpoint"], dialect=spec["dialect"],
                                   handler=fold(built), middlewares=tuple(built))
    if problems:
        raise ConfigError(problems)
    return pipelines


def load_pipelines(path: str | None, gateway: Gateway) -> dict[str, Pipeline]:
    import yaml

    if path is None:
        return build_pipelines(yaml.safe_load(default_pipelines_text()), "pipelines.yaml (built in)", gateway)
    problems: list[str] = []
    data = read_yaml(path, problems)
    if problems:
        raise ConfigError(problems)
    return build_pipelines(data, path, gateway)


class PathRouter:
    """Maps (method, path) to a pipeline: exact paths by dict, `{param}` paths by precompiled regex."""

    __slots__ = ("exact", "patterns")

    def __init__(self, pipelines: dict[str, Pipeline]) -> None:
        self.exact: dict[str, dict[str, Pipeline]] = {}
        self.patterns: list[tuple[re.Pattern, dict[str, Pipeline]]] = []
        by_pattern: dict[str, dict[str, Pipeline]] = {}
        for p in pipelines.values():
            for path in p.paths:
                if "{" in path:
                    by_pattern.setdefault(path, {}).update({m: p for m in p.methods})
                else:
                    self.exact.setdefault(path, {}).update({m: p for m in p.methods})
        # Most literal text first: `{model:path}/chat/completions` is tried before `{model:path}/completions`.
        for path, methods in sorted(by_pattern.items(), key=lambda kv: -len(re.sub(r"\{[^}]*\}", "", kv[0]))):
            self.patterns.append((_compile(path), methods))

    def match(self, path: str) -> tuple[dict[str, Pipeline] | None, dict[str, str]]:
        hit = self.exact.get(path)
        if hit is not None:
            return hit, {}
        if len(path) > 1 and path.endswith("/"):
            hit = self.exact.get(path.rstrip("/"))
            if hit is not None:
                return hit, {}
        for regex, methods in self.patterns:
            m = regex.fullmatch(path)
            if m:
                return methods, m.groupdict()
        return None, {}


def _compile(path: str) -> re.Pattern:
    out, pos = "", 0
    for m in re.finditer(r"\{(\w+)(:path)?\}", path):
        out += re.escape(path[pos:m.start()]) + (f"(?P<{m[1]}>.+)" if m[2] else f"(?P<{m[1]}>[^/]+)")
        pos = m.end()
    # DOTALL: a decoded %0A is still part of the path, for the route's own checks to refuse in its envelope.
    return re.compile(out + re.escape(path[pos:]) + "/?", re.DOTALL)
