"""The demonstration run: import the sample leads, run a campaign, report what happened.

It drives the running system only through its public HTTP API, as a sales team would,
showing one live progress line instead of a scrolling log.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from services.analytics.results_contract import contract_violations

POLL_SECONDS = 0.5
GIVE_UP_AFTER_SECONDS = 30 * 60
CALLS_PAGE = 500  # the most the Calls API gives at once


class DemoError(RuntimeError):
    """A step of the demonstration failed; the message says which and why."""


async def run_demo(base_url: str, leads_csv: Path, results_csv: Path, token: str | None) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per progress poll
    # Tables need room; a log file or a pipe gets it, a real terminal keeps its own width.
    console = Console(width=None if sys.stdout.isatty() else 120)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as api:
        await import_leads(api, console, leads_csv)
        campaign = await start_campaign(api, console)
        status = await follow(api, console, campaign["campaign_id"])
        await report(api, console, status, results_csv)


async def expect(response: httpx.Response, step: str) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise DemoError(f"{step} failed ({response.status_code}): {detail}")
    return response.json()


async def import_leads(api: httpx.AsyncClient, console: Console, leads_csv: Path) -> None:
    with leads_csv.open("rb") as file:
        response = await api.post(
            "/leads/upload", files={"file": (leads_csv.name, file, "text/csv")}
        )
    report = await expect(response, f"Importing {leads_csv}")
    counts = ", ".join(
        f"{count} {name}"
        for name, count in report["counts"].items()
        if count or name in ("received", "imported")
    )
    console.print(f"[bold]Leads[/]  {leads_csv}: {counts}")


async def start_campaign(api: httpx.AsyncClient, console: Console) -> dict[str, Any]:
    response = await api.post("/campaign/start", json={"name": "Sample leads"})
    campaign = await expect(response, "Starting the campaign")
    excluded = ", ".join(f"{n} {why}" for why, n in campaign["excluded"].items()) or "none"
    console.print(
        f"[bold]Campaign[/]  {campaign['name']}: {campaign['selected']} leads selected "
        f"(left out: {excluded})"
    )
    return campaign


def progress_line(status: dict[str, Any]) -> str:
    progress = status["progress"]
    attempted = progress["selected"] - progress["pending"]
    line = (
        f"[bold]{status['state']:<9}[/] dialled {attempted}/{progress['selected']}  "
        f"live {progress['live']}  completed {progress['completed']}  "
        f"failed {progress['failed']}  retry {progress['retry_scheduled']}  "
        f"opted out {progress['opted_out']}"
    )
    if status.get("next_call_reason") and progress["live"] == 0:
        line += f"  [dim]({status['next_call_reason']})[/]"
    return line


async def follow(api: httpx.AsyncClient, console: Console, campaign_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + GIVE_UP_AFTER_SECONDS
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            status = await expect(
                await api.get("/campaign/status", params={"campaign_id": campaign_id}),
                "Reading the campaign's status",
            )
            live.update(progress_line(status))
            if status["state"] in ("finished", "stopped"):
                return status
            if time.monotonic() > deadline:
                raise DemoError("the campaign did not finish within 30 minutes")
            await asyncio.sleep(POLL_SECONDS)  # a person's refresh rate, not a test's wait


def percent(rate: float) -> str:
    return f"{rate * 100:.0f}%"


def totals_table(title: str, rows: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in (
        "",
        "leads",
        "dialled",
        "answered",
        "answer rate",
        "meetings",
        "opt-outs",
        "voicemails",
        "high",
        "medium",
        "low",
    ):
        table.add_column(column, justify="left" if not column else "right")
    for name, totals in rows.items():
        interest = totals.get("interest_levels", {})
        table.add_row(
            name,
            str(totals["leads"]),
            str(totals["dialled"]),
            str(totals["answered"]),
            percent(totals["answer_rate"]),
            str(totals["meetings_booked"]),
            str(totals["opt_outs"]),
            str(totals["voicemails"]),
            str(interest.get("high", 0)),
            str(interest.get("medium", 0)),
            str(interest.get("low", 0)),
        )
    return table


async def report(
    api: httpx.AsyncClient, console: Console, status: dict[str, Any], results_csv: Path
) -> None:
    campaign_id = status["campaign_id"]
    statistics = await wait_for_statistics(api, campaign_id, status["progress"])
    totals = statistics["totals"]
    console.print()
    console.print(totals_table("Campaign results", {"all leads": totals}))
    console.print(totals_table("By business type", statistics["by_business_type"]))
    console.print(totals_table("By company size", statistics["by_company_size"]))
    failures = ", ".join(f"{n} {why}" for why, n in totals["failures_by_reason"].items()) or "none"
    duration = statistics["call_duration_seconds"]
    latency = statistics["response_latency_seconds"]
    not_called = (
        ", ".join(f"{n} {rule}" for rule, n in totals["not_called_by_rule"].items()) or "none"
    )
    console.print(f"Failures by reason: {failures}")
    console.print(f"Not called, by rule: {not_called}")
    console.print(
        f"Meetings booked: {totals['meetings_booked']} "
        f"({percent(totals['meeting_rate'])} of answered)   "
        f"Call duration p50 {seconds(duration['p50'])}, p95 {seconds(duration['p95'])}   "
        f"Agent response p50 {seconds(latency['p50'])}, p95 {seconds(latency['p95'])}"
    )
    await report_meetings(api, console, campaign_id)
    download = await api.get("/results/download", params={"campaign": campaign_id})
    violations = contract_violations(download.text)
    verdict = (
        "keeps to the original columns and values"
        if not violations
        else "[red]departs from the original columns: " + "; ".join(violations[:5]) + "[/]"
    )
    console.print(f"Results CSV: [bold]{results_csv}[/] ({verdict})")


async def campaign_calls(api: httpx.AsyncClient, campaign_id: str) -> list[dict[str, Any]]:
    """Every call of the campaign, as the Calls API lists them, page by page."""
    calls: list[dict[str, Any]] = []
    while True:
        page = await expect(
            await api.get(
                "/calls",
                params={"campaign": campaign_id, "limit": CALLS_PAGE, "offset": len(calls)},
            ),
            "Reading the campaign's calls",
        )
        calls += page["calls"]
        if not page["calls"] or len(calls) >= page["total"]:
            return calls


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def standing_meetings(api: httpx.AsyncClient, campaign_id: str) -> list[dict[str, Any]]:
    """One call per meeting that still stands: the latest of the campaign's calls that
    booked or moved it, soonest meeting first."""
    meetings: dict[str, dict[str, Any]] = {}
    for call in await campaign_calls(api, campaign_id):
        if call["meeting_status"] != "booked" or not call["call_date"]:
            continue
        known = meetings.get(call["meeting_id"])
        if known is None or moment(call["call_date"]) > moment(known["call_date"]):
            meetings[call["meeting_id"]] = call
    return sorted(
        meetings.values(), key=lambda call: (moment(call["meeting_time"]), call["meeting_id"])
    )


def lead_time(at: datetime, zone: str | None) -> str:
    """A moment as the lead was told it, where the lead is: "Tue 8 Dec 10:30 AM EST"."""
    try:
        local = at.astimezone(ZoneInfo(zone)) if zone else at
    except (ZoneInfoNotFoundError, ValueError):
        local = at  # a zone this machine does not know: its offset still says the time
    hour = local.hour % 12 or 12
    return f"{local:%a} {local.day} {local:%b} {hour}:{local:%M} {local:%p} {local.tzname()}"


async def report_meetings(api: httpx.AsyncClient, console: Console, campaign_id: str) -> None:
    """The campaign's standing meetings, and any that is not later than its call."""
    meetings = await standing_meetings(api, campaign_id)
    if not meetings:
        console.print("No meetings booked: none of this campaign's calls holds a booking.")
        return
    table = Table(title="Meetings booked", title_justify="left")
    for column in ("business", "contact", "meeting (lead's time)", "rep", "call (lead's time)"):
        table.add_column(column)
    too_early: list[str] = []
    for call in meetings:
        zone = call["meeting_zone"]
        starts, called = moment(call["meeting_time"]), moment(call["call_date"])
        table.add_row(  # the leads' own text is shown as it is, never read as markup
            escape(call["business_name"]),
            escape(call["contact_name"]),
            lead_time(starts, zone),
            escape(call["meeting_rep"] or ""),
            lead_time(called, zone),
        )
        if starts <= called:
            too_early.append(
                f"{escape(call['business_name'])}: the meeting at {lead_time(starts, zone)} "
                f"is not later than the call that booked it at {lead_time(called, zone)}"
            )
    console.print(table)
    for problem in too_early:
        console.print(
            f"[bold red]Meeting not after its call:[/] [red]{problem}[/]", highlight=False
        )


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


async def wait_for_statistics(
    api: httpx.AsyncClient, campaign_id: str, progress: dict[str, int]
) -> dict[str, Any]:
    """Analytics trails the stream by a moment: wait until it has every finished lead."""
    finished = progress["completed"] + progress["failed"] + progress["opted_out"]
    deadline = time.monotonic() + 30
    while True:
        statistics = await expect(
            await api.get("/results/statistics", params={"campaign": campaign_id}),
            "Reading the statistics",
        )
        settled = statistics["totals"]["leads_by_status"]
        if sum(settled.get(k, 0) for k in ("called", "opted_out")) >= finished:
            return statistics
        if time.monotonic() > deadline:
            return statistics
        await asyncio.sleep(POLL_SECONDS)
