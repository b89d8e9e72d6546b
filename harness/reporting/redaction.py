"""Secrets never reach logs, Allure attachments or error messages.

Everything the harness shows (attachments, failure messages, the settings line) passes through
:data:`REDACTOR`, which masks registered secret values and anything shaped like a credential.
"""

from __future__ import annotations

import re
import threading

MASK = "***"

_PATTERNS = [
    # user:password@ in URLs and DSNs
    (re.compile(r"(?P<keep>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]+(?=@)"), r"\g<keep>" + MASK),
    # password=... in libpq conninfo strings and key=value logs
    (
        re.compile(r"(?P<keep>\b(?:password|passwd|pwd|secret|api_key|apikey|token)\s*[=:]\s*)"
                   r"(?P<q>['\"]?)[^\s'\",;&]+(?P=q)", re.IGNORECASE),
        r"\g<keep>" + MASK,
    ),
    # bearer tokens and provider-style API keys
    (re.compile(r"(?P<keep>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\g<keep>" + MASK),
    (re.compile(r"\b(?:sk|pk|apex)[-_][A-Za-z0-9_-]{12,}\b"), MASK),
]


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str) -> None:
        """Mask this exact value wherever it appears (ignored if too short to be a secret)."""
        if len(secret) >= 6:
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


REDACTOR = Redactor()
