"""Spend: what each call used and cost, the budgets it counts against, and the spend log it leaves.

Importing the package registers its links: `meter` (usage, cost, the spend row) and `budget` (refusals and
reservations). The other modules are shared, not links.
"""

from middleware.spend import budget, meter  # noqa: F401  (imported for registration)
