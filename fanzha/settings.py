"""One settings object for the whole center (env prefix ``FANZHA_``).

Defaults work embedded on a laptop: a data folder, a SQLite operations database
and a DuckDB/Parquet analytics store. Outside ``development`` the default secret is
refused, so a forgotten setting cannot ship a known key to production.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-insecure-secret-change-me"


class Settings(BaseSettings):
    """Configuration read from ``FANZHA_*`` environment variables (and ``.env``)."""

    model_config = SettingsConfigDict(env_prefix="FANZHA_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default=Path("data"), description="Root of everything the center writes.")
    database_url: str | None = Field(
        default=None,
        description="Operations store (SQLAlchemy URL). Default: SQLite file under data_dir.",
    )
    analytics_path: Path | None = Field(
        default=None, description="DuckDB file for analytics. Default: data_dir/analytics.duckdb."
    )
    secret_key: str = DEV_SECRET
    timezone: str = "Asia/Shanghai"
    default_region: str = Field(default="CN", description="Region for numbers written without +country.")
    home_city: str = Field(
        default="Xiamen", description="The center's city (English, as phonenumbers geocodes it): decides local numbers."
    )
    # Response API (issue 5).
    access_token_minutes: float = Field(default=15.0, gt=0, description="Lifetime of a signed-in JWT access token.")
    login_attempts_per_minute: int = Field(default=10, ge=1, description="Login tries per username+IP (token bucket).")
    escalation_interval_seconds: float = Field(default=30.0, ge=0, description="Escalation sweep in the API; 0 = off.")
    desk_stream_poll_seconds: float = Field(
        default=1.0, gt=0, le=60,
        description="A desk stream reads its queue at least this often (orders other processes wrote).")
    outbox_interval_seconds: float = Field(default=2.0, ge=0, description="Webhook outbox delivery in the API; 0 = off")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("FANZHA_SECRET_KEY must be set to a private value when FANZHA_ENV=production")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The operations-store URL, defaulting to a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fanzha.sqlite3').resolve()}"

    @property
    def duckdb_path(self) -> Path:
        return self.analytics_path or self.data_dir / "analytics.duckdb"

    @property
    def parquet_dir(self) -> Path:
        return self.data_dir / "parquet"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return Settings()
