"""Random draws for the traffic generator, fast enough for millions of lines a day."""

from __future__ import annotations

import random


class FastRandom(random.Random):
    """random.Random with integer draws that cost one random() call.

    `randrange` rejects and redraws to be exactly uniform, which makes it ten times slower;
    the bias of int(random() * n) is below 2**-40 for the sizes used here.
    """

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        return int(self.random() * n)

    def between(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi)."""
        return lo + int(self.random() * (hi - lo))
