"""The features read as the product owner would write them: one of something is singular."""

from __future__ import annotations

import re

from tests.behave_runner import REPO

#: "1 requests", "all 1 requests": a count of one followed by a plural noun.
ONE_IN_PLURAL = re.compile(r"\b(?:all )?1 (?!\w*ss\b)\w+s\b")


def test_no_feature_speaks_of_one_thing_in_the_plural() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "features").rglob("*.feature"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if ONE_IN_PLURAL.search(line)
    ]
    assert found == []
