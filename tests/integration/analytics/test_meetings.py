"""Meetings from their bookings: the results file, the statistics and the Calls API say a
meeting is set only while the booking the call's outcome links still holds."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import pytest
from rich.console import Console

from libs.bus import EventBus
from libs.events import (
    AnyEvent,
    CallAnswered,
    CallCompleted,
    CallPlaced,
    CallRequested,
    CampaignStarted,
    LeadImported,
    LeadProfile,
    MeetingBooked,
    MeetingCanceled,
    OutcomeRecorded,
    TimeWindow,
    TranscriptFinalized,
    Turn,
    encode_event,
)
from services.analytics.rebuild import rebuild
from services.demo import report_meetings
from tests.integration.analytics.histories import booking
from tests.integration.analytics.support import (
    assert_original_results,
    projecting,
    publish,
    serving,
    settings_for,
    table_contents,
)

DAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday; 10:00 AM in New York
CAMPAIGN = UUID("00000000-0000-4000-8000-0000000e7001")
QUIET = UUID("00000000-0000-4000-8000-0000000e7002")
SAM = {"rep_id": "sam", "rep_name": "Sam Okafor", "rep_email": "sam@example.com"}

# lead: business type, company size, the lead's zone
LEADS = {
    "booked": ("Restaurant", "small", "America/New_York"),
    "canceled": ("Restaurant", "small", "America/New_York"),
    "moved": ("Restaurant", "small", "America/Los_Angeles"),
    "claimed": ("Retail", "small", "America/Chicago"),
    "lost": ("Retail", "medium", "America/Chicago"),
    "failed": ("Healthcare", "large", "Europe/London"),
    "followed-up": ("Healthcare", "large", "America/Denver"),
}


class Story:
    """Leads of one campaign, each with its meeting's fate; ids and times are fixed."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self.count = 0
        self.leads: dict[str, UUID] = {}
        self.profiles: dict[str, LeadProfile] = {}
        self.calls: dict[str, UUID] = {}  # each lead's latest call
        self.meetings: dict[str, UUID] = {}

    def uuid(self) -> UUID:
        self.count += 1
        return UUID(int=0xE7_0000 + self.count, version=4)

    def add(self, kind: type, at: datetime, **fields: object) -> None:
        self.events.append(kind(event_id=self.uuid(), occurred_at=at, **fields))

    def lead(self, name: str, business_type: str, size: str, zone: str) -> None:
        number = len(self.leads) + 1
        self.leads[name] = self.uuid()
        self.profiles[name] = LeadProfile(
            phone_number=f"+1202555{number:04d}",
            business_name=f"{name.title()} Co",
            contact_name=f"{name} owner",
            business_type=business_type,
            company_size=size,  # type: ignore[arg-type]
            time_zones=(zone,),
        )
        self.add(
            LeadImported,
            DAY - timedelta(hours=1),
            lead_id=self.leads[name],
            lead=self.profiles[name],
        )

    def campaign(self, campaign_id: UUID, name: str, leads: tuple[str, ...]) -> None:
        self.add(
            CampaignStarted,
            DAY,
            campaign_id=campaign_id,
            name=name,
            lead_ids=tuple(self.leads[lead] for lead in leads),
            max_concurrent_calls=2,
            calling_hours=TimeWindow(start=time(9), end=time(17)),
        )

    def call(
        self,
        name: str,
        at: datetime,
        *,
        book: datetime | None = None,
        claimed: bool | None = None,
        meeting_id: UUID | None = None,
        attempt: int = 1,
        campaign_id: UUID = CAMPAIGN,
        rep: dict[str, str] | None = None,
    ) -> dict[str, UUID]:
        """A call answered at `at`; with `book`, it books a meeting starting then."""
        ids = {"call_id": self.uuid(), "lead_id": self.leads[name], "campaign_id": campaign_id}
        self.calls[name] = ids["call_id"]
        self.add(CallRequested, at, **ids, attempt=attempt, lead=self.profiles[name])
        self.add(CallPlaced, at, **ids, provider="simulated", provider_call_id="CA" + "1" * 32)
        self.add(CallAnswered, at + timedelta(seconds=5), **ids, answered_by="human")
        ended = at + timedelta(minutes=2)
        turn = Turn(role="agent", text="Hello", started_at=at, ended_at=at)
        self.add(
            TranscriptFinalized,
            ended,
            **ids,
            turns=(turn,),
            duration_seconds=115.0,
            ended_by="goodbye",
        )
        if book is not None:
            meeting_id = self.uuid()
            self.meetings[name] = meeting_id
            self.events.append(
                booking(
                    ids,
                    self.profiles[name],
                    event_id=self.uuid(),
                    at=ended,
                    meeting_id=meeting_id,
                    starts_at=book,
                    zone=self.profiles[name].time_zones[0],
                    **({"rep": rep} if rep else {}),
                )
            )
        self.add(
            OutcomeRecorded,
            ended,
            **ids,
            conversation_summary="Talked",
            interest_level="high" if claimed or book else "medium",
            scheduled_meeting=bool(book or claimed),
            meeting_time=book,
            meeting_id=meeting_id,
        )
        self.add(CallCompleted, ended, **ids, duration_seconds=115.0)
        return ids

    def booking_of(self, name: str) -> MeetingBooked:
        return next(
            e
            for e in reversed(self.events)
            if isinstance(e, MeetingBooked) and e.meeting_id == self.meetings[name]
        )

    def cancel(self, name: str, at: datetime, reason: str = "canceled") -> None:
        self.free(self.booking_of(name), at, reason)

    def free(self, booked: MeetingBooked, at: datetime, reason: str) -> None:
        self.add(
            MeetingCanceled,
            at,
            slot_id=booked.slot_id,
            meeting_id=booked.meeting_id,
            reason=reason,
            detail=f"{reason} by the test",
        )

    def move(self, name: str, at: datetime, starts_at: datetime) -> None:
        """The meeting to another slot: booked there first, then freed where it was."""
        booked = self.booking_of(name)
        ids = {"call_id": booked.call_id, "lead_id": booked.lead_id, "campaign_id": CAMPAIGN}
        self.events.append(
            booking(
                ids,  # type: ignore[arg-type]
                self.profiles[name],
                event_id=self.uuid(),
                at=at,
                meeting_id=booked.meeting_id,
                starts_at=starts_at,
                zone=booked.lead_zone,
                revision=booked.revision + 1,
            )
        )
        self.free(booked, at, "rescheduled")


def story() -> Story:
    told = Story()
    for name, lead in LEADS.items():
        told.lead(name, *lead)
    told.campaign(CAMPAIGN, "Meetings", tuple(LEADS))
    in_two_days = DAY + timedelta(days=2)  # Wed 4 Mar, 15:00 UTC
    told.call("booked", DAY, book=in_two_days)  # 10:00 AM EST
    told.call("canceled", DAY + timedelta(minutes=5), book=in_two_days + timedelta(hours=1))
    told.cancel("canceled", DAY + timedelta(hours=3))
    # Booked for Thursday 5 March (PST), then moved past the change to summer time (PDT).
    told.call("moved", DAY + timedelta(minutes=10), book=DAY + timedelta(days=3, hours=3))
    told.move("moved", DAY + timedelta(days=1), DAY + timedelta(days=8, hours=2))
    told.call("claimed", DAY + timedelta(minutes=15), claimed=True)  # the model's word alone
    told.call("lost", DAY + timedelta(minutes=20), claimed=True, meeting_id=told.uuid())
    told.call("failed", DAY + timedelta(minutes=25), book=in_two_days + timedelta(hours=2))
    told.cancel("failed", DAY + timedelta(minutes=26), "calendar-failed")
    # Booked on the first call; a later call (a callback) books nothing: it still stands.
    followed_up_at = in_two_days + timedelta(minutes=30)
    told.call("followed-up", DAY + timedelta(minutes=30), book=followed_up_at, rep=SAM)
    told.call("followed-up", DAY + timedelta(days=1), attempt=2)
    return told


def cancels_first(events: list[AnyEvent]) -> list[AnyEvent]:
    """The same facts, every cancel before every booking and later revisions first: as
    when they reach the projection by different ways."""
    meetings = [e for e in events if isinstance(e, MeetingBooked | MeetingCanceled)]
    others = [e for e in events if not isinstance(e, MeetingBooked | MeetingCanceled)]
    cancels = [e for e in meetings if isinstance(e, MeetingCanceled)]
    bookings = [e for e in meetings if isinstance(e, MeetingBooked)]
    return [*cancels, *others, *sorted(bookings, key=lambda b: -b.revision)]


def rows_by_lead(text: str) -> dict[str, dict[str, str]]:
    rows = csv.DictReader(io.StringIO(text))
    return {row["contact_name"].removesuffix(" owner"): row for row in rows}


@pytest.fixture(params=["as it happened", "cancels first"])
async def meetings(request, bus: EventBus, tmp_path):
    told = story()
    events = told.events if request.param == "as it happened" else cancels_first(told.events)
    settings = settings_for(tmp_path)
    last = await publish(bus, events)
    async with serving(bus, settings) as (client, projector):
        await projector.wait_for(last)
        yield client, told, bus, settings


def meeting_cells(row: dict[str, str]) -> tuple[str, str, str]:
    return row["scheduled_meeting"], row["meeting_time"], row["meeting_rep"]


async def test_the_results_say_a_meeting_is_set_only_while_its_booking_holds(meetings):
    client, _, _, _ = meetings
    text = (await client.get("/results/download")).text
    assert_original_results(text)
    rows = rows_by_lead(text)
    assert {lead: meeting_cells(row) for lead, row in rows.items()} == {
        # the meeting's start where the lead is, with that zone's offset
        "booked": ("true", "2026-03-04T10:00:00-05:00", "Alex Morgan"),
        "canceled": ("false", "", ""),
        # its new time, and its offset: summer time began on 8 March
        "moved": ("true", "2026-03-10T10:00:00-07:00", "Alex Morgan"),
        "claimed": ("false", "", ""),  # the model said so, but nothing was booked
        "lost": ("false", "", ""),  # it names a booking that never was
        "failed": ("false", "", ""),  # the calendar refused it
        "followed-up": ("true", "2026-03-04T08:30:00-07:00", "Sam Okafor"),
    }
    # The original columns keep their values: the latest call, its summary and status.
    followed_up = rows["followed-up"]
    assert (followed_up["attempts"], followed_up["call_date"]) == ("2", "2026-03-03T15:00:00Z")
    assert rows["booked"]["interest_level"] == "high"


async def test_meetings_booked_count_leads_with_a_standing_booking(meetings):
    client, _, _, _ = meetings
    body = (await client.get("/results/statistics")).json()

    def figures(totals: dict) -> tuple[int, int, float]:
        return totals["answered"], totals["meetings_booked"], totals["meeting_rate"]

    assert figures(body["totals"]) == (7, 3, 0.4286)
    assert {kind: figures(t) for kind, t in body["by_business_type"].items()} == {
        "Restaurant": (3, 2, 0.6667),  # booked and moved; not the canceled one
        "Retail": (2, 0, 0.0),  # the model's word, and a booking never made
        "Healthcare": (2, 1, 0.5),  # the followed-up lead; not the calendar's refusal
    }
    assert {size: figures(t) for size, t in body["by_company_size"].items()} == {
        "small": (4, 2, 0.5),
        "medium": (1, 0, 0.0),
        "large": (2, 1, 0.5),
    }
    [campaign] = body["by_campaign"]
    assert figures(campaign) == (7, 3, 0.4286)
    # Calls on the first day booked all three; the period filters by the call.
    day_one = (await client.get("/results/statistics", params={"to": "2026-03-02"})).json()
    assert figures(day_one["totals"]) == (7, 3, 0.4286)
    day_two = (await client.get("/results/statistics", params={"from": "2026-03-03"})).json()
    assert figures(day_two["totals"]) == (1, 0, 0.0)  # the callback booked nothing


async def test_the_calls_api_shows_each_call_s_booking_as_it_stands(meetings):
    client, told, _, _ = meetings

    async def meeting(name: str) -> dict:
        return (await client.get(f"/calls/{told.calls[name]}")).json()["meeting"]

    moved = await meeting("moved")
    assert moved == {
        "scheduled": True,
        "meeting_id": str(told.meetings["moved"]),
        "status": "booked",
        "time": "2026-03-10T10:00:00-07:00",
        "ends_at": "2026-03-10T10:30:00-07:00",
        "time_zone": "America/Los_Angeles",
        "rep": "Alex Morgan",
        "rep_email": "alex@example.com",
        "revision": 1,
        "booked_on_call": str(told.calls["moved"]),
        "claimed": True,
    }
    canceled = await meeting("canceled")
    assert (canceled["scheduled"], canceled["status"], canceled["time"]) == (
        False,
        "canceled",
        "2026-03-04T11:00:00-05:00",  # the booking as it was, marked canceled
    )
    assert (await meeting("failed"))["status"] == "failed"
    claimed = await meeting("claimed")
    assert claimed == {
        "scheduled": False,
        "meeting_id": None,
        "status": None,
        "time": None,
        "ends_at": None,
        "time_zone": None,
        "rep": None,
        "rep_email": None,
        "revision": None,
        "booked_on_call": None,
        "claimed": True,
    }
    lost = await meeting("lost")
    assert (lost["scheduled"], lost["status"], lost["time"]) == (False, None, None)
    assert lost["meeting_id"] is not None  # linked, but no booking of it is known
    page = (await client.get("/calls", params={"campaign": "Meetings", "limit": 500})).json()
    listed = {call["contact_name"].removesuffix(" owner"): call for call in page["calls"]}
    assert {
        name: (call["scheduled_meeting"], call["meeting_status"], call["meeting_time"])
        for name, call in listed.items()
        if name != "followed-up"
    } == {
        "booked": (True, "booked", "2026-03-04T10:00:00-05:00"),
        "canceled": (False, "canceled", "2026-03-04T11:00:00-05:00"),
        "moved": (True, "booked", "2026-03-10T10:00:00-07:00"),
        "claimed": (False, None, None),
        "lost": (False, None, None),
        "failed": (False, "failed", "2026-03-04T17:00:00Z"),  # London's winter: UTC
    }
    assert (listed["booked"]["meeting_zone"], listed["booked"]["meeting_rep"]) == (
        "America/New_York",
        "Alex Morgan",
    )


async def test_a_rebuild_and_duplicates_give_the_same_results(meetings, tmp_path):
    client, told, bus, _ = meetings
    for event in told.events:  # every fact again, past JetStream's duplicate window
        if isinstance(event, MeetingBooked | MeetingCanceled | OutcomeRecorded):
            await bus.js.publish(event.subject, encode_event(event))
    last = (await bus.js.stream_info(bus.stream)).state.last_seq
    before_csv = (await client.get("/results/download")).text
    target = tmp_path / "rebuilt" / "analytics.duckdb"
    target.parent.mkdir()
    report = await rebuild(bus, target, target.parent / "results.csv", lambda *_: None)
    assert report.last_sequence == last
    reference = settings_for(tmp_path / "reference", analytics_durable="reference")
    async with projecting(bus, reference) as (_, projector):
        await projector.wait_for(last)
    rebuilt, incremental = table_contents(target), table_contents(reference.duckdb_file)
    assert rebuilt == incremental
    assert len(rebuilt["meeting_bookings"]) == 6 and len(rebuilt["meeting_cancels"]) == 3
    assert (target.parent / "results.csv").read_bytes().decode() == before_csv
    after_csv = (await client.get("/results/download")).text
    assert after_csv == before_csv  # the duplicates changed nothing


async def test_the_demo_lists_the_standing_meetings_in_each_lead_s_zone(meetings):
    client, _, _, _ = meetings
    console = Console(record=True, width=160)
    await report_meetings(client, console, str(CAMPAIGN))
    said = console.export_text()
    assert "Meetings booked" in said
    rows = {
        business: line
        for line in said.splitlines()
        for business in ("Booked Co", "Moved Co", "Followed-Up Co")
        if business in line
    }
    assert list(rows) == ["Booked Co", "Followed-Up Co", "Moved Co"]  # soonest first
    assert "Wed 4 Mar 10:00 AM EST" in rows["Booked Co"]
    assert "Mon 2 Mar 10:00 AM EST" in rows["Booked Co"]  # the call, where the lead is
    assert "Tue 10 Mar 10:00 AM PDT" in rows["Moved Co"] and "Alex Morgan" in rows["Moved Co"]
    assert "Wed 4 Mar 8:30 AM MST" in rows["Followed-Up Co"]
    assert "Sam Okafor" in rows["Followed-Up Co"]
    assert "Mon 2 Mar 8:30 AM MST" in rows["Followed-Up Co"]  # the call that booked it
    assert "not later than the call" not in said


async def test_the_demo_shows_in_red_a_meeting_not_later_than_its_call(bus: EventBus, tmp_path):
    told = Story()
    told.lead("early", "Retail", "small", "America/New_York")
    told.lead("quiet", "Retail", "small", "America/New_York")
    told.campaign(CAMPAIGN, "Early", ("early",))
    told.campaign(QUIET, "Quiet", ("quiet",))
    told.call("early", DAY, book=DAY - timedelta(hours=1))  # an hour before the call
    told.call("quiet", DAY, campaign_id=QUIET)
    last = await publish(bus, told.events)
    async with serving(bus, settings_for(tmp_path)) as (client, projector):
        await projector.wait_for(last)
        early = Console(record=True, width=200, force_terminal=True, color_system="standard")
        await report_meetings(client, early, str(CAMPAIGN))
        quiet = Console(record=True, width=200)
        await report_meetings(client, quiet, str(QUIET))
    styled = early.export_text(clear=False, styles=True)
    said = early.export_text()
    assert (
        "Early Co: the meeting at Mon 2 Mar 9:00 AM EST is not later than the call that "
        "booked it at Mon 2 Mar 10:00 AM EST"
    ) in " ".join(said.split())
    assert "\x1b[31m" in styled  # in red, for a person to see
    assert (
        quiet.export_text().strip()
        == "No meetings booked: none of this campaign's calls holds a booking."
    )
