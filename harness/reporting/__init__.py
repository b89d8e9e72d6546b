"""Revenue model, Allure labels and results, run summary."""

from __future__ import annotations

import sys


def announce(text: str) -> None:
    """Print to the real console: behave captures hook output and shows it only on failure,
    but the service line and the revenue summary belong in every run's log."""
    stream = sys.__stdout__ or sys.stdout
    stream.write(text.rstrip("\n") + "\n")
    stream.flush()
