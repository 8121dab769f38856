"""Tools beside the catalogue service (demo data and its seeding), not part of the running service."""
