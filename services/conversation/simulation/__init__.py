"""Simulated calls: the services and side channel that stand in for the vendors' voices."""
