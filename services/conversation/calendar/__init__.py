"""The team's calendar: free slots offered during a call, and bookings that cannot clash.

Bookings are facts on the stream (MeetingBooked, MeetingCanceled), reserved by
compare-and-set on each slot's own subject; an external calendar (CalDAV) adds its busy
times and receives each booking as an event.
"""
