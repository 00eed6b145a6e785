"""A real Radicale per test process, and fresh calendars for a two-rep team in each test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import uuid4

import pytest

from services.conversation.calendar.team import RepEntry, Team, TeamFile, team_from
from tests.radicale_server import RadicaleServer, radicale_server


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with radicale_server(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@dataclass(frozen=True)
class TeamCalendars:
    """A team whose first rep books into the shared calendar (CALDAV_URL), the second
    into a calendar of her own (caldav_url in the team file)."""

    server: RadicaleServer
    team: Team
    shared_url: str  # CALDAV_URL
    own_url: str  # the second rep's caldav_url

    def url_of(self, rep_id: str) -> str:
        return self.own_url if rep_id == "sam-rivera" else self.shared_url


@pytest.fixture
def team_calendars(radicale: RadicaleServer) -> TeamCalendars:
    # Calendars of this test alone: nothing another test put there shows.
    suffix = uuid4().hex[:8]
    shared_url = radicale.make_calendar(f"team-{suffix}")
    own_url = radicale.make_calendar(f"sam-{suffix}")
    team = team_from(
        TeamFile(
            reps=[
                RepEntry(
                    id="jordan-lee",
                    name="Jordan Lee",
                    email="jordan.lee@example.com",
                    time_zone="America/New_York",
                ),
                RepEntry(
                    id="sam-rivera",
                    name="Sam Rivera",
                    email="sam.rivera@example.com",
                    time_zone="America/Los_Angeles",
                    caldav_url=own_url,
                ),
            ]
        )
    )
    return TeamCalendars(radicale, team, shared_url, own_url)
