"""Randomly damaged lines, for the tests that hold a fast parser to the SQL one."""

from __future__ import annotations

import random


def damaged(
    good: list[str], seed: int, alphabet: list[str], swaps: list[tuple[str, str]], swap_odds=1
) -> list[str]:
    """Each line damaged once or twice at random: a byte replaced by one of `alphabet`, a byte
    dropped, two bytes doubled, or the first `old` of a random (old, new) of `swaps` replaced
    (`swap_odds` in 3 + swap_odds of the damages)."""
    rng = random.Random(seed)
    out = []
    for text in good:
        for _ in range(rng.choice([1, 1, 2])):
            k = rng.randrange(len(text) + 1)
            action = rng.randrange(3 + swap_odds)
            if action == 0:
                text = text[:k] + rng.choice(alphabet) + text[k + 1 :]
            elif action == 1:
                text = text[:k] + text[k + 1 :]
            elif action == 2:
                text = text[:k] + text[k : k + 2] + text[k:]
            else:
                old, new = rng.choice(swaps)
                text = text.replace(old, new, 1)
        out.append(text)
    return out
