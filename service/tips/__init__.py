"""Tips: models, input schemas, routing, priority and the intake transaction."""
