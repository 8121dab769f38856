"""Tables owned by intake-svc."""

from services.db import create_base

Base = create_base()
