"""Reading a LiteLLM proxy's PostgreSQL database: which of its tables and columns exist, then their rows.

LiteLLM's schema has grown column by column over its releases, so nothing here assumes a version: each
table is found through the connection's search_path (`?search_path=` in the URL picks another schema), its
columns are read from the catalog, and only the columns the import wants and the table has are selected.
"""

from __future__ import annotations

from attrs import Factory, define

from kernel.serve import litellm_map as m
from kernel.store.postgres import redact

TABLES = (m.LITELLM_BUDGETS, m.LITELLM_TEAMS, m.LITELLM_USERS, m.LITELLM_KEYS)
CONNECT_TIMEOUT = 15.0

_COLUMNS = """
SELECT n.nspname, a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
"""


class SourceError(Exception):
    """The LiteLLM database cannot be read; the message is for the user and never holds a password."""


@define
class Source:
    where: str  # the URL without its password
    schema: str = ""
    rows: dict[str, list[dict]] = Factory(dict)  # LiteLLM table → its rows (only the wanted columns)
    absent: list[str] = Factory(list)  # tables this LiteLLM version does not have
    model_aliases: dict[int, object] = Factory(dict)  # LiteLLM_ModelTable id → aliases


def where_of(url: str) -> str:
    """The URL without its password, for messages; a URL too malformed to parse is not repeated at all."""
    try:
        return redact(url)
    except ValueError:
        return "(the --from URL)"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _scrub(text: str, url: str) -> str:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(secret, "***")
    return text.replace(url, where_of(url))


async def _columns(conn, name: str) -> tuple[str, set[str]]:
    found = await conn.fetch(_COLUMNS, _quote(name))
    return (found[0]["nspname"], {r["attname"] for r in found}) if found else ("", set())


async def _select(conn, schema: str, name: str, columns: set[str]) -> list[dict]:
    cols = ", ".join(_quote(c) for c in sorted(columns))
    return [dict(r) for r in await conn.fetch(f"SELECT {cols} FROM {_quote(schema)}.{_quote(name)}")]


async def read(url: str) -> Source:
    """Every LiteLLM row the import needs; SourceError when the database is unreachable or not LiteLLM's."""
    source = Source(where=where_of(url))
    try:
        import asyncpg
    except ImportError:
        raise SourceError("reading a LiteLLM database needs the asyncpg package: pip install 'relaykit[postgres]'") \
            from None
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except Exception as exc:  # OSError, TimeoutError, asyncpg's errors, ValueError for a malformed URL
        raise SourceError(f"cannot connect to the LiteLLM database {source.where}: "
                          f"{type(exc).__name__}: {_scrub(str(exc), url)}") from None
    try:
        async with conn.transaction(readonly=True, isolation="repeatable_read"):  # one consistent snapshot
            schema, columns = await _columns(conn, m.LITELLM_KEYS)
            if "token" not in columns:
                path = await conn.fetchval("SHOW search_path")
                raise SourceError(f"{source.where} is not a LiteLLM proxy database: it has no table "
                                  f'"{m.LITELLM_KEYS}" with a token column (search_path: {path}; add '
                                  "?search_path=<schema> to the URL if LiteLLM's tables are in another schema)")
            source.schema = schema
            for name in TABLES:
                where, columns = await _columns(conn, name)
                if not columns:
                    source.absent.append(name)
                    source.rows[name] = []
                    continue
                source.rows[name] = await _select(conn, where, name, columns & m.wanted(name))
            where, columns = await _columns(conn, m.LITELLM_MODELS)
            if {"id", "aliases"} <= columns:
                for r in await _select(conn, where, m.LITELLM_MODELS, {"id", "aliases"}):
                    source.model_aliases[r["id"]] = r["aliases"]
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(f"cannot read the LiteLLM database {source.where}: "
                          f"{type(exc).__name__}: {_scrub(str(exc), url)}") from None
    finally:
        await conn.close()
    return source
