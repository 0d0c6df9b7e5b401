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

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.boundaries) + 1:
            raise ConfigError(f"{len(self.labels)} labels need {len(self.labels) - 1} boundaries")
        if list(self.boundaries) != sorted(self.boundaries):
            raise ConfigError(f"boundaries must increase: {self.boundaries}")
        if self.hysteresis < 0:
            raise ConfigError("hysteresis must not be negative")


@dataclass(frozen=True)
class SignalConfig:
    raw: dict[str, Any]
    digest: str

    def section(self, name: str) -> dict[str, Any]:
        try:
            value = self.raw[name]
        except KeyError:
            raise ConfigError(f"configuration has no [{name}] section") from None
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        return value

    def value(self, section: str, key: str) -> Any:
        try:
            return self.section(section)[key]
        except KeyError:
            raise ConfigError(f"configuration [{section}] has no {key!r}") from None

    def regime(self, name: str) -> RegimeSpec:
        sec = self.section(name)
        return RegimeSpec(
            tuple(sec["labels"]), tuple(float(b) for b in sec["boundaries"]), float(sec["hysteresis"])
        )

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
    config = SignalConfig(raw, hashlib.sha256(data).hexdigest()[:12])
    for name in ("funding", "oi", "volatility"):
        config.regime(name)
    return config
