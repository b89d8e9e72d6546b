"""Settings to and from environment variables, the one way every settings object of the
platform does it (``PlatformSettings``: ``APEX_PLATFORM_*``; ``DeadLetterSettings``:
``APEX_DLQ_*``): a process started with :func:`as_environment`'s variables reads the same
settings back, and a bad variable is named in one line."""

from __future__ import annotations

import json

from pydantic import BaseModel, SecretStr, ValidationError


def as_environment(settings: BaseModel, prefix: str) -> dict[str, str]:
    """``prefix`` + each field's name in capitals, with the value as pydantic-settings reads it
    back (secrets in clear: they go to a child's environment, never its command line; a
    mapping as JSON). A nested settings object hands on its own variables, under its own
    prefix."""
    found: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        nested = getattr(value, "as_environment", None)
        if isinstance(value, BaseModel) and callable(nested):
            found.update(nested())
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, dict):
            value = json.dumps({str(k): v for k, v in value.items()})
        found[prefix + name.upper()] = str(value)
    return found


def problems(exc: ValidationError, prefix: str) -> str:
    """What is wrong, one "VARIABLE: message" per problem (the variable a field is read from,
    even when the fault is inside its value), without the values: a bad value may be a
    secret."""
    return "; ".join(
        f"{prefix}{str(e['loc'][0]).upper() if e['loc'] else ''}: {e['msg']}"
        for e in exc.errors()
    )
