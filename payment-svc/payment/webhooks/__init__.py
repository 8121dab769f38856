"""Providers' callbacks: `api` (one endpoint per provider, and VNPay's return page), `service` (verifying a
callback, applying it through the group commit, answering in the provider's own format)."""
