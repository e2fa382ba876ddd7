"""Storage: SQLAlchemy 2 typed models, the queries the core needs, Alembic migrations."""
