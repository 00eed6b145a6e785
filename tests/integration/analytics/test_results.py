"""Statistics, the results file and downloads, over HTTP on real uvicorn."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import duckdb
import pytest

from libs.bus import EventBus
from libs.events import (
    CallAnswered,
    CallCompleted,
    CallFailed,
    CallPlaced,
    CallRequested,
    CallsWithheld,
    CampaignStarted,
    LeadImported,
    LeadOptedOut,
    LeadProfile,
    OutcomeRecorded,
    TimeWindow,
    TranscriptFinalized,
    Turn,
)
from services.analytics.domain import RESULT_COLUMNS
from tests.integration.analytics.histories import booking
from tests.integration.analytics.support import publish, serving, settings_for

DAY_ONE = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DAY_TWO = DAY_ONE + timedelta(days=1)
CAMPAIGN = UUID("00000000-0000-4000-8000-00000000c001")
ROSA, BOB, CARA, DAN = (UUID(f"00000000-0000-4000-8000-00000000000{n}") for n in range(1, 5))


def uid(n: int) -> UUID:
    return UUID(int=n, version=4)


def profile(name: str, phone: str, business_type: str, size: str) -> LeadProfile:
    return LeadProfile(
        phone_number=phone,
        business_name=name,
        contact_name=f"{name} owner",
        business_type=business_type,
        company_size=size,  # type: ignore[arg-type]
        best_call_time="2pm-4pm",
    )


PROFILES = {
    ROSA: profile("Rosa's Trattoria", "+12025550101", "Restaurant", "small"),
    BOB: profile("Bob's Diner", "+12025550102", "Restaurant", "small"),
    CARA: profile('=HYPERLINK("http://evil")', "+12025550103", "Retail", "medium"),
    DAN: profile("Dan's Dental", "+12025550104", "Healthcare", "large"),
}


class Script:
    def __init__(self) -> None:
        self.events: list = []
        self.count = 0

    def add(self, kind, at: datetime, **fields) -> None:
        self.count += 1
        self.events.append(kind(event_id=uid(1000 + self.count), occurred_at=at, **fields))

    def call(self, n: int, lead_id: UUID, at: datetime, attempt: int = 1) -> dict:
        ids = {"call_id": uid(n), "lead_id": lead_id, "campaign_id": CAMPAIGN}
        self.add(CallRequested, at, **ids, attempt=attempt, lead=PROFILES[lead_id])
        self.add(
            CallPlaced,
            at + timedelta(seconds=1),
            **ids,
            provider="simulated",
            provider_call_id=f"CA{n:032d}",
        )
        return ids

    def conversation(
        self, ids: dict, at: datetime, seconds: float, latencies, interest: str, meeting: bool
    ) -> None:
        self.add(CallAnswered, at, **ids, answered_by="human")
        turns = tuple(
            Turn(
                role="agent",
                text="...",
                started_at=at,
                ended_at=at,
                response_latency_seconds=latency,
            )
            for latency in latencies
        )
        self.add(
            TranscriptFinalized,
            at,
            **ids,
            turns=turns,
            duration_seconds=seconds,
            ended_by="goodbye",
        )
        meeting_id = None
        if meeting:  # booked on the call: two days on, 10:00 AM where the lead is
            self.count += 1
            meeting_id = uid(2000 + self.count)
            self.events.append(
                booking(
                    ids,
                    PROFILES[ids["lead_id"]],
                    event_id=uid(1000 + self.count),
                    at=at,
                    meeting_id=meeting_id,
                    starts_at=at.replace(hour=15, minute=0) + timedelta(days=2),
                )
            )
        self.add(
            OutcomeRecorded,
            at,
            **ids,
            conversation_summary=f"{interest} interest",
            interest_level=interest,
            scheduled_meeting=meeting,
            next_steps="=cmd|' /C calc'!A0" if meeting else "",
            meeting_id=meeting_id,
        )
        self.add(CallCompleted, at, **ids, duration_seconds=seconds)


def fixed_history() -> list:
    """Four leads; three in one campaign: a meeting, a retry after busy, a voicemail.
    Dan was never called: his number opted out through the do-not-call list."""
    script = Script()
    for lead_id, lead in PROFILES.items():
        script.add(LeadImported, DAY_ONE - timedelta(hours=1), lead_id=lead_id, lead=lead)
    script.add(
        CampaignStarted,
        DAY_ONE,
        campaign_id=CAMPAIGN,
        name="Spring",
        lead_ids=(ROSA, BOB, CARA),
        max_concurrent_calls=2,
        calling_hours=TimeWindow(start=time(9), end=time(17)),
    )
    script.add(
        LeadOptedOut, DAY_ONE, lead_id=DAN, phone_number="+12025550104", source="do-not-call-list"
    )
    rosa = script.call(1, ROSA, DAY_ONE)
    script.conversation(rosa, DAY_ONE + timedelta(minutes=1), 100.0, (0.5, 1.0), "high", True)
    bob = script.call(2, BOB, DAY_ONE)
    script.add(CallFailed, DAY_ONE + timedelta(seconds=20), **bob, reason="busy")
    bob = script.call(3, BOB, DAY_TWO, attempt=2)
    script.conversation(bob, DAY_TWO + timedelta(minutes=1), 50.0, (2.0,), "low", False)
    cara = script.call(4, CARA, DAY_ONE)
    script.add(CallAnswered, DAY_ONE + timedelta(seconds=9), **cara, answered_by="machine")
    script.add(CallCompleted, DAY_ONE + timedelta(seconds=29), **cara, duration_seconds=20.0)
    return script.events


@pytest.fixture
async def service(bus: EventBus, tmp_path):
    settings = settings_for(tmp_path)
    last = await publish(bus, fixed_history())
    async with serving(bus, settings) as (client, projector):
        await projector.wait_for(last)
        yield client, projector, settings


def totals(**overrides):
    base = {
        "leads": 4,
        "dialled": 3,
        "calls": 4,
        "answered": 2,
        "answer_rate": 0.6667,
        "meetings_booked": 1,
        "meeting_rate": 0.5,
        "opt_outs": 1,
        "voicemails": 1,
        "failures_by_reason": {"busy": 1},
        "not_called_by_rule": {},
        "interest_levels": {"high": 1, "medium": 0, "low": 1},
        "leads_by_status": {
            "pending": 0,
            "excluded": 1,
            "in_progress": 0,
            "called": 3,
            "opted_out": 0,
        },
    }
    return base | overrides


async def test_statistics_match_the_hand_computed_figures(service):
    client, _, _ = service
    response = await client.get("/results/statistics")
    assert response.status_code == 200
    body = response.json()
    assert body["totals"] == totals()
    assert body["by_business_type"] == {
        "Healthcare": totals(
            leads=1,
            dialled=0,
            calls=0,
            answered=0,
            answer_rate=0.0,
            meetings_booked=0,
            meeting_rate=0.0,
            voicemails=0,
            failures_by_reason={},
            interest_levels={"high": 0, "medium": 0, "low": 0},
            leads_by_status={
                "pending": 0,
                "excluded": 1,
                "in_progress": 0,
                "called": 0,
                "opted_out": 0,
            },
        ),
        "Restaurant": totals(
            leads=2,
            dialled=2,
            calls=3,
            answered=2,
            answer_rate=1.0,
            opt_outs=0,
            voicemails=0,
            leads_by_status={
                "pending": 0,
                "excluded": 0,
                "in_progress": 0,
                "called": 2,
                "opted_out": 0,
            },
        ),
        "Retail": totals(
            leads=1,
            dialled=1,
            calls=1,
            answered=0,
            answer_rate=0.0,
            meetings_booked=0,
            meeting_rate=0.0,
            opt_outs=0,
            failures_by_reason={},
            interest_levels={"high": 0, "medium": 0, "low": 0},
            leads_by_status={
                "pending": 0,
                "excluded": 0,
                "in_progress": 0,
                "called": 1,
                "opted_out": 0,
            },
        ),
    }
    assert set(body["by_company_size"]) == {"small", "medium", "large"}
    assert body["by_company_size"]["small"] == body["by_business_type"]["Restaurant"]
    [spring] = body["by_campaign"]
    assert spring == totals(
        campaign_id=str(CAMPAIGN),
        name="Spring",
        leads=3,
        opt_outs=0,
        leads_by_status={
            "pending": 0,
            "excluded": 0,
            "in_progress": 0,
            "called": 3,
            "opted_out": 0,
        },
    )
    # durations 100, 50, 20; latencies 0.5, 1.0, 2.0 (quantiles interpolate)
    assert body["call_duration_seconds"] == {"average": 56.667, "p50": 50.0, "p95": 95.0}
    assert body["response_latency_seconds"] == {"average": 1.167, "p50": 1.0, "p95": 1.9}


async def test_statistics_filter_by_campaign_name_and_period(service):
    client, _, _ = service
    by_name = await client.get("/results/statistics", params={"campaign": "Spring"})
    assert by_name.json()["totals"]["leads"] == 3  # the campaign's own leads
    assert by_name.json()["campaign"] == str(CAMPAIGN)
    day_one = await client.get(
        "/results/statistics", params={"from": "2026-03-02", "to": "2026-03-02"}
    )
    figures = day_one.json()["totals"]
    # Bob's second attempt (day two) is outside: his only call that day was busy.
    assert (figures["dialled"], figures["calls"], figures["answered"]) == (3, 3, 1)
    assert figures["failures_by_reason"] == {"busy": 1}


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"campaign": "Winter"}, "campaign: no campaign has the id or name 'Winter'"),
        ({"from": "2026-13-01"}, "from: '2026-13-01' is not an ISO date (2026-03-31) or date-time"),
        (
            {"from": "2026-03-05", "to": "2026-03-01"},
            "to: '2026-03-01' is not after from='2026-03-05'",
        ),
    ],
)
async def test_bad_filters_are_problem_details_naming_the_parameter(service, params, detail):
    client, _, _ = service
    for path in ("/results/statistics", "/results/download"):
        response = await client.get(path, params=params)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {"status": 400, "title": "Bad Request", "detail": detail}


async def test_an_unknown_download_format_is_refused_by_name(service):
    client, _, _ = service
    response = await client.get("/results/download", params={"format": "xlsx"})
    assert response.status_code == 400
    assert response.json()["detail"] == "format: 'xlsx' is not one of csv, parquet"


async def test_calls_not_made_are_counted_by_rule_and_are_not_attempts(bus, tmp_path):
    """Rosa and Bob were withheld outside their window before their calls; a call to Cara
    was refused at the dial by the frequency cap. None of it is a call or an attempt."""
    script = Script()
    script.count = 500
    script.add(
        CallsWithheld,
        DAY_ONE - timedelta(hours=6),
        campaign_id=CAMPAIGN,
        rule="calling_window",
        lead_ids=(ROSA, BOB),
        detail="05:00 EST; 47 U.S.C. 227",
        retry_at=DAY_ONE,
    )
    refused = script.call(9, CARA, DAY_TWO, attempt=2)
    script.add(
        CallFailed,
        DAY_TWO + timedelta(seconds=2),
        **refused,
        reason="canceled",
        rule="frequency_cap",
        detail="3 calls to +12025550103 in 24 h",
    )
    last = await publish(bus, [*fixed_history(), *script.events])
    async with serving(bus, settings_for(tmp_path)) as (client, projector):
        await projector.wait_for(last)
        body = (await client.get("/results/statistics")).json()
        day_two = (await client.get("/results/statistics", params={"from": "2026-03-03"})).json()
        rows = {
            row["contact_name"]: row
            for row in read_csv((await client.get("/results/download")).text)
        }
    assert body["totals"] == totals(not_called_by_rule={"calling_window": 2, "frequency_cap": 1})
    assert body["by_business_type"]["Restaurant"]["not_called_by_rule"] == {"calling_window": 2}
    assert body["by_business_type"]["Retail"]["not_called_by_rule"] == {"frequency_cap": 1}
    assert body["by_campaign"][0]["not_called_by_rule"] == body["totals"]["not_called_by_rule"]
    assert day_two["totals"]["not_called_by_rule"] == {"frequency_cap": 1}
    cara = rows['\'=HYPERLINK("http://evil") owner']
    assert (cara["attempts"], cara["call_result"]) == ("1", "voicemail")  # the refusal is no call


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_results_file_has_the_columns_and_neutralises_formulas(service, log_watch):
    client, _, settings = service
    await log_watch.wait_for(lambda r: "Results file" in r["message"] and "4 leads" in r["message"])
    text = settings.results_csv_file.read_bytes().decode()
    assert text.splitlines()[0] == ",".join(RESULT_COLUMNS)
    rows = {row["contact_name"]: row for row in read_csv(text)}
    evil = rows['\'=HYPERLINK("http://evil") owner']  # every text cell is neutralised
    assert (evil["business_name"], evil["call_result"]) == (
        '\'=HYPERLINK("http://evil")',
        "voicemail",
    )
    assert rows["Rosa's Trattoria owner"] == {
        "business_name": "Rosa's Trattoria",
        "contact_number": "+12025550101",  # exactly E.164: bare, as the original gave it
        "contact_name": "Rosa's Trattoria owner",
        "business_type": "Restaurant",
        "company_size": "small",
        "current_challenges": "",
        "best_call_time": "2pm-4pm",
        "status": "called",
        "call_status": "answered",
        "call_date": "2026-03-02T15:00:00Z",
        "conversation_summary": "high interest",
        "interest_level": "high",
        "scheduled_meeting": "true",
        "next_steps": "'=cmd|' /C calc'!A0",
        "attempts": "1",
        "call_result": "answered",
        "status_reason": "",
        "business_category": "Restaurant",
        "size_category": "small",
        "callback_at": "",
        "recording_url": "",
        "call_id": str(uid(1)),
        "meeting_time": "2026-03-04T10:00:00-05:00",
        "meeting_rep": "Alex Morgan",
    }
    assert rows["Bob's Diner owner"]["attempts"] == "2"  # its latest attempt, and how many
    assert rows["Bob's Diner owner"]["call_date"] == "2026-03-03T15:00:00Z"
    dan = rows["Dan's Dental owner"]
    assert (dan["status"], dan["call_status"], dan["status_reason"]) == (
        "excluded",
        "",
        "on the do-not-call list",
    )
    download = await client.get("/results/download")
    assert download.headers["content-disposition"] == 'attachment; filename="results.csv"'
    assert download.text == text  # the same rows, streamed


async def test_downloads_follow_the_filters_and_come_as_parquet(service, tmp_path):
    client, _, _ = service
    day_two = await client.get("/results/download", params={"from": "2026-03-03"})
    called = [row for row in read_csv(day_two.text) if row["attempts"] != "0"]
    assert [row["contact_name"] for row in called] == ["Bob's Diner owner"]
    parquet = await client.get(
        "/results/download", params={"format": "parquet", "campaign": str(CAMPAIGN)}
    )
    assert parquet.status_code == 200
    path = tmp_path / "results.parquet"
    path.write_bytes(parquet.content)
    with duckdb.connect() as connection:
        columns = [c[0] for c in connection.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()]
        names = connection.execute(f"SELECT contact_name FROM '{path}' ORDER BY ALL").fetchall()
    assert tuple(columns) == RESULT_COLUMNS
    assert len(names) == 3  # Dan is not in the campaign


async def test_the_routes_are_documented_with_their_filters(service):
    client, _, _ = service
    schema = (await client.get("/schema/openapi.json")).json()
    download = schema["paths"]["/results/download"]["get"]
    assert [p["name"] for p in download["parameters"]] == ["campaign", "from", "to", "format"]
    statistics = schema["paths"]["/results/statistics"]["get"]
    assert statistics["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Statistics"
    }
