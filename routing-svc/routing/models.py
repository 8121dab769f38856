"""Tables owned by routing-svc."""

from services.db import create_base

Base = create_base()
