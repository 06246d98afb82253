"""Seeded randomness: every random stream is derived from the run seed plus a label.

``random.Random`` seeded with a ``str`` hashes it with SHA-512 (seed version 2), so the streams
are stable across processes and platforms and independent of ``PYTHONHASHSEED``. Deriving one
stream per purpose (``citizens``, ``night/01929/2026-11-21`` ...) means adding a draw in one
place does not shift every other value of the run.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")


def derive_rng(seed: int, *labels: object) -> random.Random:
    """Return a random stream determined by the seed and the labels.

    Args:
        seed: the run seed.
        *labels: what the stream is for; converted with ``str`` and joined with ``/``.

    Returns:
        A new ``random.Random`` instance.
    """
    return random.Random("/".join([str(seed), *(str(label) for label in labels)]))


def derive_uuid(rng: random.Random) -> uuid.UUID:
    """Draw a version-4 UUID from ``rng`` (never from the OS entropy pool).

    Args:
        rng: the stream to draw from.

    Returns:
        A UUID whose 122 random bits come from ``rng``.
    """
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def weighted_choice(rng: random.Random, weights: Mapping[T, int]) -> T:
    """Pick one key of ``weights`` with probability proportional to its value.

    Args:
        rng: the stream to draw from.
        weights: key -> integer weight, iterated in insertion order.

    Returns:
        The chosen key.
    """
    keys: Sequence[T] = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def digits(rng: random.Random, n: int) -> str:
    """Draw ``n`` random decimal digits (leading zeros kept).

    Args:
        rng: the stream to draw from.
        n: how many digits.

    Returns:
        A string of ``n`` digits.
    """
    return f"{rng.randrange(10**n):0{n}d}"
