"""Database helpers every party uses (pure: SQLAlchemy and SQLModel only, no party's code)."""
