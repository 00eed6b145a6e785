"""The read side: results rows and statistics, as SQL over the projection.

Every lead is accounted for: a lead never called is `pending` (or `excluded` when its
number opted out first), so totals add up to the uploaded list.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import duckdb
import msgspec

from libs.events.model import NOT_A_PERSON
from services.analytics.domain import (
    CALL_STATUS_OF_RESULT,
    NOT_CALLED_REASON,
    NOT_DIALLED,
    OPT_OUT_REASONS,
)
from services.analytics.filters import Period

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the results file's moments, in UTC


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_lookup(expression: str, mapping: dict[str, str], otherwise: str) -> str:
    """A CASE that maps each key of `mapping` to its value (the mapping lives in domain)."""
    arms = " ".join(
        f"WHEN {sql_text(key)} THEN {sql_text(value)}" for key, value in mapping.items()
    )
    return f"CASE {expression} {arms} ELSE {otherwise} END"


# What happened on a call (domain.CALL_STATUS_OF_RESULT lists every value). The carrier's
# reason wins; then who answered; then what the conversation recorded about how it ended.
CALL_RESULT = f"""
    CASE
        WHEN c.refusal_rule IS NOT NULL THEN {sql_text(NOT_DIALLED + ":")} || c.refusal_rule
        WHEN c.failure_reason = {sql_text(NOT_DIALLED)} THEN {sql_text(NOT_DIALLED)}
        WHEN c.failure_reason = 'machine' THEN 'voicemail'
        WHEN c.failure_reason IS NOT NULL THEN c.failure_reason
        WHEN c.answered_by = 'fax' THEN 'fax'
        WHEN c.answered_by = 'machine' OR t.ended_by = 'voicemail' THEN 'voicemail'
        WHEN c.answered_at IS NULL AND c.completed_at IS NULL
            AND t.call_id IS NULL AND o.call_id IS NULL
            THEN CASE WHEN c.placed_at IS NOT NULL THEN 'ringing' ELSE 'queued' END
        WHEN t.ended_by = 'opt-out' OR oc.call_id IS NOT NULL THEN 'opted-out'
        -- the agent failed, or the call ended with no conversation recorded at all
        WHEN t.ended_by = 'error' OR (c.completed_at IS NOT NULL
            AND t.call_id IS NULL AND o.call_id IS NULL) THEN 'agent-lost'
        ELSE 'answered'
    END"""

# Where the call is now, for the Calls API.
CALL_STATE = """
    CASE
        WHEN c.refusal_rule IS NOT NULL OR c.failure_reason = 'not-dialled' THEN 'not-dialled'
        WHEN c.failed_at IS NOT NULL THEN 'failed'
        WHEN c.completed_at IS NOT NULL OR t.call_id IS NOT NULL OR o.call_id IS NOT NULL
            THEN 'ended'
        WHEN c.answered_by IN ('machine', 'fax') THEN 'voicemail'
        WHEN c.answered_at IS NOT NULL THEN 'answered'
        WHEN c.placed_at IS NOT NULL THEN 'ringing'
        ELSE 'queued'
    END"""

# The results that mean a person was on the line, and those that mean a machine was:
# the statistics count these as answered leads and as voicemails.
PERSON_ANSWERED = ("answered", "opted-out", "agent-lost")
MACHINE_ANSWERED = ("voicemail", "fax")
LIVE = ("queued", "ringing")

CALL_DATE = "coalesce(c.requested_at, c.placed_at, c.answered_at, c.failed_at, c.completed_at)"

# Who answered: the detection's machine (or fax) over the answer's person, whichever came
# first; else the answer's word, else the verdict's.
ANSWERED_BY = f"""
    CASE WHEN classified_by IN ({", ".join(sql_text(v) for v in sorted(NOT_A_PERSON))})
        THEN classified_by ELSE coalesce(answered_by, classified_by) END"""

# The meeting a call's outcome links, as it stands (schema.MEETINGS_VIEW), by column names
# of its own so that joining it beside the call's tables is unambiguous.
LINKED_MEETINGS = """
    SELECT meeting_id AS linked_meeting_id, status AS meeting_status,
        starts_local AS meeting_time, starts_at AS meeting_starts_at,
        ends_at AS meeting_ends_at, lead_zone AS meeting_zone, rep_name AS meeting_rep,
        rep_email AS meeting_rep_email, revision AS meeting_revision,
        call_id AS meeting_booked_on_call
    FROM meetings"""

# Every call with what its transcript and outcome add, its result and the original status.
# scheduled_meeting is the booking's word, not the model's: true only while the meeting the
# outcome links (meeting_id) still holds; the model's claim is kept as meeting_claimed.
CALL_FACTS = f"""
calls_read AS (SELECT * REPLACE ({ANSWERED_BY} AS answered_by) FROM calls),
call_results AS (
    SELECT c.*, {CALL_DATE} AS call_date, {CALL_RESULT} AS call_result, {CALL_STATE} AS state,
        coalesce(c.completed_at, c.failed_at) AS ended_at,
        coalesce(c.duration_seconds, t.duration_seconds) AS call_seconds,
        t.turns, t.ended_by, o.conversation_summary, o.summary_written_by, o.interest_level,
        CASE WHEN o.call_id IS NULL THEN NULL
            ELSE coalesce(m.meeting_status = 'booked', false) END AS scheduled_meeting,
        o.scheduled_meeting AS meeting_claimed, o.meeting_id, m.* EXCLUDE (linked_meeting_id),
        o.next_steps, o.callback_at
    FROM calls_read c
    LEFT JOIN transcripts t USING (call_id)
    LEFT JOIN outcomes o USING (call_id)
    LEFT JOIN (SELECT DISTINCT call_id FROM opt_outs WHERE call_id IS NOT NULL) oc USING (call_id)
    LEFT JOIN ({LINKED_MEETINGS}) m ON m.linked_meeting_id = o.meeting_id
),
call_facts AS (
    SELECT *, CASE WHEN call_result LIKE {sql_text(NOT_DIALLED + ":%")} THEN ''
        ELSE {sql_lookup("call_result", CALL_STATUS_OF_RESULT, "''")} END AS call_status
    FROM call_results
)"""

SCOPE = f"""{CALL_FACTS},
scoped_calls AS (
    SELECT c.call_id, c.lead_id, c.campaign_id, c.attempt, c.failure_reason, c.call_date,
        c.call_result, c.call_status, c.call_seconds AS duration_seconds, c.turns,
        c.conversation_summary, c.interest_level, c.scheduled_meeting, c.meeting_time,
        c.meeting_rep, c.next_steps, c.callback_at, c.recording_url
    FROM call_facts c
    -- refused before the carrier, or never taken by it: not a call, not an attempt
    WHERE c.refusal_rule IS NULL AND c.failure_reason IS DISTINCT FROM 'not-dialled'
        AND ($campaign::UUID IS NULL OR c.campaign_id = $campaign::UUID)
        AND ($start::TIMESTAMP IS NULL OR c.call_date >= $start::TIMESTAMP)
        AND ($end::TIMESTAMP IS NULL OR c.call_date < $end::TIMESTAMP)
),
scoped_refusals AS (  -- calls not made, by the rule that stopped them, when or at the dial
    SELECT lead_id, campaign_id, rule, refused_at FROM (
        SELECT lead_id, campaign_id, rule, withheld_at AS refused_at FROM withheld
        UNION ALL
        SELECT lead_id, campaign_id, refusal_rule, coalesce(failed_at, requested_at)
        FROM calls WHERE refusal_rule IS NOT NULL
    )
    WHERE ($campaign::UUID IS NULL OR campaign_id = $campaign::UUID)
        AND ($start::TIMESTAMP IS NULL OR refused_at >= $start::TIMESTAMP)
        AND ($end::TIMESTAMP IS NULL OR refused_at < $end::TIMESTAMP)
),
scoped_leads AS (
    SELECT * FROM leads
    WHERE $campaign::UUID IS NULL OR lead_id IN (
        SELECT lead_id FROM campaign_leads WHERE campaign_id = $campaign::UUID)
),
lead_opt_outs AS (  -- do-not-call is by number: an opt-out under any lead id counts
    SELECT lead_id, min(opted_out_at) AS opted_out_at,
        arg_min(source, opted_out_at) AS opt_out_source
    FROM (
        SELECT lead_id, opted_out_at, source FROM opt_outs
        UNION ALL
        SELECT l.lead_id, o.opted_out_at, o.source
        FROM leads l JOIN opt_outs o USING (phone_number)
    ) GROUP BY lead_id
)"""


def sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(sql_text(value) for value in values)


def facts(keys: str, members: str) -> str:
    """One row per member (a lead, or a lead in a campaign) with what happened to it."""
    join = " AND ".join(f"c.{key} = m.{key}" for key in keys.split(", "))
    return f"""
facts AS (
    SELECT m.*, l.business_type, l.company_size,
        count(c.call_id) AS attempts,
        coalesce(bool_or(c.call_result IN ({sql_list(PERSON_ANSWERED)})), false) AS answered,
        -- a meeting one of its calls booked that still holds: the lead's results row says so
        coalesce(bool_or(c.scheduled_meeting), false) AS booked,
        count(c.call_id) FILTER (WHERE c.call_result IN ({sql_list(MACHINE_ANSWERED)}))
            AS voicemails,
        arg_max(c.interest_level, c.call_date) FILTER (WHERE c.interest_level IS NOT NULL)
            AS interest_level,
        arg_max(c.call_result, c.call_date) AS latest_result,
        any_value(oo.opted_out_at) AS opted_out_at,
        any_value(oo.opt_out_source) AS opt_out_source
    FROM ({members}) m
    JOIN leads l USING (lead_id)
    LEFT JOIN scoped_calls c ON {join}
    LEFT JOIN lead_opt_outs oo ON oo.lead_id = m.lead_id
    GROUP BY ALL
),
statuses AS (
    SELECT *, CASE
        WHEN opted_out_at IS NOT NULL AND attempts = 0 THEN 'excluded'
        WHEN opted_out_at IS NOT NULL THEN 'opted_out'
        WHEN attempts = 0 THEN 'pending'
        WHEN latest_result IN ({sql_list(LIVE)}) THEN 'in_progress'
        ELSE 'called'
    END AS status FROM facts
)"""


LEAD_MEMBERS = "SELECT lead_id FROM scoped_leads"
CAMPAIGN_MEMBERS = """
    SELECT campaign_id, lead_id FROM campaign_leads
    WHERE $campaign::UUID IS NULL OR campaign_id = $campaign::UUID"""

TOTALS = """
    count(*) AS leads,
    count(*) FILTER (WHERE attempts > 0) AS dialled,
    coalesce(sum(attempts), 0) AS calls,
    count(*) FILTER (WHERE answered) AS answered,
    count(*) FILTER (WHERE booked) AS meetings_booked,
    count(*) FILTER (WHERE opted_out_at IS NOT NULL
        AND ($start::TIMESTAMP IS NULL OR opted_out_at >= $start::TIMESTAMP)
        AND ($end::TIMESTAMP IS NULL OR opted_out_at < $end::TIMESTAMP)) AS opt_outs,
    coalesce(sum(voicemails), 0) AS voicemails,
    list(interest_level) FILTER (WHERE interest_level IS NOT NULL) AS interests,
    list(status) AS status_list"""

GROUPED_TOTALS = f"""
WITH {SCOPE}, {facts("lead_id", LEAD_MEMBERS)}
SELECT CASE WHEN grouping(business_type) = 0 THEN 'business_type'
            WHEN grouping(company_size) = 0 THEN 'company_size' ELSE 'all' END AS dimension,
    coalesce(business_type, company_size, '') AS value, {TOTALS}
FROM statuses
GROUP BY GROUPING SETS ((), (business_type), (company_size))
"""

CAMPAIGN_TOTALS = f"""
WITH {SCOPE}, {facts("campaign_id, lead_id", CAMPAIGN_MEMBERS)}
SELECT 'campaign' AS dimension, campaign_id::VARCHAR AS value, {TOTALS}
FROM statuses GROUP BY campaign_id
"""

FAILURES = f"""
WITH {SCOPE}
SELECT dimension, value, failure_reason, count(*) AS calls FROM (
    SELECT c.failure_reason, l.business_type, l.company_size, c.campaign_id::VARCHAR AS campaign
    FROM scoped_calls c JOIN leads l USING (lead_id) WHERE c.failure_reason IS NOT NULL
) UNPIVOT INCLUDE NULLS (value FOR dimension IN (business_type, company_size, campaign))
GROUP BY ALL
UNION ALL
SELECT 'all', '', failure_reason, count(*) FROM scoped_calls
WHERE failure_reason IS NOT NULL GROUP BY ALL
"""

NOT_CALLED = f"""
WITH {SCOPE}
SELECT dimension, value, rule, count(*) AS calls FROM (
    SELECT r.rule, l.business_type, l.company_size, r.campaign_id::VARCHAR AS campaign
    FROM scoped_refusals r JOIN leads l USING (lead_id)
) UNPIVOT INCLUDE NULLS (value FOR dimension IN (business_type, company_size, campaign))
GROUP BY ALL
UNION ALL
SELECT 'all', '', rule, count(*) FROM scoped_refusals GROUP BY ALL
"""

TIMINGS = f"""
WITH {SCOPE},
latencies AS (
    SELECT turn.response_latency_seconds AS latency
    FROM (SELECT unnest(turns) AS turn FROM scoped_calls WHERE turns IS NOT NULL)
    WHERE turn.response_latency_seconds IS NOT NULL
)
SELECT
    (SELECT avg(duration_seconds) FROM scoped_calls),
    (SELECT quantile_cont(duration_seconds, 0.5) FROM scoped_calls),
    (SELECT quantile_cont(duration_seconds, 0.95) FROM scoped_calls),
    (SELECT avg(latency) FROM latencies),
    (SELECT quantile_cont(latency, 0.5) FROM latencies),
    (SELECT quantile_cont(latency, 0.95) FROM latencies)
"""

# Why a lead was not called, for those the status alone does not explain.
STATUS_REASON = f"""
    CASE
        WHEN s.status IN ('excluded', 'opted_out')
            THEN {sql_lookup("s.opt_out_source", OPT_OUT_REASONS, "'opted out'")}
        WHEN s.status = 'pending' AND r.rule IS NOT NULL
            THEN {sql_text(NOT_CALLED_REASON)} || r.rule
        ELSE ''
    END"""

RESULTS = f"""
WITH {SCOPE}, {facts("lead_id", LEAD_MEMBERS)},
latest AS (
    SELECT * FROM scoped_calls QUALIFY row_number() OVER (
        PARTITION BY lead_id
        ORDER BY call_date DESC NULLS LAST, attempt DESC NULLS LAST, call_id DESC) = 1
),
latest_refusal AS (
    SELECT lead_id, arg_max(rule, refused_at) AS rule FROM scoped_refusals GROUP BY lead_id
),
lead_meeting AS (  -- the lead's standing meeting, from the latest call whose booking holds
    SELECT lead_id, meeting_time, meeting_rep FROM scoped_calls WHERE scheduled_meeting
    QUALIFY row_number() OVER (
        PARTITION BY lead_id
        ORDER BY call_date DESC NULLS LAST, attempt DESC NULLS LAST, call_id DESC) = 1
)
SELECT l.business_name, l.phone_number AS contact_number, l.contact_name,
    coalesce(nullif(l.business_type_original, ''), l.business_type) AS business_type,
    coalesce(nullif(l.company_size_original, ''), l.company_size) AS company_size,
    l.current_challenges, l.best_call_time, s.status,
    coalesce(c.call_status, '') AS call_status,
    coalesce(strftime(c.call_date, '{ISO_FORMAT}'), '') AS call_date,
    coalesce(c.conversation_summary, '') AS conversation_summary,
    coalesce(c.interest_level, '') AS interest_level,
    CASE WHEN c.call_id IS NULL THEN '' WHEN s.booked THEN 'true' ELSE 'false' END
        AS scheduled_meeting,
    coalesce(c.next_steps, '') AS next_steps,
    s.attempts,
    coalesce(c.call_result, {sql_text(NOT_DIALLED + ":")} || r.rule, '') AS call_result,
    {STATUS_REASON} AS status_reason,
    l.business_type AS business_category,
    l.company_size AS size_category,
    coalesce(strftime(c.callback_at, '{ISO_FORMAT}'), '') AS callback_at,
    coalesce(c.recording_url, '') AS recording_url,
    coalesce(c.call_id::VARCHAR, '') AS call_id,
    coalesce(lm.meeting_time, '') AS meeting_time,
    coalesce(lm.meeting_rep, '') AS meeting_rep
FROM statuses s JOIN leads l USING (lead_id)
LEFT JOIN latest c USING (lead_id)
LEFT JOIN latest_refusal r USING (lead_id)
LEFT JOIN lead_meeting lm USING (lead_id)
ORDER BY l.business_name, l.phone_number
"""


def parameters(campaign_id: UUID | None, period: Period) -> dict[str, Any]:
    return {
        "campaign": str(campaign_id) if campaign_id else None,
        "start": period.start,
        "end": period.end,
    }


class Totals(msgspec.Struct, kw_only=True):
    leads: int
    dialled: int
    calls: int
    answered: int
    answer_rate: float  # of dialled leads
    # Leads one of whose calls booked a meeting that still holds (canceled or failed
    # bookings, and a model's claim with no booking, do not count).
    meetings_booked: int
    meeting_rate: float  # of answered leads
    opt_outs: int
    voicemails: int  # calls
    failures_by_reason: dict[str, int]  # calls
    not_called_by_rule: dict[str, int]  # turns a compliance rule withheld, and calls it refused
    interest_levels: dict[str, int]  # leads, by their latest conversation
    leads_by_status: dict[str, int]  # pending, excluded, in_progress, called, opted_out


class CampaignTotals(Totals, kw_only=True):
    campaign_id: str
    name: str


class Timing(msgspec.Struct, kw_only=True):
    average: float | None
    p50: float | None
    p95: float | None


class Statistics(msgspec.Struct, kw_only=True):
    campaign: str | None
    start: str | None
    end: str | None
    totals: Totals
    by_business_type: dict[str, Totals]
    by_company_size: dict[str, Totals]
    by_campaign: list[CampaignTotals]
    call_duration_seconds: Timing
    response_latency_seconds: Timing


def rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def count_values(values: list[str] | None, known: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(known, 0)
    for value in values or ():
        counts[value] = counts.get(value, 0) + 1
    return counts


INTEREST_LEVELS = ("high", "medium", "low")
LEAD_STATUSES = ("pending", "excluded", "in_progress", "called", "opted_out")


def totals_from(
    row: tuple[Any, ...], failures: dict[str, int], not_called: dict[str, int]
) -> Totals:
    leads, dialled, calls, answered, booked, opt_outs, voicemails, interests, statuses = row
    return Totals(
        leads=leads,
        dialled=dialled,
        calls=int(calls),
        answered=answered,
        answer_rate=rate(answered, dialled),
        meetings_booked=booked,
        meeting_rate=rate(booked, answered),
        opt_outs=opt_outs,
        voicemails=int(voicemails),
        failures_by_reason=dict(sorted(failures.items())),
        not_called_by_rule=dict(sorted(not_called.items())),
        interest_levels=count_values(interests, INTEREST_LEVELS),
        leads_by_status=count_values(statuses, LEAD_STATUSES),
    )


def statistics(
    cursor: duckdb.DuckDBPyConnection, campaign_id: UUID | None, period: Period
) -> Statistics:
    """Every figure for one campaign (or all) and period; blocking: run it in a thread."""
    params = parameters(campaign_id, period)
    failures = counts_by_group(cursor, FAILURES, params)
    not_called = counts_by_group(cursor, NOT_CALLED, params)

    def totals_of(dimension: str, value: str, row: tuple[Any, ...]) -> Totals:
        group = (dimension, value)
        return totals_from(row, failures.get(group, {}), not_called.get(group, {}))

    groups: dict[str, dict[str, Totals]] = {"all": {}, "business_type": {}, "company_size": {}}
    for dimension, value, *row in cursor.execute(GROUPED_TOTALS, params).fetchall():
        groups[dimension][value] = totals_of(dimension, value, tuple(row))
    names = dict(cursor.execute("SELECT campaign_id::VARCHAR, name FROM campaigns").fetchall())
    by_campaign = [
        CampaignTotals(
            campaign_id=value,
            name=names.get(value) or "",
            **msgspec.structs.asdict(totals_of("campaign", value, tuple(row))),
        )
        for _, value, *row in cursor.execute(CAMPAIGN_TOTALS, params).fetchall()
    ]
    timing = cursor.execute(TIMINGS, params).fetchone() or (None,) * 6
    return Statistics(
        campaign=params["campaign"],
        start=period.start.isoformat() + "Z" if period.start else None,
        end=period.end.isoformat() + "Z" if period.end else None,
        totals=groups["all"].get("", totals_of("all", "", (0, 0, 0, 0, 0, 0, 0, None, None))),
        by_business_type=dict(sorted(groups["business_type"].items())),
        by_company_size=dict(sorted(groups["company_size"].items())),
        by_campaign=sorted(by_campaign, key=lambda c: (c.name, c.campaign_id)),
        call_duration_seconds=Timing(
            average=_round(timing[0]), p50=_round(timing[1]), p95=_round(timing[2])
        ),
        response_latency_seconds=Timing(
            average=_round(timing[3]), p50=_round(timing[4]), p95=_round(timing[5])
        ),
    )


def counts_by_group(
    cursor: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any]
) -> dict[tuple[str, str], dict[str, int]]:
    """(dimension, value) -> {key: count}, from rows of dimension, value, key, count."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for dimension, value, key, count in cursor.execute(query, params).fetchall():
        counts.setdefault((dimension, value or ""), {})[key] = count
    return counts


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def result_rows(
    cursor: duckdb.DuckDBPyConnection, campaign_id: UUID | None, period: Period
) -> duckdb.DuckDBPyConnection:
    """Executes the results query; fetch its rows in chunks (columns: RESULT_COLUMNS)."""
    return cursor.execute(RESULTS, parameters(campaign_id, period))


def result_relation(
    cursor: duckdb.DuckDBPyConnection, campaign_id: UUID | None, period: Period
) -> duckdb.DuckDBPyRelation:
    return cursor.sql(RESULTS, params=parameters(campaign_id, period))


def find_campaigns(cursor: duckdb.DuckDBPyConnection, key: str) -> list[str]:
    """Campaign ids matching an id or an exact name."""
    rows = cursor.execute(
        "SELECT campaign_id::VARCHAR FROM campaigns "
        "WHERE campaign_id::VARCHAR = lower($key) OR name = $key ORDER BY started_at",
        {"key": key},
    ).fetchall()
    return [row[0] for row in rows]
