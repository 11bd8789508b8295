"""Governance: virtual keys and the management API (keys, teams, users, budgets), over the store in kernel/store.

Importing the package registers its links: key_auth and key_models on the model routes, master_key_only and
the *_management links and spend_reports on the management routes. The other modules are shared, not links.
"""

from middleware.governance import (  # noqa: F401  (imported for registration)
    admin,
    budget_api,
    key_api,
    key_auth,
    model_access,
    spend_api,
    team_api,
    user_api,
)
