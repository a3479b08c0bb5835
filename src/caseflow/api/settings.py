"""Configuration of the HTTP service: environment (``CASEFLOW_*``) over a TOML file.

One place for every knob ``caseflow serve`` has, so the same names work as environment
variables (``CASEFLOW_DATABASE_URL``), in a TOML file (``database_url = ...``, chosen with
``--config`` or ``CASEFLOW_CONFIG``) and as keyword arguments in tests. Environment wins over
the file; explicit arguments win over both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

AuthMode = Literal["dev", "oidc"]


class Settings(BaseSettings):
    """What one ``caseflow serve`` process runs with."""

    model_config = SettingsConfigDict(env_prefix="CASEFLOW_", extra="forbid")

    database_url: str = "sqlite:///caseflow.db"
    database_schema: str | None = None  # PostgreSQL schema (tests use a throw-away one)
    migrate: bool | None = None  # None: SQLite is migrated on open, PostgreSQL is not
    host: str = "127.0.0.1"
    port: int = 8080
    executor: bool = True  # run the job executor in this process
    executor_workers: int = 4
    node_id: str | None = None
    tenant_id: str = "default"

    # authentication: None picks "dev" on SQLite and "oidc" elsewhere
    auth_mode: AuthMode | None = None
    dev_auth_allow_postgres: bool = False
    dev_users: list[str] = Field(default_factory=list)
    dev_token_hours: float = 12.0
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    # the web app's sign-in (authorization code with PKCE): the provider's public client
    # for the pages, the scopes they ask for, and origins other than the issuer's that the
    # pages must reach (a token endpoint elsewhere), for the Content-Security-Policy
    oidc_client_id: str | None = None
    oidc_scopes: str = "openid profile email"
    oidc_web_origins: list[str] = Field(default_factory=list)
    oidc_user_claim: str = "preferred_username"
    oidc_groups_claim: str = "groups"
    oidc_leeway_seconds: int = 30
    oidc_jwks_cache_seconds: int = 3600
    # an unknown key id refetches the JWKS at most this often (tokens of a just-rotated
    # key may wait that long; a flood of made-up key ids cannot hammer the provider)
    oidc_jwks_refetch_seconds: float = 30.0
    admin_groups: list[str] = Field(default_factory=lambda: ["caseflow-admin", "ADMIN"])
    operator_groups: list[str] = Field(default_factory=lambda: ["caseflow-operator", "OPERATOR"])

    # limits
    external_task_max_wait_ms: int = 1_800_000  # longest fetch-and-lock long poll
    max_body_bytes: int = 1_048_576  # JSON bodies
    max_upload_bytes: int = 10_485_760  # multipart deployments

    # operations
    log_json: bool = True
    log_level: str = "INFO"
    shutdown_grace_seconds: float = 20.0

    # event delivery (caseflow.events; docs/events.md), by the process that runs the
    # executor: broker sinks (nats://, amqp://, redis:// URLs; env as a JSON list) and
    # how long delivered events are kept
    events_sinks: list[str] = Field(default_factory=list)
    events_retention_days: float = 7.0

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgres")

    @property
    def effective_auth_mode(self) -> AuthMode:
        if self.auth_mode is not None:
            return self.auth_mode
        return "oidc" if self.is_postgres else "dev"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("CASEFLOW_CONFIG")
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, the TOML file ``config`` (or ``CASEFLOW_CONFIG``)
    and ``overrides`` (command-line options), in rising priority."""
    if config is not None and not config.is_file():
        raise FileNotFoundError(f"configuration file {config} not found")
    previous = os.environ.get("CASEFLOW_CONFIG")
    if config is not None:
        os.environ["CASEFLOW_CONFIG"] = str(config)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        if config is not None:
            if previous is None:
                os.environ.pop("CASEFLOW_CONFIG", None)
            else:
                os.environ["CASEFLOW_CONFIG"] = previous
