"""The scheme engine: kinds, segments, check digits, the scheme file and third-party kinds."""
