"""connect-svc's rules, pure: the portal's records from the centre's events (`records`), the life of a delivery
and the circuit (`delivery`), the portal's requests and answers (`protocol`). No database, HTTP or clock."""
