"""A national public service portal (DVCQG) for tests and `make run`: its integration protocol, not the service."""
