"""Alembic migrations that own caseflow's schema.

Run them with :func:`caseflow.store.migrate.upgrade`.
"""
