"""The drop folder, LEADS_CSV_PATH at start, and `python -m services.ingest import FILE`."""

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.integration.ingest.support import (
    csv_body,
    imported_events,
    lead_row,
    serving,
    stream_messages,
)

ROOT = Path(__file__).parents[3]


def drop(inbox: Path, name: str, data: bytes) -> None:
    """Write beside the inbox, then move in: how a careful copy lands."""
    staging = inbox.parent / f".{name}.part"
    staging.write_bytes(data)
    os.replace(staging, inbox / name)


async def test_dropped_files_are_imported_and_moved_beside_their_report(bus, tmp_path, log_watch):
    inbox = tmp_path / "inbox"
    async with serving(bus, tmp_path):
        await log_watch.wait_for(lambda r: r["message"].startswith("Watching"))
        drop(inbox, "spring.csv", csv_body(lead_row(1), lead_row(2), lead_row(3, contact_name="")))
        drop(inbox, "photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(100))
        drop(inbox, "notes.md", b"not a lead file")
        for name in ("spring.csv", "photo.csv"):
            await log_watch.wait_for(lambda r, n=name: r["message"].startswith(f"Moved {n}"))
    processed = json.loads((inbox / "processed" / "spring.report.json").read_text())
    assert processed["counts"]["imported"] == 2
    assert processed["issues"][0]["row"] == 4
    assert (inbox / "processed" / "spring.csv").is_file()
    rejected = json.loads((inbox / "rejected" / "photo.report.json").read_text())
    assert rejected == {
        "source": "photo.csv",
        "refused": "this file is a PNG image, not CSV text: save it as CSV (UTF-8) and upload that",
    }
    assert sorted(path.name for path in inbox.iterdir()) == ["notes.md", "processed", "rejected"]
    assert [event.source for event in await imported_events(bus)] == ["spring.csv"] * 2


async def test_a_file_dropped_again_keeps_both_reports_and_imports_nothing_new(
    bus, tmp_path, log_watch
):
    inbox = tmp_path / "inbox"
    async with serving(bus, tmp_path):
        await log_watch.wait_for(lambda r: r["message"].startswith("Watching"))
        for round_number in (1, 2):
            drop(inbox, "leads.csv", csv_body(lead_row(1)))
            await log_watch.wait_for(
                lambda r, n=round_number: (
                    sum(rec["message"].startswith("Moved leads.csv") for rec in log_watch.records)
                    >= n
                )
            )
    reports = sorted((inbox / "processed").glob("*.report.json"))
    counts = [json.loads(path.read_text())["counts"] for path in reports]
    assert sorted((c["imported"], c["duplicate"]) for c in counts) == [(0, 1), (1, 0)]
    assert await stream_messages(bus) == 1


async def test_leads_csv_path_is_imported_at_start_and_only_once(bus, tmp_path, log_watch):
    environ = {"LEADS_CSV_PATH": str(ROOT / "data" / "test_sample.csv")}
    for _ in range(2):
        log_watch.records.clear()
        async with serving(bus, tmp_path, environ):
            done = await log_watch.wait_for(lambda r: r["message"].startswith("Imported test_"))
    assert done["message"] == (
        "Imported test_sample.csv: 26 rows, 0 new, 0 updated, 26 duplicate, 0 rejected"
    )
    events = await imported_events(bus)
    assert len(events) == 26
    assert {event.source for event in events} == {"test_sample.csv"}


async def test_a_missing_leads_csv_path_is_not_an_error(bus, tmp_path, log_watch):
    async with serving(bus, tmp_path, {"LEADS_CSV_PATH": str(tmp_path / "absent.csv")}):
        await log_watch.wait_for(lambda r: "nothing imported at start" in r["message"])
    assert await stream_messages(bus) == 0


async def test_the_import_command_shows_progress_and_the_report(bus, nats_server, tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_bytes(csv_body(*(lead_row(i) for i in range(30)), lead_row(99, contact_number="1")))
    report = tmp_path / "report.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.ingest",
        "import",
        str(leads),
        "--report",
        str(report),
        cwd=ROOT,
        env={**os.environ, "NATS_URL": nats_server.url, "COLUMNS": "120"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    output = stderr.decode()
    assert process.returncode == 0, output
    assert "leads.csv" in output and "31 rows" in output  # the progress line
    assert "Import of leads.csv" in output
    assert "row 32 contact_number: '1' is not a valid phone number" in output
    assert json.loads(report.read_text())["counts"]["imported"] == 30
    assert len(await imported_events(bus)) == 30


async def test_the_import_command_needs_to_know_where_nats_is(tmp_path):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.ingest",
        "import",
        str(tmp_path / "x.csv"),
        cwd=tmp_path,
        env={key: value for key, value in os.environ.items() if key != "NATS_URL"}
        | {"PYTHONPATH": str(ROOT)},
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert b"NATS_URL is not set" in stderr
