"""Secrets sealed at rest: AES-GCM, key per region, tenant and setting bound."""

from __future__ import annotations

import pytest

from apex.tenancy.cipher import SecretCipher
from apex.tenancy.errors import SecretTampered
from apex.tenancy.regions import Region, RegionKeys

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture(scope="module")
def cipher() -> SecretCipher:
    return SecretCipher(RegionKeys.generate())


def test_a_sealed_secret_opens_for_the_same_tenant_setting_and_region(
    cipher: SecretCipher,
) -> None:
    sealed = cipher.seal(Region.EU, "acme", "llm.key", KEY)
    assert cipher.open(Region.EU, "acme", "llm.key", sealed) == KEY


def test_the_sealed_form_contains_no_trace_of_the_plaintext(cipher: SecretCipher) -> None:
    sealed = cipher.seal(Region.EU, "acme", "llm.key", KEY)
    assert KEY.encode() not in sealed.ciphertext
    assert KEY not in repr(sealed)


def test_sealing_twice_gives_different_ciphertexts(cipher: SecretCipher) -> None:
    first = cipher.seal(Region.EU, "acme", "llm.key", KEY)
    second = cipher.seal(Region.EU, "acme", "llm.key", KEY)
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext


@pytest.mark.parametrize(
    ("region", "tenant", "name"),
    [
        (Region.EU, "globex", "llm.key"),
        (Region.EU, "acme", "other.key"),
        (Region.US, "acme", "llm.key"),
    ],
    ids=["another tenant", "another setting", "another region"],
)
def test_a_sealed_secret_moved_anywhere_else_fails_its_integrity_check(
    cipher: SecretCipher, region: Region, tenant: str, name: str
) -> None:
    sealed = cipher.seal(Region.EU, "acme", "llm.key", KEY)
    with pytest.raises(SecretTampered) as refused:
        cipher.open(region, tenant, name, sealed)
    assert KEY not in str(refused.value)


def test_another_deployments_keys_cannot_open_a_secret(cipher: SecretCipher) -> None:
    sealed = cipher.seal(Region.EU, "acme", "llm.key", KEY)
    with pytest.raises(SecretTampered):
        SecretCipher(RegionKeys.generate()).open(Region.EU, "acme", "llm.key", sealed)


def test_region_keys_must_all_be_256_bits() -> None:
    with pytest.raises(ValueError, match="256-bit"):
        RegionKeys({Region.EU: b"x" * 32, Region.US: b"short"})
