"""Each booking's invite, mailed once to both sides when an SMTP server is configured."""

from __future__ import annotations

from libs.bus import ConsumerSettings
from libs.events import MeetingBooked, MeetingCanceled, subject_filter

CONSUMER = ConsumerSettings(
    durable="meeting-mail",
    subjects=(subject_filter(MeetingBooked), subject_filter(MeetingCanceled)),
)
