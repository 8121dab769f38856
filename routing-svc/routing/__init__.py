"""routing-svc: processing and inter-level routing with working-day SLAs."""
