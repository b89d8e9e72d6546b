"""Encryption at rest of the secrets in a tenant's configuration (its providers' API keys).

AES-256-GCM (authenticated) from ``cryptography``, one key per region. The tenant id, the
setting's name and the region are bound as associated data: a ciphertext copied to another
tenant, another setting or another region fails to decrypt instead of revealing anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from apex.tenancy.errors import SecretTampered
from apex.tenancy.regions import Region, RegionKeys

NONCE_BYTES = 12
_CONTEXT = "apex.tenant-config.secret.v1"


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """What is stored for a secret: never the plaintext."""

    nonce: bytes
    ciphertext: bytes
    key_id: str

    def __repr__(self) -> str:
        return f"SealedSecret(key_id={self.key_id!r}, {len(self.ciphertext)} bytes)"


class SecretCipher:
    def __init__(self, keys: RegionKeys) -> None:
        self._keys = keys

    def seal(self, home: Region, tenant_id: str, name: str, plaintext: str) -> SealedSecret:
        """Encrypt ``plaintext`` for this tenant's setting in its home region."""
        nonce = os.urandom(NONCE_BYTES)
        aead = AESGCM(self._keys.key(home))
        ciphertext = aead.encrypt(
            nonce, plaintext.encode("utf-8"), _associated(home, tenant_id, name)
        )
        return SealedSecret(nonce, ciphertext, self._keys.key_id)

    def open(self, home: Region, tenant_id: str, name: str, sealed: SealedSecret) -> str:
        """The plaintext, or SecretTampered if the record is not this setting's, unaltered."""
        if sealed.key_id != self._keys.key_id:
            raise SecretTampered(f"the secret {name!r} was sealed with an unknown key")
        aead = AESGCM(self._keys.key(home))
        try:
            plaintext = aead.decrypt(
                sealed.nonce, sealed.ciphertext, _associated(home, tenant_id, name)
            )
        except InvalidTag:
            raise SecretTampered(
                f"the stored secret {name!r} failed its integrity check; it was not returned"
            ) from None
        return plaintext.decode("utf-8")


def _associated(home: Region, tenant_id: str, name: str) -> bytes:
    # Unambiguous: no field may contain the separator (ids and names are validated).
    return f"{_CONTEXT}|{home.value}|{tenant_id}|{name}".encode()
