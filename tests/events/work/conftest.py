"""The human-work fixtures (SQLite and PostgreSQL, an organisation) for event tests."""

from tests.work.conftest import engine, org, sql_store, work

__all__ = ["engine", "org", "sql_store", "work"]
