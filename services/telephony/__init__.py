"""Telephony: places the calls (Twilio or the simulated carrier) and reports their fate."""
