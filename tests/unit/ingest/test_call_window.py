from datetime import time

import pytest

from libs.events import TimeWindow
from services.ingest.call_window import parse_call_window


def window(start: time, end: time) -> TimeWindow:
    return TimeWindow(start=start, end=end)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("9am-11am", window(time(9), time(11))),
        ("9-11am", window(time(9), time(11))),
        ("10:00-12:00", window(time(10), time(12))),
        ("14:00\u201316:00", window(time(14), time(16))),
        ("2pm - 4pm", window(time(14), time(16))),
        ("2-4pm", window(time(14), time(16))),
        ("2-4", window(time(14), time(16))),  # a bare 1..7 is afternoon
        ("11-1pm", window(time(11), time(13))),
        ("12-2", window(time(12), time(14))),
        ("noon-2pm", window(time(12), time(14))),
        ("9:30am to 11", window(time(9, 30), time(11))),
        ("9.30-11.30", window(time(9, 30), time(11, 30))),
        ("Tue/Thu 1-3pm", window(time(13), time(15))),
        ("afternoons", window(time(12), time(17))),
        ("Mornings", window(time(9), time(12))),
        ("late afternoon", window(time(15), time(17))),
        ("lunch", window(time(12), time(13))),
        ("after 2pm", window(time(14), time(17))),
        ("after 6pm", window(time(18), time(20))),
        ("before 11am", window(time(9), time(11))),
    ],
)
def test_best_call_times_are_read_as_local_windows(written, expected):
    assert parse_call_window(written) == expected


@pytest.mark.parametrize("written", ["", "whenever", "call me maybe", "25-26", "4pm-2pm"])
def test_unreadable_times_give_no_window(written):
    assert parse_call_window(written) is None
