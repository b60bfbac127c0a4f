"""Where the datasets live (`ANOMSTREAM_DATA_DIR`), and the database the sql dataset reads."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DataSettings", "SqlSettings"]


class DataSettings(BaseSettings):
    """The data root; each dataset sits in its own folder below it, as it ships."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_")

    data_dir: Path = Path("data/raw")


class SqlSettings(BaseSettings):
    """The `sql` dataset's rows, from `ANOMSTREAM_SQL_*` environment variables.

    `url` is SQLAlchemy's: `postgresql://user:password@host:5432/database` (psycopg 3 is
    the driver; `sqlite:///file.db` works too). A secret, so never shown or logged with its
    password; without one there, libpq's PGPASSWORD and ~/.pgpass apply.
    """

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_SQL_")

    url: SecretStr | None = None
    query: str | None = None
    connect_timeout_s: int = Field(default=10, ge=1)
