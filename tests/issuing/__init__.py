"""Issuing numbers: batches, coalescing, counters, gaps, reservations, recycling, idempotency."""
