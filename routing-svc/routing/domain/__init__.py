"""The journey's rules, pure: no database, no web framework, no session.

- `model`: the frozen state of a journey (its steps, hops, extension, status) and the `Decision` a command returns.
- `rules`: the state machine: each command takes the state, its inputs and the time, and returns the decision or
  raises the problem (`services.errors`).
- `access`: who may act on and read which journey.
- `status`: the national status as the fold of the action log, and its allowed moves.
- `sla`: the working-day arithmetic of deadlines.

The shell (`routing.service`) loads and locks the journey, asks these rules, writes the decision and emits its
events.
"""
