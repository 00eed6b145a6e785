"""Scheduler: campaigns, the calling window and the dispatcher that requests calls."""
