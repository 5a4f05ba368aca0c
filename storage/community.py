"""The community file: who lives and works where, validated with ``file:line`` errors.

A community file is YAML edited by admins. Linli refuses to start on a bad one and says which
line is wrong and why. ``${VAR}`` in any string value is read from the environment, so secrets
(WeChat keys) stay out of the file.
"""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.yamlfile import LineMap, YamlSyntaxError, load_yaml

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class CommunityError(ValueError):
    """A community file is invalid; ``errors`` holds one ``file:line: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Strict):
    name: str
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    phone: str | None = None
    telegram_id: int | None = None
    wechat_openid: str | None = None
    wecom_userid: str | None = None

    @field_validator("building", "unit", "room", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class Grid(_Strict):
    workers: list[str] = Field(min_length=1)
    name: str | None = None


class Building(_Strict):
    grid: str
    head: str | None = None


class Area(_Strict):
    """A public place (西门, 地下车库): reports naming it go to its grid's worker."""

    grid: str
    aliases: list[str] = Field(default_factory=list)


DEFAULT_EMERGENCY = {"fire": "119", "medical": "120", "police": "110", "gas": "119"}


class QuietHours(_Strict):
    start: time = time(22, 0)
    end: time = time(7, 30)


class TelegramConfig(_Strict):
    groups: list[int] = Field(default_factory=list)


class WeChatConfig(BaseModel):
    """Official Account settings; further keys are kept for the WeChat adapter (e.g. ``templates``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    app_id: str
    secret: str
    token: str
    encoding_aes_key: str | None = None
    templates: dict[str, str] = Field(default_factory=dict)


class WeComConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    corp_id: str
    agent_id: int
    secret: str
    token: str
    encoding_aes_key: str


class Community(_Strict):
    """One compound: its staff, buildings, grids and channel settings."""

    id: str = ""
    name: str
    timezone: str = "Asia/Shanghai"
    admins: list[str] = Field(min_length=1)
    grids: dict[str, Grid] = Field(min_length=1)
    default_grid: str
    buildings: dict[str, Building] = Field(default_factory=dict)
    people: dict[str, Person] = Field(default_factory=dict)
    quiet_hours: QuietHours = QuietHours()
    areas: dict[str, Area] = Field(default_factory=dict)
    #: 夜间值班: who takes ``night: on_duty`` reports during quiet hours
    on_duty: list[str] = Field(default_factory=list)
    #: numbers quoted in urgent advice ({fire}, {medical}, {police}, {gas}); defaults 119 / 120 / 110
    emergency: dict[str, str] = Field(default_factory=dict)
    telegram: TelegramConfig | None = None
    wechat: WeChatConfig | None = None
    wecom: WeComConfig | None = None

    @field_validator("emergency", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("buildings", "people", mode="before")
    @classmethod
    def _string_keys(cls, value: Any) -> Any:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def person_name(self, person_id: str, fallback: str | None = None) -> str:
        """A person's name from the community file, else ``fallback`` (the platform's display name), else
        "居民": people read names, never ids like ``tg:123``."""
        person = self.people.get(person_id)
        if person:
            return person.name
        return fallback or "居民"

    def emergency_numbers(self) -> dict[str, str]:
        return {**DEFAULT_EMERGENCY, **self.emergency}

    def area_grid(self, area: str | None) -> str | None:
        found = self.areas.get(area) if area else None
        return found.grid if found else None

    def grid_of(self, building: str | None) -> str:
        """The grid a building belongs to; unknown buildings belong to the default grid."""
        found = self.buildings.get(building) if building else None
        return found.grid if found else self.default_grid

    def grid_worker(self, grid: str) -> str:
        return self.grids[grid].workers[0]

    def building_head(self, building: str | None) -> str | None:
        found = self.buildings.get(building) if building else None
        return found.head if found else None

    def is_admin(self, person_id: str) -> bool:
        return person_id in self.admins

    def is_staff(self, person_id: str) -> bool:
        """Admins, grid workers and building heads."""
        return (
            person_id in self.admins
            or person_id in self.on_duty
            or any(person_id in g.workers for g in self.grids.values())
            or any(b.head == person_id for b in self.buildings.values())
        )

    def role_of(self, person_id: str) -> str:
        if any(b.head == person_id for b in self.buildings.values()):
            return "building_head"
        if any(person_id in g.workers for g in self.grids.values()):
            return "grid_worker"
        if person_id in self.admins:
            return "admin"
        return "resident"


def _expand_env(value: Any, path: tuple[Any, ...], errors: list[tuple[tuple[Any, ...], str]]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, (*path, k), errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*path, i), errors) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                errors.append((path, f"environment variable {name} is not set"))
                return ""
            return os.environ[name]

        return _ENV_REF.sub(sub, value)
    return value


def _cross_check(c: Community) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []
    staff_ids = set(c.admins)
    if c.default_grid not in c.grids:
        problems.append((("default_grid",), f"default_grid '{c.default_grid}' is not one of grids: {sorted(c.grids)}"))
    for gid, grid in c.grids.items():
        staff_ids.update(grid.workers)
        for i, worker in enumerate(grid.workers):
            if worker not in c.people:
                problems.append((("grids", gid, "workers", i), f"grid worker '{worker}' is not in people"))
    for bid, building in c.buildings.items():
        if building.grid not in c.grids:
            problems.append((("buildings", bid, "grid"), f"building {bid}: grid '{building.grid}' is not one of grids: {sorted(c.grids)}"))
        if building.head is not None and building.head not in c.people:
            problems.append((("buildings", bid, "head"), f"building {bid}: head '{building.head}' is not in people"))
    for name, area in c.areas.items():
        if area.grid not in c.grids:
            problems.append((("areas", name, "grid"), f"area {name}: grid '{area.grid}' is not one of grids: {sorted(c.grids)}"))
    for i, person in enumerate(c.on_duty):
        if person not in c.people:
            problems.append((("on_duty", i), f"on_duty '{person}' is not in people"))
    for i, admin in enumerate(c.admins):
        if admin not in c.people:
            problems.append((("admins", i), f"admin '{admin}' is not in people"))
    for pid, person in c.people.items():
        if person.building is not None and c.buildings and person.building not in c.buildings:
            problems.append((("people", pid, "building"), f"person {pid}: building '{person.building}' is not in buildings"))
    try:
        ZoneInfo(c.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append((("timezone",), f"unknown time zone '{c.timezone}' (e.g. Asia/Shanghai)"))
    if not _SLUG.match(c.id):
        problems.append((("id",), f"id '{c.id}' must be a short slug: lowercase letters, digits, - or _"))
    return problems


def load_community(path: Path | str) -> Community:
    """Read and validate one community file; raise :class:`CommunityError` listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise CommunityError([f"{path}: community file not found"])
    try:
        data, lines = load_yaml(path)
    except YamlSyntaxError as exc:
        raise CommunityError([str(exc)]) from exc
    if not isinstance(data, dict):
        raise CommunityError([f"{path}:1: a community file is a mapping with name, admins, grids, buildings, people"])
    env_errors: list[tuple[tuple[Any, ...], str]] = []
    data = _expand_env(data, (), env_errors)
    data.setdefault("id", path.stem.lower())
    errors = [_where(path, lines, p, m) for p, m in env_errors]
    try:
        community = Community.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            errors.append(_where(path, lines, loc, f"{'.'.join(map(str, loc)) or 'file'}: {err['msg']}"))
        raise CommunityError(errors) from exc
    errors += [_where(path, lines, p, m) for p, m in _cross_check(community)]
    if errors:
        raise CommunityError(errors)
    return community


def _where(path: Path, lines: LineMap, loc: tuple[Any, ...], message: str) -> str:
    return f"{path}:{lines.line(loc) or 1}: {message}"


class CommunityRegistry:
    """The communities this process serves, by id."""

    def __init__(self, communities: list[Community]) -> None:
        self._by_id: dict[str, Community] = {}
        for community in communities:
            if community.id in self._by_id:
                raise CommunityError([f"two community files use the id '{community.id}'"])
            self._by_id[community.id] = community

    @classmethod
    def load(cls, paths: list[Path | str]) -> CommunityRegistry:
        errors: list[str] = []
        loaded: list[Community] = []
        for path in paths:
            try:
                loaded.append(load_community(path))
            except CommunityError as exc:
                errors += exc.errors
        if errors:
            raise CommunityError(errors)
        return cls(loaded)

    def get(self, community_id: str) -> Community | None:
        return self._by_id.get(community_id)

    def __getitem__(self, community_id: str) -> Community:
        return self._by_id[community_id]

    def all(self) -> list[Community]:
        return list(self._by_id.values())
