"""The console: behave's pretty formatter with the feature header once, and a console that
survives its reader going away (``./run suite | head``) by stopping the run as Ctrl-C would."""

from __future__ import annotations

import _thread
import os
import sys
import threading
from typing import Any, TextIO

from behave.formatter.pretty import PrettyFormatter


class ApexPrettyFormatter(PrettyFormatter):  # type: ignore[misc]
    """behave's pretty formatter. behave's own prints a feature's header a second time when the
    feature has a Background: ``background()`` replays the pending statement, which is still
    the feature whose header ``feature()`` has already printed."""

    def background(self, background: Any) -> None:
        pending: Any = getattr(self, "statement", None)
        if pending is not None and pending is getattr(self, "current_feature", None):
            self.statement = None
        super().background(background)


class ReaderGone(KeyboardInterrupt):
    """The reader of the console went away; the run stops and cleans up as on Ctrl-C."""


class _GuardedStream:
    """A console stream that, once its reader has gone (EPIPE), sends everything to the null
    device and interrupts the run once, so that the cleanup still runs (services stopped) and
    nothing waits on a pipe nobody reads."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            _reader_gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            _reader_gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_gone = False


def _reader_gone() -> None:
    global _gone
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    if _gone:
        return
    _gone = True
    if threading.current_thread() is not threading.main_thread():
        _thread.interrupt_main()  # the run stops in the main thread; this thread carries on
        return
    raise ReaderGone("the reader of the console went away")


def guard_console(*writers: Any) -> None:
    """Guard stdout and stderr (and the originals ``announce`` writes to), and the console
    stream of each of ``writers`` (behave's formatters and reporters, which took hold of the
    console before the suite's code was loaded); streams to files are left alone."""
    for name in ("stdout", "stderr", "__stdout__", "__stderr__"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _GuardedStream):
            setattr(sys, name, _GuardedStream(stream))
    for writer in writers:
        console: Any = getattr(writer, "stream", None)
        if _is_console(console) and not isinstance(console, _GuardedStream):
            writer.stream = _GuardedStream(console)
            opener: Any = getattr(writer, "stream_opener", None)
            if getattr(opener, "stream", None) is console:  # behave checks they agree at close
                opener.stream = writer.stream


def _is_console(stream: Any) -> bool:
    try:
        return stream is not None and stream.fileno() in (1, 2)
    except (AttributeError, OSError, ValueError):
        return False


def reader_gone() -> bool:
    """True once the console's reader went away (the run was interrupted for it)."""
    return _gone
