"""Closing the scripted LLM server never waits for a serving loop that is not there (a run
cleaning up late, as the interpreter exits, found its thread already gone and waited forever)."""

from __future__ import annotations

import threading

from harness.services.scripted_llm import ScriptedLlmServer


def test_a_server_whose_loop_is_not_running_closes_at_once() -> None:
    server = ScriptedLlmServer("sk-scripted-test-key-0000")  # never started
    closer = threading.Thread(target=server.close, daemon=True)
    closer.start()
    closer.join(timeout=5)
    assert not closer.is_alive(), "close() is waiting for a serving loop that never ran"


def test_a_running_server_closes_and_its_loop_ends() -> None:
    server = ScriptedLlmServer("sk-scripted-test-key-0000").start()
    server.close()
    assert not server._thread.is_alive()
