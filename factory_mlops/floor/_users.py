"""Users of the shop-floor page, their plants and roles, and their login sessions (SQLAlchemy Core).

The tables live in the feedback database (SQLite under the home by default, Postgres by URL), so
one backup holds the verdicts and who may give them.

* `floor_users`: a person's login name and salted scrypt password hash (never the password).
* `floor_memberships`: (person, plant) -> role. `operator` sees the plant's predictions and alerts
  and gives verdicts; `engineer` can also read every person's verdicts and comments. A person with
  no membership of a plant cannot read or write anything of it.
* `floor_sessions`: a login. The browser holds a random token; the table holds only its SHA-256,
  so a copy of the database does not let anyone log in. Each session has its own CSRF token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc

from factory_mlops.errors import FactoryMLOpsError
from factory_mlops.feedback import MAX_NAME, UTCDateTime, create_tables
from factory_mlops.floor._passwords import DUMMY_HASH, hash_password, verify_password

#: The roles a person can hold in a plant.
ROLES = ("operator", "engineer")
#: How long a login lasts (a shift and a half).
SESSION_HOURS = 12

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

metadata = sa.MetaData()

users_table = sa.Table(
    "floor_users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column(
        "disabled", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()
    ),
)

memberships_table = sa.Table(
    "floor_memberships",
    metadata,
    sa.Column(
        "username",
        sa.String(64),
        sa.ForeignKey("floor_users.username", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("plant_id", sa.String(MAX_NAME), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.CheckConstraint("role IN ('operator', 'engineer')", name="ck_floor_role"),
)

sessions_table = sa.Table(
    "floor_sessions",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column(
        "username",
        sa.String(64),
        sa.ForeignKey("floor_users.username", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_floor_sessions_user", "username"),
)


class UserError(FactoryMLOpsError, ValueError):
    """A user or membership that cannot be created or changed: what failed and how to fix it."""


@dataclass(frozen=True)
class Session:
    """A logged-in person: name, roles per plant, CSRF token of the session."""

    username: str
    roles: dict[str, str]
    csrf_token: str
    expires_at: dt.datetime

    def role(self, plant_id: str) -> str | None:
        """The person's role in `plant_id`, None when they have no access to it."""
        return self.roles.get(plant_id)


def token_digest(token: str) -> str:
    """SHA-256 (hex) of a session token: what the database stores instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_username(name: str) -> str:
    """The login name, or UserError saying what is allowed."""
    text = (name or "").strip()
    if not _NAME.match(text):
        raise UserError(
            f"user name {name!r} is not allowed: use 1-64 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    return text


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


class UserStore:
    """People, their plant roles and their sessions, on the feedback database's engine.

    Args:
        engine: the SQLAlchemy engine (normally `FeedbackStore(...).engine`); the tables are
            created when missing.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            create_tables(conn, metadata.sorted_tables)

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            yield conn

    # -- people ------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str,
        *,
        plant_id: str,
        role: str,
        now: dt.datetime | None = None,
    ) -> None:
        """Create a person with a password and a role in one plant.

        Raises:
            UserError: the name is taken or not allowed, the role is unknown, or the password too short.
        """
        name, role = check_username(username), check_role(role)
        plant = (plant_id or "").strip()
        if not plant:
            raise UserError(
                "a plant is required: a person is created with a role in one plant (--plant P)"
            )
        try:
            hashed = hash_password(password)
        except ValueError as e:
            raise UserError(str(e)) from None
        try:
            with self._begin() as conn:
                conn.execute(
                    sa.insert(users_table).values(
                        username=name,
                        password_hash=hashed,
                        created_at=now or dt.datetime.now(dt.UTC),
                        disabled=False,
                    )
                )
                conn.execute(
                    sa.insert(memberships_table).values(username=name, plant_id=plant, role=role)
                )
        except exc.IntegrityError:
            raise UserError(
                f"user {name!r} already exists; give them another plant with `grant`, or pick "
                "another name"
            ) from None

    def grant(self, username: str, *, plant_id: str, role: str) -> None:
        """Give an existing person `role` in `plant_id` (replacing any role they had there)."""
        name, role = check_username(username), check_role(role)
        with self._begin() as conn:
            if (
                conn.execute(
                    sa.select(users_table.c.username).where(users_table.c.username == name)
                ).first()
                is None
            ):
                raise UserError(f"no user {name!r}; create them with `add` first")
            conn.execute(
                sa.delete(memberships_table).where(
                    memberships_table.c.username == name, memberships_table.c.plant_id == plant_id
                )
            )
            conn.execute(
                sa.insert(memberships_table).values(username=name, plant_id=plant_id, role=role)
            )

    def revoke(self, username: str, *, plant_id: str) -> bool:
        """Take a person's access to a plant away (their sessions lose it at once). True if they had it."""
        with self._begin() as conn:
            res = conn.execute(
                sa.delete(memberships_table).where(
                    memberships_table.c.username == username,
                    memberships_table.c.plant_id == plant_id,
                )
            )
            return bool(res.rowcount)

    def set_password(self, username: str, password: str) -> None:
        """Replace a person's password and end all their sessions."""
        try:
            hashed = hash_password(password)
        except ValueError as e:
            raise UserError(str(e)) from None
        with self._begin() as conn:
            res = conn.execute(
                sa.update(users_table)
                .where(users_table.c.username == username)
                .values(password_hash=hashed)
            )
            if not res.rowcount:
                raise UserError(f"no user {username!r}")
            conn.execute(sa.delete(sessions_table).where(sessions_table.c.username == username))

    def remove_user(self, username: str) -> bool:
        """Delete a person, their memberships and sessions (their past verdicts stay). True if they existed."""
        with self._begin() as conn:
            conn.execute(sa.delete(sessions_table).where(sessions_table.c.username == username))
            conn.execute(
                sa.delete(memberships_table).where(memberships_table.c.username == username)
            )
            return bool(
                conn.execute(
                    sa.delete(users_table).where(users_table.c.username == username)
                ).rowcount
            )

    def users(self, plant_id: str | None = None) -> list[tuple[str, str, str]]:
        """(username, plant, role) of every membership, of one plant if given, sorted."""
        m = memberships_table.c
        query = sa.select(m.username, m.plant_id, m.role)
        if plant_id is not None:
            query = query.where(m.plant_id == plant_id)
        with self._begin() as conn:
            return sorted((r[0], r[1], r[2]) for r in conn.execute(query))

    def count(self) -> int:
        with self._begin() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(users_table)).scalar_one()
            )

    def roles(self, username: str) -> dict[str, str]:
        m = memberships_table.c
        with self._begin() as conn:
            return {
                r[0]: r[1]
                for r in conn.execute(sa.select(m.plant_id, m.role).where(m.username == username))
            }

    # -- sessions ----------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> bool:
        """True when the name and password match an enabled person. Unknown names cost the same time."""
        name = (username or "").strip()
        with self._begin() as conn:
            row = conn.execute(
                sa.select(users_table.c.password_hash, users_table.c.disabled).where(
                    users_table.c.username == name
                )
            ).first()
        if row is None:
            verify_password(password or "", DUMMY_HASH)
            return False
        return verify_password(password or "", row[0]) and not bool(row[1])

    def start_session(self, username: str, *, now: dt.datetime | None = None) -> str:
        """A new session of `username`; returns the token the browser keeps (the database keeps its hash)."""
        now = now or dt.datetime.now(dt.UTC)
        token = secrets.token_urlsafe(32)
        with self._begin() as conn:
            conn.execute(sa.delete(sessions_table).where(sessions_table.c.expires_at < now))
            conn.execute(
                sa.insert(sessions_table).values(
                    token_sha256=token_digest(token),
                    username=username,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    expires_at=now + dt.timedelta(hours=SESSION_HOURS),
                )
            )
        return token

    def session(self, token: str | None, *, now: dt.datetime | None = None) -> Session | None:
        """The live session of a token (None when missing, unknown or expired)."""
        if not token or len(token) > 200:
            return None
        now = now or dt.datetime.now(dt.UTC)
        s = sessions_table.c
        with self._begin() as conn:
            row = conn.execute(
                sa.select(s.username, s.csrf_token, s.expires_at).where(
                    s.token_sha256 == token_digest(token)
                )
            ).first()
            if row is None or row[2] <= now:
                return None
            m = memberships_table.c
            roles = {
                r[0]: r[1]
                for r in conn.execute(sa.select(m.plant_id, m.role).where(m.username == row[0]))
            }
        return Session(username=row[0], roles=roles, csrf_token=row[1], expires_at=row[2])

    def end_session(self, token: str | None) -> None:
        if token:
            with self._begin() as conn:
                conn.execute(
                    sa.delete(sessions_table).where(
                        sessions_table.c.token_sha256 == token_digest(token)
                    )
                )
