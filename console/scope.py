"""Who sees which tickets: admins their community, a grid worker their grid, a building head their tickets.

One rule, used by every page, the CSV export and the JSON API: :func:`ticket_clause` for queries and
:func:`can_see` for one ticket. Phone numbers are shown to admins and grid workers only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, false, or_, true

from storage.community import Community
from storage.models import Ticket


@dataclass(frozen=True, slots=True)
class Viewer:
    community: Community
    person: str

    @property
    def role(self) -> str:
        if self.community.is_admin(self.person):
            return "admin"
        return self.community.role_of(self.person)

    @property
    def name(self) -> str:
        return self.community.person_name(self.person)

    @property
    def sees_phones(self) -> bool:
        return self.role in ("admin", "grid_worker")

    def grids(self) -> list[str]:
        return [gid for gid, g in self.community.grids.items() if self.person in g.workers]

    def buildings(self) -> list[str]:
        return [bid for bid, b in self.community.buildings.items() if b.head == self.person]


def grid_of_ticket(community: Community, building: str | None, area: str | None) -> str:
    return community.area_grid(area) or community.grid_of(building)


def ticket_clause(viewer: Viewer):
    """The SQL condition for the tickets ``viewer`` may see."""
    c = viewer.community
    mine = and_(Ticket.community == c.id)
    role = viewer.role
    if role == "admin":
        return mine
    if role == "grid_worker":
        parts = [Ticket.assignee == viewer.person]
        known_areas = list(c.areas)
        # an area of the community file decides the grid; otherwise the building does
        no_area = or_(Ticket.area.is_(None), Ticket.area.not_in(known_areas)) if known_areas else true()
        for gid in viewer.grids():
            buildings = [bid for bid, b in c.buildings.items() if b.grid == gid]
            areas = [name for name, a in c.areas.items() if a.grid == gid]
            if buildings:
                parts.append(and_(Ticket.building.in_(buildings), no_area))
            if areas:
                parts.append(Ticket.area.in_(areas))
            if gid == c.default_grid:  # unknown buildings and places without a grid of their own
                parts.append(and_(or_(Ticket.building.is_(None), Ticket.building.not_in(list(c.buildings))),
                                  no_area))
        return and_(mine, or_(*parts))
    if role == "building_head":
        parts = [Ticket.assignee == viewer.person]
        if viewer.buildings():
            parts.append(Ticket.building.in_(viewer.buildings()))
        return and_(mine, or_(*parts))
    return and_(mine, false())


def can_see(viewer: Viewer, ticket: Ticket) -> bool:
    c = viewer.community
    if ticket.community != c.id:
        return False
    role = viewer.role
    if role == "admin" or ticket.assignee == viewer.person:
        return True
    if role == "grid_worker":
        return grid_of_ticket(c, ticket.building, ticket.area) in viewer.grids()
    if role == "building_head":
        return ticket.building in viewer.buildings()
    return False
