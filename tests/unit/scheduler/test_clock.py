from datetime import UTC, datetime, timedelta

from libs.runtime.simulation import carrier_is_simulated
from services.scheduler.clock import SimulatedClock, next_weekday_start

TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC123",
    "TWILIO_AUTH_TOKEN": "secret",
    "TWILIO_FROM_NUMBER": "+12025550100",
    "WEBHOOK_BASE_URL": "https://dialer.example.com",
}


def test_the_carrier_is_simulated_unless_twilio_is_fully_configured():
    assert carrier_is_simulated({})
    assert carrier_is_simulated({**TWILIO, "WEBHOOK_BASE_URL": ""})
    assert not carrier_is_simulated(TWILIO)
    assert carrier_is_simulated({**TWILIO, "SIMULATION": "1"})


def test_a_simulated_day_starts_on_a_working_morning_across_the_us():
    friday = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert next_weekday_start(friday) == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # Tuesday
    assert next_weekday_start(datetime(2026, 7, 7, 3, 0, tzinfo=UTC)).weekday() == 2


def test_the_simulated_clock_only_jumps_forward():
    start = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    clock = SimulatedClock(start)
    assert abs(clock() - start) < timedelta(seconds=5)
    assert clock.skip_to(start - timedelta(hours=1)) == timedelta(0)
    clock.skip_to(start + timedelta(hours=2))
    assert clock() >= start + timedelta(hours=2)
