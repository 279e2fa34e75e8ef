"""Helpers for the console's tests: a console app over a fresh database, with one account (and API token)
per role, and clients logged in as each of them."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():  # Starlette suggests httpx2 for its test client; httpx is what the kit has
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from s24kit.conformance.console import accounts
from s24kit.conformance.console.app import Settings, create_app
from s24kit.conformance.console.audit import SYSTEM
from s24kit.conformance.console.db import Database, default_url, prepare
from s24kit.conformance.console.tables import ROLES

from ._databases import fresh_postgres_database, fresh_sqlite_url, postgres_unreachable_reason
from ._require import require

#: Module-scoped console fixtures run on both databases (function-scoped tests use ``console_database``).
DATABASES = ("sqlite", "postgresql")

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    """An app, its database, and per role: a logged-in page client and an API token."""

    app: object
    database: Database
    pages: dict[str, TestClient]
    tokens: dict[str, str]

    def anonymous(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def api(self, role: str | None) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        if role is not None:
            client.headers["authorization"] = f"Bearer {self.tokens[role]}"
        return client


def csrf_of(client: TestClient, path: str = "/sites") -> str:
    """The CSRF token a page of ``path`` carries in its forms."""
    found = CSRF.search(client.get(path).text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    token = csrf_of(client, "/login")
    answer = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert answer.status_code == 303, answer.text


@contextmanager
def database_url(kind: str, directory: Path) -> Iterator[str]:
    """A fresh database of ``kind`` for a whole test module: a SQLite file, or a new PostgreSQL database on
    the test server (the PostgreSQL case skips without one, and fails under S24_REQUIRE_ALL=1)."""
    if kind == "sqlite":
        yield fresh_sqlite_url(directory)
        return
    reason = postgres_unreachable_reason()
    require(reason is None, reason or "")
    with fresh_postgres_database() as url:
        yield url


@contextmanager
def console_on(kind: str, directory: Path) -> Iterator[Console]:
    with database_url(kind, directory) as url:
        made = make_console(directory / "state", url)
        try:
            yield made
        finally:
            made.database.engine.dispose()


def make_console(state_dir: Path, url: str | None = None) -> Console:
    database = prepare(url or default_url(state_dir), state_dir=state_dir)
    app = create_app(Settings(state_dir, url), database)
    tokens: dict[str, str] = {}
    with database.engine.begin() as connection:
        for role in ROLES:
            account = accounts.create_account(connection, SYSTEM, role, role, PASSWORD, must_change_password=False)
            tokens[role] = accounts.issue_token(connection, SYSTEM, account.id, f"{role} token")[1]
    pages: dict[str, TestClient] = {}
    for role in ROLES:
        client = TestClient(app, follow_redirects=False)
        log_in(client, role)
        pages[role] = client
    return Console(app, database, pages, tokens)


# -- the OpenAPI description as a judge of answers ------------------------------------------------------------

def openapi_operation(method: str, template: str) -> dict:
    """The operation of the console's OpenAPI for an access-table path (``{site_id:id}`` → ``{site_id}``)."""
    from s24kit.conformance.console.validation import openapi

    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", template)
    return openapi()["paths"][path][method.lower()]


def assert_documented(method: str, template: str, response) -> None:
    """The answer's status is one the operation documents, and its JSON body matches the schema given."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    from s24kit.conformance.console.validation import openapi

    responses = openapi_operation(method, template)["responses"]
    assert str(response.status_code) in responses, (method, template, response.status_code, response.text[:300])
    declared = responses[str(response.status_code)]
    if "$ref" in declared:
        declared = openapi()["components"]["responses"][declared["$ref"].rsplit("/", 1)[-1]]
    content = declared.get("content", {})
    if not content:
        assert not response.content
        return
    media = response.headers["content-type"].split(";")[0]
    assert media in content, (media, list(content))
    if media.endswith("json"):
        registry = Registry().with_resource("urn:console", Resource(contents=openapi(), specification=DRAFT202012))
        schema = {"$ref": "urn:console#" + _pointer(method, template, response.status_code, declared, media)}
        errors = list(Draft202012Validator(schema, registry=registry).iter_errors(response.json()))
        assert not errors, (method, template, [e.message for e in errors[:3]])


def _pointer(method: str, template: str, status: int, declared: dict, media: str) -> str:
    schema = declared["content"][media]["schema"]
    if "$ref" in schema:
        return schema["$ref"].removeprefix("#")
    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", template).replace("~", "~0").replace("/", "~1")
    return f"/paths/{path}/{method.lower()}/responses/{status}/content/{media.replace('/', '~1')}/schema"
