"""Shared check: every rule option in a contract carries a comment saying where its value comes from."""

from __future__ import annotations

from pathlib import Path

from config.contracts import load_contract

CONTRACTS = Path(__file__).resolve().parents[2] / "config" / "datasets"


def assert_options_documented(dataset: str) -> None:
    """Each key under ``options:`` has a comment above it (options listed together may share one)."""
    lines = (CONTRACTS / f"{dataset}.yaml").read_text(encoding="utf-8").splitlines()
    start = lines.index("options:")
    block = []
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break
        block.append(line)
    for key in load_contract(dataset).options:
        at = next(n for n, line in enumerate(block) if line.startswith(f"  {key}:"))
        # the nearest line above that is not another option (a group of options shares a comment)
        above = next(line.strip() for line in reversed(block[:at])
                     if line.startswith("  #") or not line.startswith("  "))
        assert above.startswith("#"), f"option {key} of {dataset} has no comment"
