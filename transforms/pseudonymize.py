"""Keyed pseudonyms (HMAC-SHA256) for direct identifiers in analyst-facing data.

The same value under the same key always gives the same pseudonym, so analysts can join one
person across datasets (a mother's personal ID in births and deaths) without seeing the ID.
Without the key the pseudonym cannot be reversed or recomputed by guessing IDs (a plain hash of
a 12-digit ID could be brute-forced in minutes). The key is never in code: the caller resolves
it from an Airflow connection or environment variable (see ``pipeline.secrets``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: Hex characters kept (128 bits): collision-free at national scale, shorter than 64.
PSEUDONYM_HEX_CHARS = 32


#: Pseudonyms a ``memo`` keeps (about 150 bytes each): past it, new values are hashed, not kept.
MEMO_MAX = 1_000_000


def pseudonymize(arr: pa.Array | pa.ChunkedArray, key: bytes, domain: str,
                 memo: dict[str, str] | None = None) -> pa.Array:
    """Replace each value with ``HMAC-SHA256(key, domain || 0x1f || value)``, hex, truncated.

    Args:
        arr: the identifier values (strings); NULL stays NULL.
        key: the secret key (at least 16 bytes).
        domain: a namespace such as ``"person"`` or ``"certificate"``. Identifiers of the same
            kind share a domain (every personal-ID column uses ``person``) so they join across
            datasets; different kinds never collide.
        memo: value -> pseudonym already computed under the same key and domain (the caller
            keeps one per domain across the chunks of one job); values hashed here are added,
            up to :data:`MEMO_MAX`.

    Returns:
        A string array of pseudonyms.

    Raises:
        ValueError: if the key is too short to be a real secret.
    """
    if len(key) < 16:
        raise ValueError("pseudonymization key must be at least 16 bytes")
    prefix = domain.encode() + b"\x1f"
    inner, outer = _pads(key)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    # Hash each distinct value once (a mother appears once per child, twins share a card...).
    uniques = pc.unique(arr.drop_null())
    digests: list[str] = []
    append = digests.append
    # HMAC written out (RFC 2104: H(K^opad || H(K^ipad || m))) on hash states primed with the
    # padded key once: the same digest as hmac.new(key, m, sha256), a third cheaper per value
    # than copying an hmac object (its Python wrapper), which matters at millions of values.
    if memo is None:
        for value in uniques.to_pylist():
            h = inner.copy()
            h.update(prefix + value.encode("utf-8"))
            o = outer.copy()
            o.update(h.digest())
            append(o.hexdigest()[:PSEUDONYM_HEX_CHARS])
    else:
        known = memo.get
        room = MEMO_MAX - len(memo)
        for value in uniques.to_pylist():
            digest = known(value)
            if digest is None:
                h = inner.copy()
                h.update(prefix + value.encode("utf-8"))
                o = outer.copy()
                o.update(h.digest())
                digest = o.hexdigest()[:PSEUDONYM_HEX_CHARS]
                if room > 0:
                    memo[value] = digest
                    room -= 1
            append(digest)
    return pc.take(pa.array(digests, pa.string()), pc.index_in(arr, value_set=uniques))


def _pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states after the inner and outer padded key of HMAC (RFC 2104)."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key)))
