"""Events for other systems: the feed of what happened to numbers, webhooks, a Redis stream."""
