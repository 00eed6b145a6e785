"""The simulated carrier for MODE=simulation: Twilio and the prospects, played in-process.

Only the composition in services/telephony/plugin.py reaches in here, and only once the
simulation is chosen: a live process never loads this package nor what it needs
(libs.simulation, and numpy for the voices).
"""
