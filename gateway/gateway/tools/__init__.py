"""Tools beside the gateway (the administration CLI), not part of the running service."""
