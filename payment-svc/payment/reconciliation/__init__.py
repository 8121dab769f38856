"""Reconciliation of a provider's daily settlement file against our payments: `api` (the administrators'
endpoints), `service` (the import), the rules in payment.domain.settlement_file, the queries in payment.repository."""
