"""`relaykit import-litellm --from postgresql://…`: a LiteLLM proxy's keys, teams, users, budgets and spend, into
relaykit's store, so every key LiteLLM's users hold keeps working (both keep the key's SHA-256 hex digest).

The destination is the store relaykit itself would open: the one `--config` names (database_url, or SQLite in
the data directory next to it), or `--database-url`, or SQLite in `--data-dir`. Running it again updates what
changed and leaves the rest alone; every record it creates or changes gets an audit row (actor
"import-litellm"). `--dry-run` prints the plan and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime

import attrs

from kernel.config import GeneralSettings, Settings, load_config
from kernel.errors import ConfigError
from kernel.serve import litellm_map as m
from kernel.serve.litellm_plan import ACTOR, KINDS, Plan, plan
from kernel.serve.litellm_source import SourceError, read
from kernel.store import Conflict, Insert, Missing, Store, StoreError, Update, default_data_dir, make_store
from kernel.store.migrations import AUDIT

BATCH = 200  # records per transaction: a big import neither holds one huge transaction nor commits per row
PROG = "relaykit import-litellm"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Copy a LiteLLM proxy's keys, teams, users, budgets and "
                                "spend into relaykit's store; the keys LiteLLM's users hold keep working.")
    p.add_argument("--from", dest="source", required=True, metavar="POSTGRESQL_URL",
                   help="the LiteLLM proxy's DATABASE_URL (read only; add ?search_path=SCHEMA for another schema)")
    p.add_argument("--config", "-c", help="the relaykit config.yaml whose store to fill (its general_settings."
                   "database_url, or SQLite in .relaykit/ next to it)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--database-url", "--database_url", dest="database_url",
                       help="fill this store instead (postgresql://… or sqlite:///path)")
    where.add_argument("--data-dir", "--data_dir", dest="data_dir", help="fill the SQLite store in this directory")
    p.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                   help="print what would be created and updated, write nothing")
    return p


def destination(args: argparse.Namespace) -> Settings:
    """The settings whose store `relaykit --config … [--data-dir …]` would open; raises ConfigError."""
    if args.config:
        settings = load_config(args.config, allow_weak_master_key=True)  # the import needs no master key
    else:
        settings = Settings(general=GeneralSettings(database_url=os.environ.get("DATABASE_URL") or None))
    if args.database_url:
        settings = attrs.evolve(settings, general=attrs.evolve(settings.general, database_url=args.database_url))
    data_dir = args.data_dir or default_data_dir(args.config)
    return attrs.evolve(settings, data_dir=os.path.abspath(data_dir))


async def _existing(store: Store) -> dict[str, dict[str, dict]]:
    from kernel.store.migrate import table

    return {name: {r[table(name).pk]: r for r in await store.find(name)} for _, name in KINDS}


def _audit(change, at: datetime, run_id: str) -> Insert:
    return Insert(AUDIT, {"at": at, "actor": ACTOR, "changed_by": None, "action": f"{change.kind}.import",
                          "object_type": change.kind, "object_id": change.id, "before": change.before,
                          "after": change.after, "call_id": run_id})


async def write(store: Store, todo: Plan, at: datetime, run_id: str) -> None:
    writes = todo.writes
    for start in range(0, len(writes), BATCH):
        ops = []
        for change in writes[start:start + BATCH]:
            if change.action == "create":
                ops.append(Insert(change.table, change.after))
            else:
                ops.append(Update(change.table, change.id, change.changes))
            ops.append(_audit(change, at, run_id))
        await store.write(ops)


def report(todo: Plan, *, dry_run: bool) -> None:
    for change in todo.writes if dry_run else ():
        cols = f": {', '.join(sorted(change.changes))}" if change.action == "update" else ""
        print(f"  would {change.action} {change.label}{cols}")
    made, changed = ("to create", "to update") if dry_run else ("created", "updated")
    for kind, _ in KINDS:
        n = {a: todo.count(kind, a) for a in ("create", "update", "unchanged")}
        print(f"{kind}s: {n['create']} {made}, {n['update']} {changed}, {n['unchanged']} unchanged")
    kept = sum(1 for c in todo.changes if m.KEPT in (c.after.get("metadata") or {}))
    if kept:
        print(f"note: {kept} record(s) carry LiteLLM settings relaykit does not enforce (config, allowed_routes, "
              f"policies, …); they are kept under metadata.{m.KEPT}")
    for line in todo.warnings:
        print(f"warning: {line}", file=sys.stderr)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    source = await read(args.source)
    store = make_store(settings)
    print(f"{PROG}: reading LiteLLM tables in schema {source.schema!r} of {source.where}")
    if source.absent:
        print(f"{PROG}: this LiteLLM version has no {', '.join(source.absent)}; nothing to import from there")
    await store.open()
    try:
        at = datetime.now(UTC)
        todo = plan(source, await _existing(store), at)
        print(f"{PROG}: {'dry run, nothing written to' if args.dry_run else 'writing to'} the {store.backend} "
              f"store {store.where}")
        if not args.dry_run:
            await write(store, todo, at, str(uuid.uuid4()))
        report(todo, dry_run=args.dry_run)
    finally:
        await store.close()
    if not settings.general.master_key and args.config:
        print(f"{PROG}: note: {args.config} sets no master_key, and relaykit checks virtual keys only with one")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.source.startswith(("postgresql://", "postgres://")):
        print(f"{PROG}: --from must be the LiteLLM proxy's PostgreSQL URL (postgresql://…)", file=sys.stderr)
        return 2
    try:
        settings = destination(args)
    except ConfigError as err:
        print(f"{PROG}: the configuration has errors:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args, settings))
    except (SourceError, StoreError, ValueError) as exc:  # ValueError: a database_url relaykit cannot use
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except (Conflict, Missing) as exc:
        print(f"{PROG}: the store changed while importing ({exc}); nothing of that batch was written, run it again",
              file=sys.stderr)
        return 1
