"""payment-svc: fees by VietQR and wallet webhooks."""
