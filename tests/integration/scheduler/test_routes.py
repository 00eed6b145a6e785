"""The scheduler's routes over real HTTP: answers a person can act on, nothing half-done."""

from datetime import UTC, datetime

from tests.integration.scheduler.support import StandInCarrier, running_scheduler
from tests.integration.scheduler.test_campaign import lead

SATURDAY_NOON_NEW_YORK = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)
WEDNESDAY_10AM_NEW_YORK = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


async def test_bad_requests_name_the_field_and_change_nothing(bus):
    await bus.publish_many([lead(1), lead(2)])
    async with running_scheduler(bus, SATURDAY_NOON_NEW_YORK) as api:
        typo = await api.post("/campaign/start", json={"busines_type": "Retail"})
        hours = await api.post("/campaign/start", json={"call_hours_start": "5pm"})
        nothing = await api.post("/campaign/start", json={"business_type": "Aerospace"})
        unknown = await api.get("/campaign/status", params={"campaign_id": "0" * 32})
        none_yet = await api.get("/campaign/status")
        dnc = await api.post(
            "/dnc/upload", content="name\nBob\n", headers={"content-type": "text/csv"}
        )
    assert typo.status_code == 400
    assert "busines_type" in typo.text
    assert hours.status_code == 422
    assert hours.json()["detail"].startswith("call_hours_start/call_hours_end: calling hours")
    assert nothing.status_code == 422
    assert nothing.json()["detail"] == (
        "no lead matches the campaign's filters (excluded: 2 not the requested business_type)"
    )
    assert unknown.status_code == 404
    assert (
        unknown.json()["detail"] == f"campaign_id: no campaign {'0' * 8}-0000-0000-0000-{'0' * 12}"
    )
    assert (none_yet.status_code, none_yet.json()["detail"]) == (404, "no campaign yet")
    assert dnc.status_code == 422
    assert dnc.json()["detail"].startswith("the file has no phone column")
    assert (await bus.js.stream_info(bus.stream)).state.messages == 2  # nothing published


async def test_on_a_saturday_the_campaign_waits_and_says_until_when(bus):
    await bus.publish_many([lead(1), lead(2)])
    carrier = StandInCarrier(bus)
    async with carrier.running(), running_scheduler(bus, SATURDAY_NOON_NEW_YORK) as api:
        await api.post("/campaign/start", json={"name": "Weekend"})
        status = (await api.get("/campaign/status")).json()
        pending = (await api.get("/leads/pending", params={"limit": 1})).json()
    assert carrier.requests == []
    assert (status["state"], status["next_call_at"]) == (
        "paused outside hours",
        "2026-03-09T13:00:00Z",  # Monday 09:00 in New York
    )
    assert (pending["total"], len(pending["leads"]), pending["leads"][0]["why"]) == (
        2,
        1,
        "never called",
    )


async def test_pause_resume_stop_and_retry(bus):
    await bus.publish_many([lead(n) for n in range(3)])
    carrier = StandInCarrier(bus, busy_first_attempt={lead(0).lead.phone_number})
    async with (
        carrier.running(),
        running_scheduler(bus, WEDNESDAY_10AM_NEW_YORK, MAX_ATTEMPTS="1") as api,
    ):
        await api.post("/campaign/start", json={"name": "Controls"})
        await carrier.wait_until(lambda: carrier.ended >= 3)
        finished = (await api.get("/campaign/status")).json()
        retried = await api.post("/campaign/retry", json={"statuses": ["busy"]})
        await carrier.wait_until(lambda: carrier.ended >= 4)
        again = (await api.get("/campaign/status")).json()
        paused = await api.post("/campaign/pause")
        stopped = await api.post("/campaign/stop", params={"hangup": "true"})
        resumed = await api.post("/campaign/resume")
    assert finished["progress"]["failed"] == 1  # busy, and only one attempt allowed
    assert retried.status_code == 200
    assert [(r.lead.phone_number, r.attempt) for r in carrier.requests][-1] == (
        lead(0).lead.phone_number,
        2,
    )
    assert again["progress"]["completed"] == 3
    assert again["state"] == "finished"
    assert paused.status_code == 409  # a finished campaign cannot be paused
    assert stopped.json()["state"] == "finished"
    assert resumed.status_code == 409


async def test_a_do_not_call_list_over_its_limit_gets_413_naming_the_setting(bus):
    numbers = "".join(f"(202) 555-01{n:02d}\n" for n in range(100))  # about 1.5 kB
    limit = "0.001"  # 1048 bytes
    async with running_scheduler(bus, WEDNESDAY_10AM_NEW_YORK, MAX_DNC_UPLOAD_MB=limit) as api:
        refused = await api.post(
            "/dnc/upload", content="phone\n" + numbers, headers={"content-type": "text/csv"}
        )
        within = await api.post(
            "/dnc/upload", content="phone\n" + numbers[:300], headers={"content-type": "text/csv"}
        )
    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == (
        "the upload is larger than the limit of 0.001 MB (MAX_DNC_UPLOAD_MB); "
        "split the file, or raise MAX_DNC_UPLOAD_MB"
    )
    assert (refused.json()["limit_bytes"], refused.json()["setting"]) == (1048, "MAX_DNC_UPLOAD_MB")
    assert within.json()["listed"] == 20
    assert (await bus.js.stream_info(bus.stream)).state.messages == 20  # only the list within
