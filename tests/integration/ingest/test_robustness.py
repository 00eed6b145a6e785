"""Forgiving about format, strict about data: encodings, delimiters, limits, garbage, crashes."""

import asyncio
import codecs
import os
import threading

import pytest
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from libs.events import ALL_SUBJECTS
from services.ingest import validation
from services.ingest.validation import validate_rows
from tests.integration.ingest.support import (
    CSV,
    HEADER,
    csv_body,
    imported_events,
    lead_row,
    serving,
    stream_messages,
)

CAFE_CELLS = [
    "Café Olé",
    "(312) 555-0183",
    "José Núñez",
    "Café",
    "small",
    '"Line one\nline two, with a comma"',
    "9-11am",
    "",
]
CAFE = ",".join(CAFE_CELLS)


def delimited(delimiter: str) -> str:
    return HEADER.replace(",", delimiter) + delimiter.join(CAFE_CELLS) + "\r\n"


@pytest.mark.parametrize(
    "body",
    [
        (HEADER + CAFE + "\r\n").encode("utf-8"),
        codecs.BOM_UTF8 + (HEADER + CAFE + "\r\n").encode("utf-8"),
        (HEADER + CAFE + "\r\n").encode("cp1252"),
        delimited(";").encode(),
        delimited("\t").encode(),
        (HEADER + CAFE).replace("\r\n", "\n").encode(),
    ],
    ids=["utf8-crlf", "utf8-bom", "windows-1252", "semicolons", "tabs", "lf-no-final-newline"],
)
async def test_every_common_csv_flavour_gives_the_same_lead(bus, tmp_path, body):
    async with serving(bus, tmp_path) as client:
        response = await client.post("/leads/upload", content=body, headers=CSV)
    assert response.json()["counts"]["imported"] == 1, response.text
    [event] = await imported_events(bus)
    lead = event.lead
    assert (lead.business_name, lead.contact_name, lead.business_type) == (
        "Café Olé",
        "José Núñez",
        "Restaurant",
    )
    assert lead.current_challenges == "Line one\nline two, with a comma"
    assert lead.phone_number == "+13125550183"


async def in_pieces(body: bytes):
    """A chunked upload: no Content-Length to judge it by, only the bytes."""
    for start in range(0, len(body), 3000):
        yield body[start : start + 3000]


async def test_an_upload_over_the_limit_gets_413_and_imports_nothing(bus, tmp_path):
    body = csv_body(*(lead_row(index) for index in range(100)))  # about 9 kB
    limit = {"MAX_UPLOAD_MB": str(4096 / 1024 / 1024)}  # 4 kB
    async with serving(bus, tmp_path, limit) as client:
        as_body = await client.post("/leads/upload", content=body, headers=CSV)
        as_file = await client.post("/leads/upload", files={"file": ("big.csv", body, "text/csv")})
        chunked = await client.post("/leads/upload", content=in_pieces(body))
    for response in (as_body, as_file, chunked):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["detail"].startswith(
            "the upload is larger than the limit of 0.00390625 MB (MAX_UPLOAD_MB)"
        )
        assert problem["detail"].endswith("or raise MAX_UPLOAD_MB")
        assert (problem["limit_bytes"], problem["setting"]) == (4096, "MAX_UPLOAD_MB")
    assert await stream_messages(bus) == 0


async def test_other_requests_are_answered_while_an_upload_is_validated(bus, tmp_path, monkeypatch):
    validating, answered = threading.Event(), threading.Event()
    answered_meanwhile: list[bool] = []

    def validate_rows_held_until_answered(*args, **kwargs):
        # The first chunk waits for the health check. Validated on the event loop, it would
        # hold the server too: the check would go unanswered until this wait gave up.
        if not answered_meanwhile:
            validating.set()
            answered_meanwhile.append(answered.wait(timeout=30))
        return validate_rows(*args, **kwargs)

    monkeypatch.setattr(validation, "validate_rows", validate_rows_held_until_answered)
    body = csv_body(*(lead_row(index) for index in range(20)))
    async with serving(bus, tmp_path, {"PUBLISH_CHUNK_ROWS": "5"}) as client:
        upload = asyncio.create_task(client.post("/leads/upload", content=body, headers=CSV))
        assert await asyncio.to_thread(validating.wait, 30)
        health = await client.get("/healthz")
        answered.set()
        report = (await upload).json()
    assert (health.status_code, answered_meanwhile) == (200, [True])
    assert report["counts"]["imported"] == 20


@pytest.mark.parametrize(
    ("body", "content_type", "status", "detail"),
    [
        (os.urandom(4096), "text/csv", 415, "this file holds binary data, not CSV text"),
        (
            b"PK\x03\x04" + os.urandom(200),
            "application/octet-stream",
            415,
            "this file is an Excel workbook (.xlsx) or a zip archive, not CSV text: "
            "save it as CSV (UTF-8) and upload that",
        ),
        (
            b"\x89PNG\r\n",
            "image/png",
            415,
            "expected a CSV file (text/csv or a multipart file upload), got image/png",
        ),
        (b"", "text/csv", 422, "the file is empty: expected a header row and one lead per row"),
        (
            b"hello world, this is not a lead list\n",
            "text/csv",
            422,
            "missing required columns: business_name, contact_number, contact_name, "
            "business_type, company_size, current_challenges, best_call_time (the header row "
            "has: 'hello world', 'this is not a lead list')",
        ),
    ],
    ids=["random-bytes", "xlsx", "image", "empty", "prose"],
)
async def test_garbage_is_refused_with_a_clear_message(
    bus, tmp_path, body, content_type, status, detail
):
    async with serving(bus, tmp_path) as client:
        response = await client.post(
            "/leads/upload", content=body, headers={"content-type": content_type}
        )
    assert (response.status_code, response.json()["detail"]) == (status, detail)
    assert await stream_messages(bus) == 0


async def test_a_multipart_body_without_a_file_is_refused(bus, tmp_path):
    async with serving(bus, tmp_path) as client:
        response = await client.post("/leads/upload", data={"comment": "forgot the file"}, files={})
        no_file = await client.post(
            "/leads/upload",
            content=b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz--\r\n',
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        )
    assert response.status_code == 415  # a urlencoded form is not a CSV
    assert no_file.status_code == 422
    assert no_file.json()["detail"] == (
        "the multipart body has no file: send the CSV in a field named 'file'"
    )


async def test_a_failure_mid_file_leaves_only_valid_leads_and_a_retry_completes(bus, tmp_path):
    # The stream takes five messages and then refuses: the event store failing mid-file.
    await bus.js.update_stream(
        StreamConfig(
            name=bus.stream,
            subjects=[ALL_SUBJECTS],
            storage=StorageType.FILE,
            max_msgs=5,
            discard=DiscardPolicy.NEW,
            allow_direct=True,
        )
    )
    body = csv_body(*(lead_row(index) for index in range(12)))
    async with serving(bus, tmp_path, {"PUBLISH_CHUNK_ROWS": "3"}) as client:
        interrupted = await client.post("/leads/upload", content=body, headers=CSV)
        assert interrupted.status_code == 503
        problem = interrupted.json()
        stored = await imported_events(bus)
        await bus.ensure_stream()  # the store recovers
        retried = await client.post("/leads/upload", content=body, headers=CSV)
    assert problem["detail"].startswith("The import stopped near row")
    assert "The leads counted as imported are stored and valid" in problem["detail"]
    assert problem["report"]["counts"]["imported"] == len(stored) == 5
    assert [event.lead.business_name for event in stored] == [f"Business {i}" for i in range(5)]
    counts = retried.json()["counts"]
    assert (counts["imported"], counts["duplicate"]) == (7, 5)
    assert len(await imported_events(bus)) == 12
