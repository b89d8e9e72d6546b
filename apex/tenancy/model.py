"""The records of tenant configuration: who calls, what a setting is, what the audit says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

#: What a caller without the right to see secrets gets instead of the value.
MASKED = "********"


class Kind(StrEnum):
    PLAIN = "plain"
    SECRET = "secret"


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    #: See secrets in plain text (otherwise they come back masked).
    REVEAL_SECRETS = "reveal_secrets"


class Action(StrEnum):
    READ = "read"
    LIST = "list"
    WRITE = "write"
    DELETE = "delete"


class Outcome(StrEnum):
    ALLOWED = "allowed"
    NOT_FOUND = "not_found"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the tenant its credentials belong to, who it is, what it may
    do. Built by the authentication layer, never from what a request body says."""

    tenant_id: str
    actor: str
    permissions: frozenset[Permission]

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as a caller sees it. ``value`` is the plaintext only for a secret returned
    to a caller allowed to reveal it; otherwise :data:`MASKED`."""

    tenant_id: str
    name: str
    kind: Kind
    value: str
    version: int
    updated_by: str
    updated_at: datetime

    def __repr__(self) -> str:
        shown = MASKED if self.kind is Kind.SECRET else repr(self.value)
        return f"Setting({self.tenant_id}/{self.name}={shown}, v{self.version})"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who did what to which configuration, when, and how it ended."""

    tenant_id: str
    actor: str
    action: Action
    target_tenant: str
    setting: str | None
    outcome: Outcome
    reason: str | None
    at: datetime
