"""Intake's own counts for a period, read-only: what stats-svc's reports must agree with (`api`: the route,
`service`: the period and the units counted, `intake.repository`: the queries)."""
