"""The lead CSV template: the original system's columns and two example rows."""

from __future__ import annotations

from services.ingest.columns import KNOWN_COLUMNS

TEMPLATE_CSV = (
    ",".join(KNOWN_COLUMNS)
    + "\r\n"
    + "Rosa's Trattoria,(202) 555-0143,Rosa Marino,Restaurant,small,"
    + '"Missed reservations during the dinner rush",2pm-4pm,pending\r\n'
    + "Summit Dental Care,+1 303 555 0178,Dr. Alan Reyes,Healthcare,11-50 employees,"
    + '"No-shows and manual appointment reminders",mornings,pending\r\n'
)
