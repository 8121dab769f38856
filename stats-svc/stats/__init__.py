"""stats-svc: reports built from events."""
