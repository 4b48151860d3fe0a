"""Every party's tables, imported so that SQLModel.metadata (and Alembic) sees them all."""

from sqlmodel import SQLModel

import auth.models  # noqa: F401
import keys.models  # noqa: F401

metadata = SQLModel.metadata
