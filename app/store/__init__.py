"""Storage: SQLAlchemy models and the queries that touch them."""
