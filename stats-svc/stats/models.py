"""Tables owned by stats-svc."""

from services.db import create_base

Base = create_base()
