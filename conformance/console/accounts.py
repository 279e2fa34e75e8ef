"""Local accounts, their roles and API tokens: argon2id password hashes (argon2-cffi), tokens kept only
as SHA-256 digests (they are long random strings, shown once when issued)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, func, insert, select, update

from . import audit
from .audit import Actor
from .db import as_utc, now
from .tables import ROLES, accounts, api_tokens
from .validation import FieldError, NotFound

HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
TOKEN_PREFIX = "s24c_"
MIN_PASSWORD = 12
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
#: What of an account may leave the store (API answers, pages): never its password hash, nor anything else
#: that is not listed here.
PUBLIC_FIELDS = ("id", "username", "role", "disabled", "must_change_password", "created_at", "last_login_at")
#: What an audit entry of an account keeps (when the password was set says a reset happened; the hash never).
AUDITED_FIELDS = (*PUBLIC_FIELDS, "password_changed_at")
#: A hash to verify against when the username does not exist, so that both cases take the same time.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    disabled: bool
    must_change_password: bool
    password_changed_at: datetime
    #: Changes with every password (the hash carries a fresh salt; timestamps are to the second, and two
    #: passwords set within one second must still end the sessions opened with the first) and with every
    #: logout (``session_epoch``): a session whose stamp is not the account's current one has ended.
    password_stamp: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.username)

    def may(self, minimum: str) -> bool:
        """True when this account's role is ``minimum`` or above (viewer < operator < approver < admin)."""
        return not self.disabled and at_least(self.role, minimum)


def at_least(role: str, minimum: str) -> bool:
    return ROLES.index(role) >= ROLES.index(minimum)


def _account(row: Any) -> Account:
    return Account(row.id, row.username, row.role, bool(row.disabled), bool(row.must_change_password),
                   row.password_changed_at, _stamp_of(row.password_hash, row.session_epoch))


def _stamp_of(password_hash: str, session_epoch: int) -> str:
    return hashlib.sha256(f"{password_hash}\n{session_epoch}".encode()).hexdigest()[:32]


def _columns() -> list[Any]:
    return [accounts.c.id, accounts.c.username, accounts.c.role, accounts.c.disabled,
            accounts.c.must_change_password, accounts.c.password_changed_at, accounts.c.password_hash,
            accounts.c.session_epoch]


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key in AUDITED_FIELDS}


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def check_new_password(password: str, username: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise FieldError(field, f"비밀번호는 {MIN_PASSWORD}자 이상이어야 합니다",
                           f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise FieldError(field, "비밀번호가 너무 깁니다 (1024자 이하)", "the password is too long (1024 at most)")
    if password.casefold() == username.casefold():
        raise FieldError(field, "비밀번호가 사용자 이름과 같습니다", "the password equals the username")


def one_time_password() -> str:
    """A random password to hand over once (the account must change it at first login)."""
    return secrets.token_urlsafe(15)


def create_account(connection: Connection, actor: Actor, username: str, role: str, password: str, *,
                   must_change_password: bool = True) -> Account:
    if role not in ROLES:
        raise FieldError("role", f"역할은 {', '.join(ROLES)} 중 하나입니다", f"role is one of {', '.join(ROLES)}")
    if connection.execute(select(accounts.c.id).where(func.lower(accounts.c.username) == username.lower())).first():
        raise FieldError("username", f"username: 사용자 {username} 가 이미 있습니다",
                         f"username: user {username} exists", status=409)
    check_new_password(password, username)
    when, hashed = now(), hash_password(password)
    values = {"username": username, "password_hash": hashed, "role": role, "disabled": False,
              "must_change_password": must_change_password, "password_changed_at": when, "created_at": when}
    new_id = connection.execute(insert(accounts).values(**values)).inserted_primary_key[0]
    audit.record(connection, actor, "account.create", "account", new_id, after=_audited({"id": new_id, **values}))
    return Account(new_id, username, role, False, must_change_password, when, _stamp_of(hashed, 0))


def authenticate(connection: Connection, username: str, password: str) -> Account | None:
    """The account when the password is right and the account is enabled, else None (same work either way)."""
    # A name no account can have (NUL: PostgreSQL text cannot even hold it) is a miss, never a database error.
    known = len(username) <= 64 and "\x00" not in username
    row = connection.execute(select(*_columns(), accounts.c.password_hash)
                             .where(accounts.c.username == username)).first() if known else None
    try:
        HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    if HASHER.check_needs_rehash(row.password_hash):
        connection.execute(update(accounts).where(accounts.c.id == row.id)
                           .values(password_hash=hash_password(password)))
    connection.execute(update(accounts).where(accounts.c.id == row.id).values(last_login_at=now()))
    return _account(row)


def account_by_id(connection: Connection, account_id: int) -> Account | None:
    row = connection.execute(select(*_columns()).where(accounts.c.id == account_id)).first()
    return _account(row) if row else None


def change_password(connection: Connection, account: Account, current: str, new: str) -> Account:
    row = connection.execute(select(accounts.c.password_hash, accounts.c.session_epoch)
                             .where(accounts.c.id == account.id)).one()
    try:
        HASHER.verify(row.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise FieldError("current_password", "현재 비밀번호가 맞지 않습니다",
                           "the current password is wrong") from None
    check_new_password(new, account.username, "new_password")
    if current == new:
        raise FieldError("new_password", "새 비밀번호가 현재 비밀번호와 같습니다",
                         "the new password equals the current one")
    when, hashed = now(), hash_password(new)
    connection.execute(update(accounts).where(accounts.c.id == account.id).values(
        password_hash=hashed, must_change_password=False, password_changed_at=when))
    audit.record(connection, account.actor, "account.password", "account", account.id,
                 before={"must_change_password": account.must_change_password},
                 after={"must_change_password": False})
    return Account(account.id, account.username, account.role, account.disabled, False, when,
                   _stamp_of(hashed, row.session_epoch))


def end_sessions(connection: Connection, account_id: int) -> None:
    """End every session of the account (logging out): each names the epoch it was opened in, now past."""
    connection.execute(update(accounts).where(accounts.c.id == account_id)
                       .values(session_epoch=accounts.c.session_epoch + 1))


def list_accounts(connection: Connection) -> list[dict[str, Any]]:
    """Every account, as :data:`PUBLIC_FIELDS` only (the password hash never leaves :mod:`.accounts`)."""
    rows = connection.execute(select(*(accounts.c[name] for name in PUBLIC_FIELDS)).order_by(accounts.c.username))
    return [dict(row._mapping) for row in rows]


def update_account(connection: Connection, actor: Actor, account_id: int, *, role: str | None = None,
                   disabled: bool | None = None, reset_password: bool = False) -> str | None:
    """Change an account's role or disabled flag, or give it a new one-time password (returned)."""
    before = connection.execute(select(*_columns()).where(accounts.c.id == account_id)).first()
    if before is None:
        raise NotFound("account", account_id)
    values: dict[str, Any] = {}
    if role is not None:
        if role not in ROLES:
            raise FieldError("role", f"역할은 {', '.join(ROLES)} 중 하나입니다", f"role is one of {', '.join(ROLES)}")
        values["role"] = role
    if disabled is not None:
        values["disabled"] = disabled
    if actor.account_id == account_id and (values.get("disabled") or values.get("role", "admin") != "admin"):
        raise FieldError("role" if "role" in values else "disabled", "자기 관리자 권한은 거둘 수 없습니다",
                           "an admin cannot demote or disable their own account")
    password = None
    if reset_password:
        password = one_time_password()
        values.update(password_hash=hash_password(password), must_change_password=True,
                      password_changed_at=now())
    if values:
        connection.execute(update(accounts).where(accounts.c.id == account_id).values(**values))
        after = {**dict(before._mapping), **values}
        audit.record(connection, actor, "account.update", "account", account_id, _audited(dict(before._mapping)),
                     _audited(after))
    return password


# -- API tokens -----------------------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(connection: Connection, actor: Actor, account_id: int, name: str) -> tuple[int, str]:
    """A new token for ``account_id``: (its id, the token — shown once, only its digest is kept)."""
    if account_by_id(connection, account_id) is None:
        raise NotFound("account", account_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    values = {"account_id": account_id, "name": name, "token_sha256": _digest(token),
              "prefix": token[:len(TOKEN_PREFIX) + 4], "created_at": now()}
    token_id = connection.execute(insert(api_tokens).values(**values)).inserted_primary_key[0]
    audit.record(connection, actor, "token.issue", "api_token", token_id, after={"id": token_id, **values})
    return token_id, token


def revoke_token(connection: Connection, actor: Actor, token_id: int) -> None:
    row = connection.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise NotFound("api_token", token_id)
    if row.revoked_at is None:
        when = now()
        connection.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=when))
        audit.record(connection, actor, "token.revoke", "api_token", token_id,
                     {"revoked_at": None}, {"revoked_at": when})


def account_by_token(connection: Connection, token: str) -> Account | None:
    """The enabled account a bearer token belongs to, or None (unknown, revoked, or a disabled account)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = connection.execute(
        select(*_columns(), api_tokens.c.id.label("token_id"), api_tokens.c.last_used_at)
        .join(api_tokens, api_tokens.c.account_id == accounts.c.id)
        .where(api_tokens.c.token_sha256 == _digest(token), api_tokens.c.revoked_at.is_(None))).first()
    if row is None or row.disabled:
        return None
    when = now()
    if row.last_used_at is None or when - as_utc(row.last_used_at) > TOKEN_USE_RESOLUTION:
        # Written at most once a minute: a script's every request would otherwise be a write.
        connection.execute(update(api_tokens).where(api_tokens.c.id == row.token_id).values(last_used_at=when))
    return _account(row)


def list_tokens(connection: Connection, account_id: int | None = None) -> list[dict[str, Any]]:
    query = select(api_tokens.c.id, api_tokens.c.account_id, accounts.c.username, api_tokens.c.name,
                   api_tokens.c.prefix, api_tokens.c.created_at, api_tokens.c.last_used_at,
                   api_tokens.c.revoked_at).join(accounts, accounts.c.id == api_tokens.c.account_id)
    if account_id is not None:
        query = query.where(api_tokens.c.account_id == account_id)
    return [dict(row._mapping) for row in connection.execute(query.order_by(api_tokens.c.id))]
