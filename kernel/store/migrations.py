"""The store's versioned migrations, applied in order at start-up and recorded in `relaykit_schema_version`.

A released migration never changes: a new column or table is a new entry at the end of MIGRATIONS.
Version 1 already holds the tables that spend logging, budgets and daily roll-ups will fill, so that work
adds code, not schema. Column names follow LiteLLM's tables where the meaning is the same (token, spend,
max_budget, rpm_limit, ...), so an import from a LiteLLM database is a column-for-column copy.
"""

from __future__ import annotations

from kernel.store.schema import BIGINT, BOOL, INT, JSON, REAL, SERIAL, TEXT, TS, Col, CreateIndex, CreateTable

VERSION_TABLE = "relaykit_schema_version"
KEYS, TEAMS, USERS, BUDGETS = "relaykit_keys", "relaykit_teams", "relaykit_users", "relaykit_budgets"
SPEND_LOGS, DAILY_SPEND, AUDIT = "relaykit_spend_logs", "relaykit_daily_spend", "relaykit_audit_log"


def _limits() -> tuple[Col, ...]:
    """Budget and rate-limit columns shared by keys, teams, users and budgets."""
    return (
        Col("spend", REAL, null=False, default=0.0),
        Col("max_budget", REAL),
        Col("soft_budget", REAL),
        Col("budget_duration", TEXT),
        Col("budget_reset_at", TS),
        Col("tpm_limit", BIGINT),
        Col("rpm_limit", BIGINT),
        Col("max_parallel_requests", INT),
        Col("model_max_budget", JSON, null=False, default="{}"),  # model → {budget_limit, time_period}
        Col("model_rpm_limit", JSON, null=False, default="{}"),
        Col("model_tpm_limit", JSON, null=False, default="{}"),
        Col("model_spend", JSON, null=False, default="{}"),
    )


def _stamps() -> tuple[Col, ...]:
    return (Col("created_at", TS, null=False), Col("created_by", TEXT),
            Col("updated_at", TS, null=False), Col("updated_by", TEXT))


_V1 = (
    CreateTable(KEYS, (
        Col("token", TEXT, null=False),  # SHA-256 hex of the whole key, as LiteLLM stores it; never the key
        Col("key_name", TEXT),  # "sk-...abcd": enough to recognise a key, not to use it
        Col("key_alias", TEXT),
        Col("user_id", TEXT),
        Col("team_id", TEXT),
        Col("budget_id", TEXT),
        Col("organization_id", TEXT),
        Col("models", JSON, null=False, default="[]"),  # [] = every model
        Col("aliases", JSON, null=False, default="{}"),  # requested model → model group, for this key
        Col("metadata", JSON, null=False, default="{}"),
        *_limits(),
        Col("soft_budget_cooldown", BOOL, null=False, default=False),  # set once the soft budget was crossed
        Col("blocked", BOOL, null=False, default=False),
        Col("expires", TS),
        Col("last_active", TS),
        Col("rotation_count", INT, null=False, default=0),
        Col("last_rotation_at", TS),
        *_stamps(),
    ), primary_key=("token",)),
    CreateIndex("relaykit_keys_alias", KEYS, ("key_alias",), unique=True),
    CreateIndex("relaykit_keys_team", KEYS, ("team_id",)),
    CreateIndex("relaykit_keys_user", KEYS, ("user_id",)),
    CreateIndex("relaykit_keys_created", KEYS, ("created_at",)),
    CreateTable(TEAMS, (
        Col("team_id", TEXT, null=False),
        Col("team_alias", TEXT),
        Col("organization_id", TEXT),
        Col("budget_id", TEXT),
        Col("models", JSON, null=False, default="[]"),
        Col("aliases", JSON, null=False, default="{}"),  # LiteLLM's team model_aliases
        Col("members_with_roles", JSON, null=False, default="[]"),
        Col("metadata", JSON, null=False, default="{}"),
        *_limits(),
        Col("blocked", BOOL, null=False, default=False),
        *_stamps(),
    ), primary_key=("team_id",)),
    CreateIndex("relaykit_teams_alias", TEAMS, ("team_alias",)),
    CreateTable(USERS, (
        Col("user_id", TEXT, null=False),
        Col("user_alias", TEXT),
        Col("user_email", TEXT),
        Col("user_role", TEXT),
        Col("budget_id", TEXT),
        Col("teams", JSON, null=False, default="[]"),
        Col("models", JSON, null=False, default="[]"),
        Col("metadata", JSON, null=False, default="{}"),
        *_limits(),
        *_stamps(),
    ), primary_key=("user_id",)),
    CreateIndex("relaykit_users_email", USERS, ("user_email",)),
    CreateTable(BUDGETS, (
        Col("budget_id", TEXT, null=False),
        *_limits(),
        *_stamps(),
    ), primary_key=("budget_id",)),
    # One row per call, written in batches off the request path; request_id (the call id) makes a replayed
    # batch idempotent.
    CreateTable(SPEND_LOGS, (
        Col("request_id", TEXT, null=False),
        Col("call_type", TEXT, null=False, default=""),  # the endpoint: chat, embeddings, messages, ...
        Col("api_key", TEXT, null=False, default=""),  # the key's token (hash), "" for the master key
        Col("key_alias", TEXT),
        Col("team_id", TEXT),
        Col("user_id", TEXT),
        Col("end_user", TEXT),  # `user` in the request body
        Col("model_group", TEXT),  # the name the client asked for
        Col("model", TEXT, null=False, default=""),  # the upstream model
        Col("model_id", TEXT),  # the deployment
        Col("provider", TEXT),
        Col("prompt_tokens", BIGINT, null=False, default=0),
        Col("completion_tokens", BIGINT, null=False, default=0),
        Col("cache_read_tokens", BIGINT, null=False, default=0),
        Col("cache_creation_tokens", BIGINT, null=False, default=0),
        Col("total_tokens", BIGINT, null=False, default=0),
        Col("spend", REAL, null=False, default=0.0),
        Col("cost_estimated", BOOL, null=False, default=False),
        Col("start_time", TS, null=False),
        Col("end_time", TS),
        Col("latency_ms", REAL),
        Col("ttft_ms", REAL),
        Col("status", TEXT, null=False, default="success"),
        Col("error_type", TEXT),
        Col("metadata", JSON, null=False, default="{}"),
        Col("request_tags", JSON, null=False, default="[]"),
    ), primary_key=("request_id",)),
    CreateIndex("relaykit_spend_logs_time", SPEND_LOGS, ("start_time",)),
    CreateIndex("relaykit_spend_logs_key", SPEND_LOGS, ("api_key", "start_time")),
    CreateIndex("relaykit_spend_logs_team", SPEND_LOGS, ("team_id", "start_time")),
    CreateIndex("relaykit_spend_logs_user", SPEND_LOGS, ("user_id", "start_time")),
    # Daily roll-ups (UTC days), one row per key × team × user × model × endpoint: reports read these, not
    # the log. Dimensions are '' rather than NULL so the primary key can hold them.
    CreateTable(DAILY_SPEND, (
        Col("date", TEXT, null=False),  # YYYY-MM-DD
        Col("api_key", TEXT, null=False, default=""),
        Col("team_id", TEXT, null=False, default=""),
        Col("user_id", TEXT, null=False, default=""),
        Col("model_group", TEXT, null=False, default=""),
        Col("model", TEXT, null=False, default=""),
        Col("provider", TEXT, null=False, default=""),
        Col("endpoint", TEXT, null=False, default=""),
        Col("prompt_tokens", BIGINT, null=False, default=0),
        Col("completion_tokens", BIGINT, null=False, default=0),
        Col("cache_read_tokens", BIGINT, null=False, default=0),
        Col("cache_creation_tokens", BIGINT, null=False, default=0),
        Col("spend", REAL, null=False, default=0.0),
        Col("api_requests", BIGINT, null=False, default=0),
        Col("successful_requests", BIGINT, null=False, default=0),
        Col("failed_requests", BIGINT, null=False, default=0),
        Col("updated_at", TS),
    ), primary_key=("date", "api_key", "team_id", "user_id", "model_group", "model", "provider", "endpoint")),
    CreateIndex("relaykit_daily_spend_team", DAILY_SPEND, ("team_id", "date")),
    CreateIndex("relaykit_daily_spend_model", DAILY_SPEND, ("model_group", "date")),
    CreateIndex("relaykit_daily_spend_key", DAILY_SPEND, ("api_key", "date")),
    # Every management change: who, what, when, the row before and after (never a usable key).
    CreateTable(AUDIT, (
        Col("id", SERIAL),
        Col("at", TS, null=False),
        Col("actor", TEXT, null=False),  # how the caller authenticated: "master_key"
        Col("changed_by", TEXT),  # the optional `litellm-changed-by` header
        Col("action", TEXT, null=False),  # key.generate, team.update, ...
        Col("object_type", TEXT, null=False),  # key, team, user, budget
        Col("object_id", TEXT),
        Col("before", JSON),
        Col("after", JSON),
        Col("call_id", TEXT),
    )),
    CreateIndex("relaykit_audit_object", AUDIT, ("object_type", "object_id")),
    CreateIndex("relaykit_audit_at", AUDIT, ("at",)),
)

# (version, description, steps). Append only.
MIGRATIONS: tuple[tuple[int, str, tuple], ...] = (
    (1, "keys, teams, users, budgets, spend logs, daily spend, audit log", _V1),
)

__all__ = ["AUDIT", "BUDGETS", "DAILY_SPEND", "KEYS", "MIGRATIONS", "SPEND_LOGS", "TEAMS", "USERS", "VERSION_TABLE"]
