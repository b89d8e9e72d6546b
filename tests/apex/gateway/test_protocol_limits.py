"""Messages that could hurt the gateway are protocol errors like any other malformed message."""

from __future__ import annotations

import pytest

from apex.gateway import protocol
from apex.gateway.protocol import ErrorCode, ProtocolError


@pytest.mark.parametrize(
    "text",
    [
        '{"a":' * 1_000 + "1" + "}" * 1_000,  # about 6 KB, a thousand levels deep
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["a thousand levels of objects", "a hundred thousand levels of arrays"],
)
def test_a_deeply_nested_message_is_malformed_json(text: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        protocol.parse(text)
    assert raised.value.code is ErrorCode.MALFORMED_JSON
    assert "nested too deeply" in str(raised.value)
