"""catalogue-svc: procedure catalogue, administrative units and the working-day calendar."""
