"""Issuing numbers: the issuer, counters and errors. Knows nothing of HTTP frameworks."""
