"""The store: keys, teams, users, budgets, spend and the audit log, in SQLite (default) or PostgreSQL.

`general_settings.database_url` (or env DATABASE_URL) picks the database: `postgresql://...` → PostgreSQL
through asyncpg; `sqlite:///path/file.db` → that file; unset → `relaykit.db` in the data directory
(`--data-dir`, default `.relaykit/` next to the config file, or in the working directory without one).
A store is opened at start-up only if something asks for it (`store_of`), so a gateway without key
management never creates a file.
"""

from __future__ import annotations

import os

from kernel.store.base import (
    Condition,
    Conflict,
    Day,
    Delete,
    Increment,
    Insert,
    InsertMany,
    Missing,
    Op,
    Row,
    Store,
    StoreError,
    StoreOpenError,
    Update,
    Upsert,
)

DATA_DIR_NAME = ".relaykit"
FILE_NAME = "relaykit.db"

__all__ = ["Condition", "Conflict", "Day", "Delete", "Increment", "Insert", "InsertMany", "Missing", "Op", "Row",
           "Store", "StoreError", "StoreOpenError", "Update", "Upsert", "default_data_dir", "make_store", "store_of"]


def default_data_dir(config_path: str | None) -> str:
    """Next to the config file, or in the working directory when there is none."""
    base = os.path.dirname(os.path.abspath(config_path)) if config_path else os.getcwd()
    return os.path.join(base, DATA_DIR_NAME)


def make_store(settings) -> Store:
    """The store the settings describe, not yet opened."""
    general = settings.general
    url = general.database_url
    if url and url.startswith(("postgresql://", "postgres://")):
        from kernel.store.postgres import PostgresStore

        return PostgresStore(url, pool_limit=general.database_connection_pool_limit,
                             timeout=general.database_connection_timeout)
    from kernel.store.sqlite import SQLiteStore

    if url and url.startswith("sqlite:///"):
        return SQLiteStore(url[len("sqlite://"):])
    if url:
        raise ValueError("database_url (or DATABASE_URL) must start with postgresql://, postgres:// or sqlite:///")
    return SQLiteStore(os.path.join(settings.data_dir or default_data_dir(None), FILE_NAME))


def store_of(gateway) -> Store:
    """The process's store; the first caller arranges for it to be opened at start-up and closed at shutdown."""
    store = gateway.shared.get("store")
    if store is None:
        store = gateway.shared["store"] = make_store(gateway.settings)
        gateway.on_startup(store.open)
        gateway.on_shutdown(store.close)
    return store
