from datetime import time

import pytest

from libs.events import TimeWindow
from services.ingest.call_window import BestCallTime, parse_call_window, read_best_call_time


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


@pytest.mark.parametrize(
    ("written", "days", "expected_window"),
    [
        ("Tue/Thu 2-4pm", (1, 3), window(time(14), time(16))),
        ("Mon-Fri 9am-12pm", (0, 1, 2, 3, 4), window(time(9), time(12))),
        ("weekdays after 3pm", (0, 1, 2, 3, 4), window(time(15), time(17))),
        ("Tuesday 10-11", (1,), window(time(10), time(11))),
        ("Mon, Wed & Fri afternoons", (0, 2, 4), window(time(12), time(17))),
        ("M-F 9-5", (0, 1, 2, 3, 4), window(time(9), time(17))),
        ("MWF mornings", (0, 2, 4), window(time(9), time(12))),
        ("T/Th 1-3", (1, 3), window(time(13), time(15))),
        ("Tue. - Thu. 2-4", (1, 2, 3), window(time(14), time(16))),
        ("best between 2 and 4 on Tuesdays", (1,), window(time(14), time(16))),
        ("Thurs", (3,), None),
        ("Weds", (2,), None),
        ("every Tuesday", (1,), None),
        ("weekends", (5, 6), None),
        ("the weekend", (5, 6), None),
        ("daily", (0, 1, 2, 3, 4, 5, 6), None),
        ("Fri-Mon", (0, 4, 5, 6), None),  # a range may run over the weekend
        ("9am-11am", (), window(time(9), time(11))),
    ],
)
def test_the_days_a_best_call_time_names_are_read_with_its_window(written, days, expected_window):
    assert read_best_call_time(written) == BestCallTime(window=expected_window, days=days)


@pytest.mark.parametrize(
    ("written", "days"),
    [
        ("not Fridays", (0, 1, 2, 3, 5, 6)),
        ("no Mondays or Fridays", (1, 2, 3, 5, 6)),
        ("weekdays except Monday", (1, 2, 3, 4)),
        ("Mon-Fri, not Wed", (0, 1, 3, 4)),
    ],
)
def test_days_someone_asked_not_to_be_called_on_are_taken_away(written, days):
    assert read_best_call_time(written).days == days


@pytest.mark.parametrize(
    ("written", "unread"),
    [
        ("2-4pm PST", ("PST",)),
        ("mornings or evenings", ("evenings",)),  # one window per lead: the first is kept
        ("not before 10", ("not",)),  # a "not" that takes away no day is not understood
        ("1st and 3rd Monday", ("1st", "3rd")),
        ("whenever works", ("whenever",)),
        ("we prefer afternoons", ("we",)),  # "we" is not Wednesday
        ("4pm-2pm", ("4pm", "2pm")),
    ],
)
def test_words_that_were_not_understood_are_kept_to_be_reported(written, unread):
    assert read_best_call_time(written).unread == unread


@pytest.mark.parametrize(
    ("written", "described"),
    [
        ("Tue/Thu 2-4pm", "14:00-16:00 on Tue, Thu"),
        ("weekends", "Sat, Sun"),
        ("after 6pm", "18:00-20:00"),
        ("whenever", "nothing"),
    ],
)
def test_a_reading_is_described_as_it_was_understood(written, described):
    assert read_best_call_time(written).describe() == described
