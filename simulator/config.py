"""Options of one simulation run, and the seeds derived from them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta

# Orders, tracking events and nginx lines per day at --scale 1 (DESIGN.md, "Scale").
ORDERS_PER_DAY_AT_SCALE_1 = 20_000
EVENTS_PER_DAY_AT_SCALE_1 = 1_000_000
NGINX_LINES_PER_DAY_AT_SCALE_1 = 1_000_000

# A late event is ingested if it arrives within this many hours of its event time.
LATE_WINDOW_HOURS = 72


@dataclass(frozen=True)
class FaultRates:
    """Fraction of all lines of a stream that carry each fault.

    Rates are of the lines written, so a test can measure them from the files alone.
    """

    duplicate: float = 0.02  # SDK retry: the same event_id sent again
    late: float = 0.01  # offline phone: arrives hours or days after the event
    clock_skew: float = 0.03  # device clock wrong by minutes to years (correctable)
    malformed: float = 0.002  # truncated or corrupted JSON line
    unknown_event: float = 0.002  # event name not in the tracking plan
    schema_violation: float = 0.003  # known event that breaks its JSON Schema
    bot: float = 0.01  # crawler traffic
    log_malformed: float = 0.001  # truncated nginx / app log line

    def validate(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not 0.0 <= value < 0.5:
                raise ValueError(f"fault rate {name}={value} must be in [0, 0.5)")
        additive = self.duplicate + self.unknown_event + self.bot
        if additive >= 0.5:
            raise ValueError("duplicate + unknown_event + bot rates must stay below 0.5")


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that determines the bytes a simulation writes."""

    start: date
    days: int
    scale: float = 0.1
    seed: int = 42
    split_date: date | None = None
    faults: FaultRates = field(default_factory=FaultRates)

    def validate(self) -> None:
        if self.days < 1:
            raise ValueError("--days must be at least 1")
        if not 0.001 <= self.scale <= 20:
            raise ValueError("--scale must be between 0.001 and 20")
        if self.split_date is not None and self.split_date <= self.start:
            raise ValueError("--split-date must be after --start (the monolith needs a history)")
        self.faults.validate()

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def is_split(self, day: date) -> bool:
        return self.split_date is not None and day >= self.split_date

    def to_json(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "scale": self.scale,
            "seed": self.seed,
            "split_date": self.split_date.isoformat() if self.split_date else None,
            "faults": dataclasses.asdict(self.faults),
        }

    @classmethod
    def from_json(cls, data: dict) -> SimulationConfig:
        return cls(
            start=date.fromisoformat(data["start"]),
            days=int(data["days"]),
            scale=float(data["scale"]),
            seed=int(data["seed"]),
            split_date=date.fromisoformat(data["split_date"]) if data.get("split_date") else None,
            faults=FaultRates(**data.get("faults", {})),
        )

    def fingerprint(self) -> str:
        """What must match for --append to continue a simulation (everything but days)."""
        data = self.to_json()
        data.pop("days")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 64-bit seed for one component and day, independent of Python's hash salt."""
    text = ":".join([str(seed), *(str(p) for p in parts)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
