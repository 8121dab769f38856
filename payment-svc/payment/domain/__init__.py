"""The rules of payment-svc, with no database, web framework or broker: frozen states in, decisions out.

`states` names the states and the transitions allowed between them, `model` the frozen objects a rule reads and
returns, `bills` / `payments` / `refunds` the rules of each command, `access` who may read and act on which bill,
`settlement_file` how a provider's settlement file is read and each of its lines judged. A rule either returns a
`Decision` (the new states, the ledger rows, the events) or raises the problem (services.errors) the caller gets.
"""
