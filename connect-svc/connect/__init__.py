"""connect-svc: everything the centre sends to parties outside it (the national public service portal)."""
