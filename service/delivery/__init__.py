"""Getting events out: the relay that publishes what the event log committed, and webhook
delivery. Their per-tenant bookkeeping goes through use cases."""
