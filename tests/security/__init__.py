"""Security: authorisation, rate limits, TLS, secrets at rest, the provable trail."""
