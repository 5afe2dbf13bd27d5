"""The Gradium token broker's Lambda code: one package, two handlers (broker.app, broker.credits_monitor)."""
