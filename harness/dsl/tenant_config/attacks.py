"""Cross-tenant attack shapes for the fuzzing rule, named as the feature names them.

Each shape makes one random attempt from the attacker on the victim's configuration: which
operation, which tenant id it addresses, which setting name or filter, which value. The ids and
names are crafted the way real attacks craft them; a seeded generator makes a run reproducible.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

OPERATIONS = ("read", "list", "overwrite", "delete")


@dataclass(frozen=True)
class Attempt:
    shape: str
    operation: str
    #: The tenant id the request addresses, exactly as sent (may not even be text).
    tenant_id: object
    #: The setting name (read, overwrite, delete) or the filter (list), as sent.
    name: object
    value: object = "attacker's value"

    def aimed_at(self, attacker: str) -> bool:
        """Whether it addresses anything but the attacker's own tenant id, exactly."""
        return self.tenant_id != attacker


@dataclass(frozen=True)
class Target:
    attacker: str
    victim: str
    #: Names of the victim's settings.
    names: tuple[str, ...]


Shape = Callable[[random.Random, Target], Attempt]


def _addressing(shape: str, ids: Callable[[Target], list[object]]) -> Shape:
    """A shape that sends a crafted tenant id with a random operation on a victim's setting."""

    def make(rng: random.Random, t: Target) -> Attempt:
        operation = rng.choice(OPERATIONS)
        name: object = "" if operation == "list" else rng.choice(t.names)
        return Attempt(shape, operation, rng.choice(ids(t)), name)

    return make


def _suffixed(t: Target) -> list[object]:
    suffixes = ["%", "_", "*", "'", "' --", " ", "\x00", ":config", "}", "/..", "-x", "\n",
                ";", "'||'", "\\", "-2", "::", "?", "#"]
    return [t.victim + s for s in suffixes]


def _respelled(t: Target) -> list[object]:
    v = t.victim
    return [v.upper(), v.title(), f" {v}", f"{v} ", f"\t{v}", v.replace("-", "_"),
            v.replace("a", "\uff41", 1), v.replace("-", "\u2010", 1)]


def _quoted(t: Target) -> list[object]:
    return [f"{t.attacker}' OR tenant_id = '{t.victim}", f"{t.victim}'--", "' OR '1'='1",
            f"{t.attacker}'; DELETE FROM tenant_config; --", f'{t.victim}"', f"'{t.victim}'"]


def _wildcards(t: Target) -> list[object]:
    return ["%", "_", "%%", f"{t.victim[:4]}%", f"{t.victim[:-1]}_", f"%{t.victim[-3:]}"]


def _stars(t: Target) -> list[object]:
    return ["*", f"{t.victim[:5]}*", "apex:tenant:*", f"{{{t.victim}}}*", "*:config"]


def _climbing(t: Target) -> list[object]:
    return [f"../{t.victim}", f"{t.attacker}/../{t.victim}", f"..\\{t.victim}", "..",
            f"{t.attacker}/..", f"..%2f{t.victim}"]


def _filter(rng: random.Random, t: Target) -> Attempt:
    filters = ["%", "*", "' OR '1'='1", "_", ".*", "\x00", t.victim, f"{t.victim}%", "..",
               "') OR tenant_id LIKE ('%", ""]
    return Attempt("a filter meant to match every tenant", "list",
                   rng.choice([t.attacker, t.victim]), rng.choice(filters))


def _reaching_name(rng: random.Random, t: Target) -> Attempt:
    names = [f"{{{t.victim}}}:config", f"../{t.victim}/{t.names[0]}", f"{t.names[0]}:{t.victim}",
             "x}:config", f"apex:tenant:{{{t.victim}}}:config", f"{t.names[0]}' OR '1'='1",
             f"{t.names[0]}%", "*"]
    operation = rng.choice(("read", "overwrite", "delete"))
    return Attempt("a setting name that reaches into Acme's", operation, t.attacker,
                   rng.choice(names))


def _claiming_payload(rng: random.Random, t: Target) -> Attempt:
    shape = "a payload that claims to be Acme's"
    name = rng.choice(t.names)
    claims = json.dumps({"tenant_id": t.victim, "name": name, "kind": "plain",
                         "value": "poisoned", "version": 999})
    choice = rng.randrange(3)
    if choice == 0:  # the attacker's own setting, whose value names the victim
        return Attempt(shape, "overwrite", t.attacker, name, claims)
    if choice == 1:  # a tenant id that is not text but structured data naming the victim
        crafted: list[object] = [{"tenant_id": t.victim}, [t.victim], t.victim.encode(), None]
        return Attempt(shape, rng.choice(OPERATIONS), rng.choice(crafted), name, claims)
    return Attempt(shape, "overwrite", t.victim, name, claims)


SHAPES: dict[str, Shape] = {
    "Acme's exact tenant id": _addressing("Acme's exact tenant id", lambda t: [t.victim]),
    "Acme's tenant id with something added to it": _addressing(
        "Acme's tenant id with something added to it", _suffixed),
    "Acme's tenant id in other letters or spacing": _addressing(
        "Acme's tenant id in other letters or spacing", _respelled),
    "a quote that ends the text early": _addressing("a quote that ends the text early", _quoted),
    "a wildcard": _addressing("a wildcard", _wildcards),
    "a star": _addressing("a star", _stars),
    "a path that climbs out of Globex's own": _addressing(
        "a path that climbs out of Globex's own", _climbing),
    "a filter meant to match every tenant": _filter,
    "a setting name that reaches into Acme's": _reaching_name,
    "a payload that claims to be Acme's": _claiming_payload,
}


def shape_named(words: str) -> Shape:
    try:
        return SHAPES[words]
    except KeyError:
        raise AssertionError(
            f"no attack shape is called {words!r}; known: {', '.join(SHAPES)}"
        ) from None
