"""The signal engine's configuration: one documented TOML file (``levradar/config/signals.toml``)."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The configuration file is missing a value or holds an invalid one."""


@dataclass(frozen=True)
class RegimeSpec:
    labels: tuple[str, ...]
    boundaries: tuple[float, ...]
    hysteresis: float
    min_dwell: int = 1  # hours a new label must be proposed running before it replaces the current one

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.boundaries) + 1:
            raise ConfigError(f"{len(self.labels)} labels need {len(self.labels) - 1} boundaries")
        if list(self.boundaries) != sorted(self.boundaries):
            raise ConfigError(f"boundaries must increase: {self.boundaries}")
        if self.hysteresis < 0:
            raise ConfigError("hysteresis must not be negative")
        if self.min_dwell < 1:
            raise ConfigError("min_dwell_hours must be at least 1")


REQUIRED: dict[str, tuple[str, ...]] = {
    "baseline": ("window_days", "label_window_days", "min_history_days"),
    "floors": ("funding_rate_8h", "oi_roc_4h", "oi_roc_24h", "ret_24h", "rv_24h", "funding_dispersion_8h"),
    "aggregation": (
        "outlier_z",
        "outlier_weight_cap",
        "outlier_window_days",
        "outlier_min_history_days",
        "outlier_min_venues",
        "main_share",
        "stale_hours",
    ),
    "labels": ("min_dwell_hours",),
    "funding": ("labels", "boundaries", "hysteresis", "default_rate_8h"),
    "oi": ("labels", "boundaries", "hysteresis"),
    "volatility": ("labels", "boundaries", "hysteresis"),
    "deleveraging": ("flush_z", "building_z", "post_flush_hours"),
    "scores": ("z_saturation", "crowding_funding_weight", "crowding_oi_weight", "fragility_weights"),
    "lsi": ("weights",),
    "liquidation": ("model_days", "labels", "boundaries", "component_span"),
    "setups": (
        "persistence_hours",
        "strong_funding_z",
        "cluster_within_vol",
        "clear_beyond_vol",
        "trend_z",
        "dump_z",
        "dump_hours",
        "consumed_share",
    ),
    "contradictions": ("breakout_z", "flat_oi_z", "funding_rise_z", "dispersion_z", "dispersion_min_8h"),
}


@dataclass(frozen=True)
class SignalConfig:
    raw: dict[str, Any]
    digest: str
    path: str = "signals.toml"

    def section(self, name: str) -> dict[str, Any]:
        try:
            value = self.raw[name]
        except KeyError:
            raise ConfigError(f"{self.path}: configuration has no [{name}] section") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{self.path}: [{name}] must be a table")
        return value

    def value(self, section: str, key: str) -> Any:
        try:
            return self.section(section)[key]
        except KeyError:
            raise ConfigError(f"{self.path}: configuration [{section}] has no {key!r}") from None

    def regime(self, name: str) -> RegimeSpec:
        sec = self.section(name)
        try:
            return RegimeSpec(
                tuple(sec["labels"]),
                tuple(float(b) for b in sec["boundaries"]),
                float(sec["hysteresis"]),
                int(sec.get("min_dwell_hours", 1)),
            )
        except (ConfigError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{self.path}: [{name}] {exc}") from None

    def floor(self, metric: str) -> float:
        return float(self.value("floors", metric))


def default_config_path() -> Path:
    return Path(str(files("levradar") / "config" / "signals.toml"))


def load_config(path: str | Path | None = None) -> SignalConfig:
    """Read the signal configuration (the packaged default unless ``path`` is given)."""
    file = Path(path) if path else default_config_path()
    try:
        data = file.read_bytes()
        raw = tomllib.loads(data.decode())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read configuration ({exc})") from exc
    config = SignalConfig(raw, hashlib.sha256(data).hexdigest()[:12], str(file))
    for section, keys in REQUIRED.items():
        for key in keys:
            config.value(section, key)
    for name in ("funding", "oi", "volatility"):
        config.regime(name)
    for section, key in (("floors", ""), ("scores", "fragility_weights"), ("lsi", "weights")):
        table = config.value(section, key) if key else config.section(section)
        if not isinstance(table, dict) or not all(
            isinstance(v, int | float) and v >= 0 for v in table.values()
        ):
            raise ConfigError(f"{file}: [{section}] {key} must hold non-negative numbers")
    return config
