from datetime import UTC, datetime, timedelta

from services.scheduler.clock import SimulatedClock, next_weekday_start


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
