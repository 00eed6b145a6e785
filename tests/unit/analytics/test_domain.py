"""The pure projection rules: folding events into rows, results cells, report filters."""

from __future__ import annotations

import ast
from datetime import datetime, time, timedelta
from pathlib import Path
from uuid import uuid4

import msgspec
import pytest

from libs.events import (
    CallAnswered,
    CallCompleted,
    CallFailed,
    CallPlaced,
    CallRecorded,
    CallRequested,
    CampaignFinished,
    CampaignLeadsAdded,
    CampaignPaused,
    CampaignResumed,
    CampaignStarted,
    LeadOptedOut,
    MeetingBooked,
    MeetingCanceled,
    OutcomeRecorded,
    TimeWindow,
)
from services.analytics.domain import (
    CALL_STATUS_OF_RESULT,
    RESULT_COLUMNS,
    call_status_of,
    continues,
    fold,
    known_call_results,
    local_moment,
    merge_campaign,
)
from services.analytics.filters import (
    InvalidFilterError,
    Period,
    parse_call_id,
    parse_call_status,
    parse_page,
    parse_period,
)
from services.analytics.results_contract import CALL_STATUSES, ORIGINAL_COLUMNS
from services.analytics.rows import CallRow, CampaignRow
from services.analytics.schema import CALLS, CAMPAIGNS, LEADS, TABLES
from tests.factories import (
    CALL_ID,
    CAMPAIGN_ID,
    LEAD_ID,
    MEETING_ID,
    NOW,
    SLOT_ID,
    lead_imported,
    one_of_each_event,
)

ROOT = Path(__file__).parents[3]
PURE = [
    ROOT / "services" / "analytics" / f"{name}.py"
    for name in ("domain", "rows", "filters", "results_contract")
]
CALL = {"call_id": CALL_ID, "lead_id": LEAD_ID, "campaign_id": CAMPAIGN_ID}


def the(kind: type) -> object:
    return next(event for event in one_of_each_event() if isinstance(event, kind))


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_call_facts_fill_one_row_per_call_whatever_their_order():
    placed = CallPlaced(
        event_id=CALL_ID, occurred_at=later(1), **CALL, provider="twilio", provider_call_id="CA1"
    )
    answered = CallAnswered(event_id=CALL_ID, occurred_at=later(5), **CALL, answered_by="human")
    completed = CallCompleted(
        event_id=CALL_ID, occurred_at=later(65), **CALL, duration_seconds=60.0
    )
    expected = CallRow(
        **CALL,
        provider="twilio",
        provider_call_id="CA1",
        placed_at=later(1),
        answered_at=later(5),
        answered_by="human",
        completed_at=later(65),
        duration_seconds=60.0,
    )
    assert fold([placed, answered, completed]).calls == {CALL_ID: expected}
    assert fold([completed, answered, placed]).calls == {CALL_ID: expected}


def test_a_missing_optional_value_does_not_erase_a_known_one():
    failed = CallFailed(
        event_id=CALL_ID, occurred_at=NOW, **CALL, reason="failed", provider_error_code=31005
    )
    again = CallFailed(event_id=CALL_ID, occurred_at=later(1), **CALL, reason="failed")
    assert fold([failed, again]).calls[CALL_ID].provider_error_code == 31005


def test_a_late_copy_of_a_campaign_start_does_not_undo_its_finish():
    started = CampaignStarted(
        event_id=CAMPAIGN_ID,
        occurred_at=NOW,
        campaign_id=CAMPAIGN_ID,
        name="Spring",
        lead_ids=(LEAD_ID,),
        max_concurrent_calls=2,
        calling_hours=the(CampaignStarted).calling_hours,
    )
    paused = CampaignPaused(
        event_id=CAMPAIGN_ID, occurred_at=later(1), campaign_id=CAMPAIGN_ID, reason="brake"
    )
    resumed = CampaignResumed(event_id=CAMPAIGN_ID, occurred_at=later(2), campaign_id=CAMPAIGN_ID)
    finished = CampaignFinished(event_id=CAMPAIGN_ID, occurred_at=later(3), campaign_id=CAMPAIGN_ID)
    [row] = fold([started, paused, resumed, finished, started]).campaigns.values()
    assert (row.status, row.status_at, row.pause_reason) == ("finished", later(3), "brake")
    assert (
        merge_campaign(
            row, CampaignRow(campaign_id=CAMPAIGN_ID, status="running", status_at=NOW)
        ).status
        == "finished"
    )


def test_a_reimport_replaces_the_lead_but_an_older_copy_does_not():
    first = lead_imported()
    newer = msgspec.structs.replace(first, occurred_at=later(60), status="called")
    assert fold([first, newer]).leads[LEAD_ID].imported_status == "called"
    assert fold([newer, first]).leads[LEAD_ID].imported_status == "called"


def test_the_first_opt_out_of_a_number_counts():
    opt_out = LeadOptedOut(
        event_id=LEAD_ID,
        occurred_at=NOW,
        lead_id=LEAD_ID,
        phone_number="+12025550143",
        source="call",
    )
    again = msgspec.structs.replace(opt_out, occurred_at=later(5), source="api")
    [row] = fold([opt_out, again]).opt_outs.values()
    assert (row.opted_out_at, row.source) == (NOW, "call")


def test_the_latest_outcome_of_a_call_wins():
    outcome = the(OutcomeRecorded)
    revised = msgspec.structs.replace(outcome, occurred_at=later(1), interest_level="low")
    assert fold([revised, outcome]).outcomes[CALL_ID].interest_level == "low"


def test_an_outcome_that_says_the_agent_was_lost_fails_its_answered_call():
    lost = msgspec.structs.replace(
        the(OutcomeRecorded), source="fallback", failure="agent-lost", occurred_at=later(60)
    )
    rows = fold([the(CallAnswered), the(CallCompleted), lost])
    call = rows.calls[CALL_ID]
    assert (call.failure_reason, call.failed_at) == ("agent-lost", later(60))
    assert call.answered_at is not None and call.completed_at is not None  # kept
    assert call_status_of("agent-lost") == "failed"
    assert fold([the(OutcomeRecorded)]).calls == {}  # an outcome alone fails nothing


def test_a_lead_known_only_from_its_call_request_is_kept_until_imported():
    request = the(CallRequested)
    batch = fold([request])
    assert (list(batch.profiles), batch.leads) == ([LEAD_ID], {})
    assert list(fold([request, lead_imported()]).profiles) == []


def test_every_event_kind_is_folded_somewhere():
    batch = fold(one_of_each_event())
    sizes = {
        name: len(getattr(batch, name))
        for name in (
            "leads",
            "campaigns",
            "campaign_leads",
            "calls",
            "transcripts",
            "outcomes",
            "opt_outs",
            "bookings",
            "cancels",
        )
    }
    assert sizes == dict.fromkeys(sizes, 1)


def test_every_part_of_a_big_selection_is_a_member_of_its_campaign():
    first, later = uuid4(), [uuid4() for _ in range(3)]
    batch = fold(
        [
            CampaignLeadsAdded(
                event_id=uuid4(),
                occurred_at=NOW,
                campaign_id=CAMPAIGN_ID,
                part=1,
                lead_ids=tuple(later),
            ),
            CampaignStarted(
                event_id=uuid4(),
                occurred_at=NOW,
                campaign_id=CAMPAIGN_ID,
                name="Big",
                lead_ids=(first,),
                lead_parts=1,
                max_concurrent_calls=5,
                calling_hours=TimeWindow(start=time(9), end=time(17)),
            ),
        ]
    )
    assert {lead for _, lead in batch.campaign_leads} == {first, *later}


def test_periods_accept_dates_and_date_times_and_name_the_bad_parameter():
    assert parse_period("2026-03-01", "2026-03-31") == Period(
        start=datetime(2026, 3, 1),
        end=datetime(2026, 4, 1),  # a bare end date: all of it
    )
    assert parse_period("2026-03-01T10:00:00+01:00", None) == Period(start=datetime(2026, 3, 1, 9))
    with pytest.raises(InvalidFilterError, match=r"^from: '2026-02-30' is not an ISO date"):
        parse_period("2026-02-30", None)
    with pytest.raises(InvalidFilterError, match=r"^to: 'soon' is not an ISO date"):
        parse_period(None, "soon")
    with pytest.raises(InvalidFilterError, match=r"^to: '2026-03-01' is not after"):
        parse_period("2026-03-02", "2026-03-01")


def test_a_batch_continues_only_without_a_hole():
    assert continues(10, [11, 12, 13])
    assert not continues(10, [12, 13])
    assert not continues(10, [11, 13])
    assert continues(0, [1])


def test_tables_follow_the_row_structs():
    assert [name for name, _, _ in LEADS.columns][:2] == ["lead_id", "phone_number"]
    assert "ON CONFLICT (call_id) DO UPDATE SET" in CALLS.upsert_sql()
    assert 'coalesce(excluded."answered_at", calls."answered_at")' in CALLS.upsert_sql()
    assert "CASE WHEN (campaigns.status_at IS NULL" in CAMPAIGNS.upsert_sql()
    assert LEADS.upsert_sql("ignore").endswith("DO NOTHING")
    assert {table.name for table in TABLES} == {
        "leads",
        "campaigns",
        "campaign_leads",
        "calls",
        "transcripts",
        "outcomes",
        "opt_outs",
        "withheld",
        "meeting_bookings",
        "meeting_cancels",
    }


@pytest.mark.parametrize("path", PURE, ids=lambda path: path.name)
def test_the_pure_modules_import_only_the_stdlib_msgspec_the_events_and_each_other(path):
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    allowed = {
        "__future__",
        "collections",
        "csv",
        "datetime",
        "io",
        "typing",
        "uuid",
        "zoneinfo",
        "msgspec",
    }
    pure = {
        "libs.events.model",
        "services.analytics.domain",
        "services.analytics.results_contract",
        "services.analytics.rows",
    }
    assert {m for m in imported if m.split(".")[0] not in allowed} <= pure


def test_the_original_columns_come_first_and_ours_after():
    assert RESULT_COLUMNS[: len(ORIGINAL_COLUMNS)] == ORIGINAL_COLUMNS
    assert len(set(RESULT_COLUMNS)) == len(RESULT_COLUMNS)
    assert RESULT_COLUMNS[len(ORIGINAL_COLUMNS)] == "attempts"


def test_every_call_result_has_one_of_the_original_call_statuses():
    for result in known_call_results():
        assert call_status_of(result) in ("", *CALL_STATUSES), result
    assert call_status_of("not-dialled:frequency_cap") == ""  # never dialled: not a call
    assert call_status_of("no-answer") == "timeout"
    assert call_status_of("voicemail") == "answered"


def readme_mapping() -> dict[str, str]:
    """The README's call_result -> call_status table, as a reader sees it."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Results") :]
    section = section[: section.index("\n## ", 1)]
    header = "| call_result | call_status |"
    table = section[section.index(header) :].split("\n\n")[0].splitlines()[2:]
    mapping: dict[str, str] = {}
    for line in table:
        result, status = (cell.strip().strip("`") for cell in line.strip("|").split("|")[:2])
        mapping[result] = "" if status == "(empty)" else status
    return mapping


def test_the_readme_documents_the_mapping_the_results_use():
    documented = readme_mapping()
    assert documented.pop("not-dialled:<rule>") == ""
    assert documented == CALL_STATUS_OF_RESULT


def test_call_list_parameters_name_the_one_at_fault():
    assert parse_page("50", "0") == (50, 0)
    assert parse_page("500", "1000") == (500, 1000)
    assert parse_call_status("timeout") == "timeout"
    assert parse_call_status("not-dialled:frequency_cap") == "not-dialled:frequency_cap"
    assert parse_call_status("not-dialled") == "not-dialled"
    assert parse_call_status(None) is None
    with pytest.raises(InvalidFilterError, match=r"^limit: '0' is not a whole number between 1"):
        parse_page("0", "0")
    with pytest.raises(InvalidFilterError, match=r"^limit: '501' is not a whole number"):
        parse_page("501", "0")
    with pytest.raises(InvalidFilterError, match=r"^offset: 'x' is not a whole number 0 or more"):
        parse_page("5", "x")
    with pytest.raises(InvalidFilterError, match=r"^status: 'completed' is not a call_status"):
        parse_call_status("completed")
    with pytest.raises(InvalidFilterError, match=r"^status: 'not-dialled:lunch' is not"):
        parse_call_status("not-dialled:lunch")
    with pytest.raises(InvalidFilterError, match=r"^call_id: 'nope' is not a call id"):
        parse_call_id("nope")


def test_a_recording_and_a_callback_reach_their_rows():
    completed = CallCompleted(event_id=uuid4(), occurred_at=NOW, **CALL, duration_seconds=30.0)
    recorded = CallRecorded(
        event_id=uuid4(),
        occurred_at=later(1),
        **CALL,
        recording_url="https://api.twilio.com/recordings/RE1",
    )
    again = CallCompleted(event_id=uuid4(), occurred_at=later(2), **CALL, duration_seconds=31.0)
    assert fold([completed, recorded, again]).calls[CALL_ID].recording_url == recorded.recording_url
    outcome = msgspec.structs.replace(
        the(OutcomeRecorded), callback_at=later(3600), summary_written_by="model"
    )
    row = fold([outcome]).outcomes[CALL_ID]
    assert (row.callback_at, row.summary_written_by) == (later(3600), "model")


def test_a_booking_keeps_its_time_where_the_lead_is_and_its_latest_revision():
    booked = the(MeetingBooked)  # Thu 5 Mar 2026, 15:30 UTC, told in New York
    row = fold([booked]).bookings[(MEETING_ID, SLOT_ID)]
    assert (row.starts_local, row.rep_name, row.call_id) == (
        "2026-03-05T10:30:00-05:00",
        "Alex Morgan",
        CALL_ID,
    )
    summer = msgspec.structs.replace(
        booked,
        starts_at=booked.starts_at + timedelta(days=7),
        ends_at=booked.ends_at + timedelta(days=7),
        revision=2,
    )
    for events in ([booked, summer], [summer, booked]):  # a later revision wins, whenever read
        [row] = fold(events).bookings.values()
        assert (row.revision, row.starts_local) == (2, "2026-03-12T11:30:00-04:00")
    unknown = msgspec.structs.replace(booked, lead_zone="Mars/Olympus_Mons")
    assert fold([unknown]).bookings[(MEETING_ID, SLOT_ID)].starts_local == (
        "2026-03-05T15:30:00+00:00"  # a zone nobody knows: the moment in UTC
    )
    assert local_moment(datetime(2026, 7, 1, 12), "Europe/London").isoformat() == (
        "2026-07-01T13:00:00+01:00"  # naive, as the tables hold it, is UTC
    )


def test_a_slot_s_latest_cancel_says_why_and_an_outcome_keeps_its_booking():
    canceled = the(MeetingCanceled)
    failed = msgspec.structs.replace(canceled, occurred_at=later(5), reason="calendar-failed")
    for events in ([canceled, failed], [failed, canceled]):
        [row] = fold(events).cancels.values()
        assert (row.reason, row.canceled_at) == ("calendar-failed", later(5))
    assert fold([the(OutcomeRecorded)]).outcomes[CALL_ID].meeting_id == MEETING_ID
