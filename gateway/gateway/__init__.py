"""gateway: the single entry for the portal, the desks and the wallet."""
