"""Quality mart and report settings (``config/quality.yaml``) as a typed object.

The file path can be changed with ``S06_QUALITY_FILE``; a missing key takes the default below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

QUALITY_FILE = Path(__file__).resolve().parent / "quality.yaml"


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality mart and report (see ``config/quality.yaml`` for their meaning)."""

    trailing_nights: int = 14
    min_history_nights: int = 2
    min_median: float = 5.0
    drop_ratio: float = 0.5
    spike_ratio: float = 2.0
    default_deadline_hours: float = 72.0
    deadline_hours: dict[str, float] = field(default_factory=dict)
    trend_nights: int = 7
    trend_tolerance: float = 0.02
    good: float = 0.95
    poor: float = 0.80

    def deadline_for(self, dataset: str) -> float:
        """The timeliness deadline of a dataset, in hours."""
        return float(self.deadline_hours.get(dataset, self.default_deadline_hours))


def parse_quality_config(raw: Any, where: str = "quality.yaml") -> QualityConfig:
    """Validate the mapping and build the config.

    Raises:
        ValueError: naming the key that is wrong.
    """
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: top level must be a mapping")
    volume, timeliness, scorecard = (raw.get(k) or {} for k in ("volume", "timeliness", "scorecard"))
    try:
        cfg = QualityConfig(
            trailing_nights=int(volume.get("trailing_nights", 14)),
            min_history_nights=int(volume.get("min_history_nights", 2)),
            min_median=float(volume.get("min_median", 5)),
            drop_ratio=float(volume.get("drop_ratio", 0.5)),
            spike_ratio=float(volume.get("spike_ratio", 2.0)),
            default_deadline_hours=float(timeliness.get("default_deadline_hours", 72)),
            deadline_hours={str(k): float(v) for k, v in (timeliness.get("deadline_hours") or {}).items()},
            trend_nights=int(scorecard.get("trend_nights", 7)),
            trend_tolerance=float(scorecard.get("trend_tolerance", 0.02)),
            good=float(scorecard.get("good", 0.95)),
            poor=float(scorecard.get("poor", 0.80)),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    if cfg.trailing_nights < 1 or cfg.min_history_nights < 1:
        raise ValueError(f"{where}: volume.trailing_nights and volume.min_history_nights must be at least 1")
    if not 0 < cfg.drop_ratio < 1 < cfg.spike_ratio:
        raise ValueError(f"{where}: volume.drop_ratio must be in (0, 1) and volume.spike_ratio above 1")
    if any(v <= 0 for v in [cfg.default_deadline_hours, *cfg.deadline_hours.values()]):
        raise ValueError(f"{where}: timeliness deadlines must be positive hours")
    if not 0 <= cfg.poor <= cfg.good <= 1:
        raise ValueError(f"{where}: scorecard needs 0 <= poor <= good <= 1")
    return cfg


def load_quality_config(path: Path | None = None) -> QualityConfig:
    """Load ``S06_QUALITY_FILE`` (default ``config/quality.yaml``)."""
    path = path or Path(os.environ.get("S06_QUALITY_FILE", str(QUALITY_FILE)))
    with path.open(encoding="utf-8") as fh:
        return parse_quality_config(yaml.safe_load(fh), where=path.name)
