"""The configuration cache: one Redis hash per tenant, in the tenant's region's Redis database.

Only validated tenant ids and setting names reach this module, so nothing a caller sends can
name another tenant's hash or field. Secrets are cached sealed, never in plain text. Every entry
says whose setting it is; an entry that does not belong to the tenant and setting it was found
under is discarded, never served.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import redis

from apex import keys
from apex.tenancy.cipher import SealedSecret
from apex.tenancy.model import Kind
from apex.tenancy.regions import Region
from apex.tenancy.store import StoredSetting

#: How long a tenant's cached configuration lives without a write (bounds any staleness).
TTL = timedelta(minutes=5)

# Write only if the cached entry is absent or older: a slow reader never overwrites a newer
# write with the version it read before.
_SET_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local seen = cjson.decode(current)
  if tonumber(seen['version']) >= tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


class ConfigCache:
    def __init__(self, clients: Mapping[Region, redis.Redis]) -> None:
        self._clients = dict(clients)
        self._set_if_newer = {
            home: client.register_script(_SET_IF_NEWER) for home, client in self._clients.items()
        }

    def get(self, home: Region, tenant_id: str, name: str) -> StoredSetting | None:
        """The cached setting, or None on a miss (or a discarded foreign entry)."""
        client = self._clients[home]
        key = keys.tenant_config_cache(tenant_id)
        raw = client.hget(key, name)
        if raw is None:
            return None
        entry = _decode(raw)
        if entry is None or entry.tenant_id != tenant_id or entry.name != name:
            client.hdel(key, name)
            return None
        return entry

    def put(self, home: Region, setting: StoredSetting) -> None:
        key = keys.tenant_config_cache(setting.tenant_id)
        self._set_if_newer[home](
            keys=[key],
            args=[setting.name, _encode(setting), setting.version, int(TTL.total_seconds() * 1000)],
        )

    def forget(self, home: Region, tenant_id: str, name: str) -> None:
        self._clients[home].hdel(keys.tenant_config_cache(tenant_id), name)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _encode(setting: StoredSetting) -> str:
    sealed = setting.sealed
    return json.dumps({
        "tenant_id": setting.tenant_id,
        "name": setting.name,
        "kind": setting.kind.value,
        "value": setting.value,
        "nonce": _b64(sealed.nonce) if sealed else None,
        "ciphertext": _b64(sealed.ciphertext) if sealed else None,
        "key_id": sealed.key_id if sealed else None,
        "version": setting.version,
        "updated_by": setting.updated_by,
        "updated_at": setting.updated_at.isoformat(),
    })


def _decode(raw: Any) -> StoredSetting | None:
    try:
        entry = json.loads(raw)
        sealed = None
        if entry["ciphertext"] is not None:
            sealed = SealedSecret(
                base64.b64decode(entry["nonce"]), base64.b64decode(entry["ciphertext"]),
                str(entry["key_id"]),
            )
        return StoredSetting(
            tenant_id=str(entry["tenant_id"]), name=str(entry["name"]), kind=Kind(entry["kind"]),
            value=entry["value"], sealed=sealed, version=int(entry["version"]),
            updated_by=str(entry["updated_by"]),
            updated_at=datetime.fromisoformat(entry["updated_at"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
