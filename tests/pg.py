"""The PostgreSQL test server: where it is, whether it answers, throw-away schemas on it."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from caseflow.store.sql import normalise_url

POSTGRES_URL = normalise_url(
    os.environ.get("CASEFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
)
REQUIRE_POSTGRES = os.environ.get("CASEFLOW_REQUIRE_POSTGRES") == "1"


def unreachable() -> str | None:
    """Why the server cannot be used, or None when it answers."""
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as error:
        return str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    finally:
        engine.dispose()
    return None


def skip_or_fail_if_unreachable() -> None:
    """Skip PostgreSQL cases without a server, unless CASEFLOW_REQUIRE_POSTGRES=1 (CI)."""
    problem = unreachable()
    if problem is not None:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}"
        if REQUIRE_POSTGRES:
            pytest.fail(f"CASEFLOW_REQUIRE_POSTGRES=1 but {message}")
        pytest.skip(message)


def new_schema(admin: sa.Engine, prefix: str = "cf_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    return name


def drop_schema(admin: sa.Engine, name: str) -> None:
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))


def empty_schema(admin: sa.Engine, name: str) -> None:
    """Remove every row of caseflow's tables in schema ``name``."""
    from caseflow.store.schema import metadata

    tables = ", ".join(f"{name}.{t.name}" for t in metadata.sorted_tables)
    with admin.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} CASCADE"))
