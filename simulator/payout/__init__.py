"""The payout engine: adjudicate a claim under a policy, explaining every won (DOMAIN.md §4)."""
