"""Alembic migrations: the only way custid's schema changes."""
