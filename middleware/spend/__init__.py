"""Spend: what each call used and cost, the budgets it counts against, and the spend log it leaves."""
