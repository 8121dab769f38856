"""The simulated quarter: the whole system started on this machine and driven through its public gateway API."""
