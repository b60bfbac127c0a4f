"""Rows of your own SQL query: PostgreSQL through psycopg 3, or any database SQLAlchemy knows."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np
import pandas as pd
from pydantic import SecretStr
from sqlalchemy import URL, create_engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from producers.datasets._table_check import RawTable
from producers.datasets._table_loader import Source, TableLoader
from producers.datasets.base import BadRowPolicy, DatasetError, DatasetMissingError
from producers.datasets.settings import SqlSettings

__all__ = ["SqlLoader", "database_url", "read_query"]

log = logging.getLogger(__name__)

# What names the query's rows in messages: "sql query:12: column 'x': ..." is its 12th row.
QUERY: Final = "sql query"


def database_url(secret: SecretStr) -> URL:
    """The SQLAlchemy URL in `secret`; plain `postgresql://` means psycopg 3, the one installed."""
    try:
        url = make_url(secret.get_secret_value())
    except (ArgumentError, ValueError):
        # Neither error is chained or quoted: the text may hold a password.
        raise DatasetError(
            "the SQL URL cannot be parsed: expected dialect://user:password@host:port/database, "
            "e.g. postgresql://reader@db.example:5432/plant"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        # SQLAlchemy's default driver for the name is psycopg2, which is not a dependency.
        url = url.set(drivername="postgresql+psycopg")
    return url


def _one_line(error: SQLAlchemyError, password: str | None) -> str:
    """The driver's own first line (SQLAlchemy adds the SQL and a link), password masked."""
    cause: BaseException = error.orig if isinstance(error, DBAPIError) and error.orig else error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    message = lines[0] if lines else type(cause).__name__
    return message.replace(password, "***") if password else message


def read_query(settings: SqlSettings) -> pd.DataFrame:
    """Every row of `settings.query`, run as written; any failure is one `DatasetError` line."""
    if settings.url is None or not settings.query:
        raise DatasetMissingError("sql needs a database URL and a query")
    url = database_url(settings.url)
    shown = url.render_as_string(hide_password=True)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        # Without it libpq waits out the operating system's TCP timeout on a silent host.
        connect_args["connect_timeout"] = settings.connect_timeout_s
    try:
        engine = create_engine(url, connect_args=connect_args, poolclass=NullPool)
    except NoSuchModuleError:
        raise DatasetError(
            f"{shown}: SQLAlchemy knows no database {url.drivername!r}; "
            "for PostgreSQL the URL starts postgresql://"
        ) from None
    except ImportError as error:
        raise DatasetError(
            f"{shown}: the {url.drivername} driver is not installed: {error}"
        ) from None
    log.info("reading rows from %s", shown)
    try:
        with engine.connect() as connection:
            # Verbatim: text() would take the ":30" of '12:30' for a parameter, and psycopg
            # a "%" for a placeholder whenever parameters are passed, even none.
            result = connection.execution_options(no_parameters=True).exec_driver_sql(
                settings.query
            )
            if not result.returns_rows:
                raise DatasetError(f"{shown}: the query returns no rows; give it a SELECT")
            columns = list(result.keys())
            rows = [tuple(row) for row in result]
        # Leaving the block rolls back: whatever the query changed is undone.
    except SQLAlchemyError as error:
        raise DatasetError(f"{shown}: {_one_line(error, url.password)}") from None
    finally:
        engine.dispose()
    log.info("%s: %d rows, columns %s", shown, len(rows), columns)
    return pd.DataFrame.from_records(rows, columns=columns)


class SqlLoader(TableLoader):
    """The rows of one SQL query, with columns as for your own CSV files (`CsvLoader`).

    The query runs once, as written, on the database at `settings.url`. Its rows are sorted
    by time (no ORDER BY needed), and times must increase per entity. Without
    `entity_column` every row belongs to the entity "sql". A corrupt row is named by its
    1-based position in the query's result: "sql query:12".
    """

    name: ClassVar[str] = "sql"
    description: ClassVar[str] = "rows of your own SQL query (PostgreSQL, SQLite, ...)"
    source: ClassVar[str] = "your own database: --url and --query (ANOMSTREAM_SQL_URL, _QUERY)"
    folder: ClassVar[str] = "sql"  # nothing is read from it: the rows come from the database
    order_by_time: ClassVar[bool] = True

    def __init__(
        self,
        data_dir: Path,
        *,
        on_bad_row: BadRowPolicy = "fail",
        settings: SqlSettings | None = None,
        timestamp_column: str = "timestamp",
        label_column: str | None = None,
        guess_label: bool = True,
        entity_column: str | None = None,
        train_fraction: float = 0.5,
    ) -> None:
        super().__init__(
            data_dir,
            on_bad_row=on_bad_row,
            timestamp_column=timestamp_column,
            label_column=label_column,
            guess_label=guess_label,
            entity_column=entity_column,
            train_fraction=train_fraction,
        )
        self.settings = settings if settings is not None else SqlSettings()

    def is_present(self) -> bool:
        return self.settings.url is not None and bool(self.settings.query)

    def require(self) -> None:
        missing = []
        if self.settings.url is None:
            missing.append("a database URL (--url, or ANOMSTREAM_SQL_URL)")
        if not self.settings.query:
            missing.append("a query (--query, or ANOMSTREAM_SQL_QUERY)")
        if missing:
            raise DatasetMissingError(f"sql needs {' and '.join(missing)}")

    def _sources(self) -> list[Source]:
        return [QUERY]

    def _read(self, source: Source) -> RawTable:
        frame = read_query(self.settings)
        return RawTable(source, frame, np.arange(1, len(frame) + 1, dtype=np.int64), unit="row")

    def _default_entity(self, source: Source) -> str:
        return "sql"
