"""Progress of long work: a tqdm bar on a terminal, periodic log lines otherwise (e.g. output redirected to a file)."""
from __future__ import annotations

import logging
import sys
import time

from tqdm.auto import tqdm

log = logging.getLogger(__name__)


class Progress:
    """Counts ``total`` units of work; shows a bar when stderr is a terminal, else logs every ``every`` seconds.

    Args:
        total: Units of work.
        desc: What is being done (the bar's and the log line's prefix).
        unit: Name of one unit.
        every: Seconds between log lines when there is no terminal.
    """

    def __init__(self, total: int, desc: str, unit: str, every: float = 30.0) -> None:
        self.total, self.desc, self.unit, self.every = int(total), desc, unit, every
        self.done, self.bar = 0, None
        self.start = self.last = time.monotonic()

    def __enter__(self) -> "Progress":
        if sys.stderr.isatty():
            self.bar = tqdm(total=self.total, desc=self.desc, unit=self.unit)
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
        elif exc[0] is None and self.total:
            log.info("%s: done, %d %s in %.0f s", self.desc, self.done, self.unit, time.monotonic() - self.start)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= self.every and self.done < self.total:
            self.last = now
            elapsed = now - self.start
            left = elapsed * (self.total - self.done) / max(self.done, 1)
            log.info("%s: %d/%d %s (%.0f%%), %.0f s elapsed, about %.0f s left", self.desc, self.done, self.total,
                     self.unit, 100 * self.done / max(self.total, 1), elapsed, left)
