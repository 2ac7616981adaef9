"""Issuing numbers: the issuer, request coalescing, counters, idempotency, drawn numbers."""
