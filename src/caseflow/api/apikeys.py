"""API keys for machine clients, kept as salted SHA-256 hashes.

A key reads ``cf_<id>_<secret>``: the id finds the row, the secret (32 random bytes) is
checked against ``sha256(salt + secret)`` in constant time. The secret is shown once, when
the key is made, and never stored. A key acts as a user (``user_id``): that user's grants
decide what it may do, and its principal is of kind ``service``. A slow hash is not needed:
the secret is random, not a password someone chose.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from caseflow.api.services import Services
from caseflow.errors import NotFound
from caseflow.runtime.process_engine import new_id
from caseflow.store import schema

T = schema.api_key
KEY_FORMAT = re.compile(r"^cf_([A-Za-z0-9-]{1,64})_([A-Za-z0-9_-]{20,128})$")
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    user_id: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    key: ApiKey
    secret: str  # the whole key as the client sends it; shown once


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def _key(row: object) -> ApiKey:
    return ApiKey(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        user_id=row.user_id,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        created_by=row.created_by,  # type: ignore[attr-defined]
        last_used_at=row.last_used_at,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
    )


def create_api_key(services: Services, *, user_id: str, name: str, created_by: str) -> (
    CreatedApiKey
):
    """A new key acting as ``user_id``; the returned ``secret`` is the only copy."""
    if not user_id.strip() or not name.strip():
        raise ValueError("an API key needs a user and a name")
    key_id = new_id()
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    now = services.clock.now()
    with services.store.transaction() as tx:
        tx.conn.execute(
            T.insert().values(
                id=key_id,
                tenant_id=services.settings.tenant_id,
                name=name,
                user_id=user_id,
                salt=salt,
                secret_hash=_hash(salt, secret),
                created_at=now,
                created_by=created_by,
            )
        )
    key = ApiKey(key_id, name, user_id, now, created_by, None, None)
    return CreatedApiKey(key=key, secret=f"cf_{key_id}_{secret}")


def list_api_keys(services: Services, *, include_revoked: bool = True) -> list[ApiKey]:
    query = select(T).where(T.c.tenant_id == services.settings.tenant_id)
    if not include_revoked:
        query = query.where(T.c.revoked_at.is_(None))
    with services.store.transaction(read_only=True) as tx:
        return [_key(row) for row in tx.conn.execute(query.order_by(T.c.created_at, T.c.id))]


def revoke_api_key(services: Services, key_id: str) -> ApiKey:
    """Revoke the key (idempotent: revoking a revoked key keeps its first revocation)."""
    tenant = services.settings.tenant_id
    with services.store.transaction() as tx:
        tx.conn.execute(
            update(T)
            .where(T.c.id == key_id, T.c.tenant_id == tenant, T.c.revoked_at.is_(None))
            .values(revoked_at=services.clock.now())
        )
        row = tx.conn.execute(select(T).where(T.c.id == key_id, T.c.tenant_id == tenant)).first()
    if row is None:
        raise NotFound("API key", key_id)
    return _key(row)


def verify_api_key(services: Services, value: str) -> ApiKey | None:
    """The live key ``value`` names, or None (unknown, wrong secret, revoked)."""
    match = KEY_FORMAT.match(value)
    if match is None:
        return None
    key_id, secret = match.groups()
    with services.store.transaction(read_only=True) as tx:
        row = tx.conn.execute(
            select(T).where(T.c.id == key_id, T.c.tenant_id == services.settings.tenant_id)
        ).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(_hash(row.salt, secret), row.secret_hash):
        return None
    now = services.clock.now()
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        with services.store.transaction() as tx:
            tx.conn.execute(update(T).where(T.c.id == key_id).values(last_used_at=now))
    return _key(row)
