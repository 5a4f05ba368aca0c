"""Plain data types shared by the intent engine and the rest of Linli (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Route = Literal["building_head", "grid_worker"]


@dataclass(frozen=True, slots=True)
class Classification:
    intent: str  # one of the issue ids or "none"
    confidence: float  # 0..1
    building: str | None
    unit: str | None
    room: str | None
    urgent: bool
    why: str  # short human-readable explanation
    unsure: bool = False  # issue-like but below the confidence threshold: not ticketed, goes to review
    #: the other problems the message names, (intent, confidence), each read from a clause of its own
    also: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class IntentSpec:
    id: str
    name: str
    route: Route | None  # None only for "none"
    ack: timedelta | None  # None only for "none"
    resolve: timedelta | None  # None only for "none"
    #: what to do at once when the report is urgent ({fire}, {medical}, {police}, {gas}: the community's numbers)
    advice: str | None = None
    #: "on_duty": during quiet hours the report goes at once to the community's on_duty people
    night: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    building: str | None
    unit: str | None
    room: str | None
