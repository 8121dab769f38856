"""Tables owned by payment-svc."""

from services.db import create_base

Base = create_base()
