"""Where the datasets live: `ANOMSTREAM_DATA_DIR`, default `data/raw` in the project."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DataSettings"]


class DataSettings(BaseSettings):
    """The data root; each dataset sits in its own folder below it, as it ships."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_")

    data_dir: Path = Path("data/raw")
