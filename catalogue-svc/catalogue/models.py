"""Tables owned by catalogue-svc."""

from services.db import create_base

Base = create_base()
