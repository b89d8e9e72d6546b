"""``python -m apex.dlq``: the dead-letter queue's operator commands (``apex.dlq.cli``)."""

from __future__ import annotations

import logging

from apex.dlq.cli import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
