"""intake-svc: dossiers at the desk, by post and online: receipts, codes, deadlines, tracking."""
