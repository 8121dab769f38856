import os

# Benchmarks run the services on their built-in development secrets (services/settings.py refuses them otherwise).
os.environ.setdefault("MOTCUA_DEV_MODE", "true")
