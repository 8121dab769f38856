"""Intake's rules, without a database, a session or HTTP: a dossier's state and what each command or consumed event
decides about it (`dossier`), who may read or act on which unit's dossier (`access`), and how a submission is
judged against the catalogue (`submission`). Functions take the state, the command's data and the time and return
a `Decision` (the new state, the event to emit, the history step) or raise a `services.errors.Problem`; the shell
(`intake.service`, `intake.consumers`) loads and locks, calls them, writes what they decided and emits.
"""
