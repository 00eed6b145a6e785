"""Scripted prospects for simulated calls: who answers, and what they say when they do.

A persona is a pure function of a seed, the lead's number and the attempt, so a simulated
campaign replays the same way every time. Numbers that differ only in their last digits
get different personas, so a list of consecutive test numbers shows every kind.

The lines carry the cues the simulated sales policy listens for: "stop calling" / "take
me off your list" (opt-out), "yes" / "sounds good" / "works for me", with one of the
offered times ("the second one") or a day and time (accepting a meeting), "not
interested" (declining), "send me some information" / "maybe" (lukewarm), "call back
later" (callback). A prospect asked to choose again (the time they chose was just taken,
or was not free) takes the first time offered.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

PersonaKind = Literal[
    "no-answer",
    "busy",
    "voicemail",
    "interested",
    "lukewarm",
    "not-interested",
    "asks-to-be-removed",
    "carrier-failure",
]

# How the agent asks a prospect to pick one of the times it offered.
CHOOSE_CUE = "which suits you"

# The kinds a lead has on its first attempt, in the order consecutive numbers walk them.
FIRST_ATTEMPT_KINDS: tuple[PersonaKind, ...] = (
    "interested",
    "busy",
    "lukewarm",
    "no-answer",
    "not-interested",
    "voicemail",
    "asks-to-be-removed",
    "interested",
    "no-answer",
    "lukewarm",
    "busy",
    "carrier-failure",
)
# Who picks up on a later attempt, when a lead that did not answer first time does.
LATER_ANSWER_KINDS: tuple[PersonaKind, ...] = ("interested", "lukewarm", "not-interested")
UNREACHED_KINDS: frozenset[PersonaKind] = frozenset({"no-answer", "busy", "voicemail"})
ANSWERING_KINDS: frozenset[PersonaKind] = frozenset(
    {"interested", "lukewarm", "not-interested", "asks-to-be-removed"}
)

_LINES: dict[PersonaKind, tuple[tuple[str, ...], ...]] = {
    "interested": (
        (
            "Hello, {contact} speaking.",
            "Okay, I have a minute. What is this about?",
            "Interesting. We do miss a lot of calls when it gets busy.",
            "Yes, that sounds good. The second one works for me.",
        ),
        (
            "Hi, this is {contact}.",
            "Sure, go on.",
            "Yes, sounds good. Tuesday at 2pm works for me.",
        ),
        (
            "Hello, {contact} here.",
            "Go ahead, I'm listening.",
            "That could help us, to be honest.",
            "Hmm, none of those times work for me. Send me some information by email.",
        ),
    ),
    "lukewarm": (
        (
            "Hello, {contact} here.",
            "Hmm, maybe. We are pretty stretched at the moment.",
            "Can you send me some information by email? I will take a look.",
        ),
        (
            "Yes, hello?",
            "I'm not sure, maybe later in the year.",
            "Send me some information and call back later, please.",
        ),
    ),
    "not-interested": (
        ("Hello?", "Sorry, we are not interested. Thanks anyway."),
        ("{contact} speaking.", "Who is this?", "No, we're not interested, thank you."),
    ),
    "asks-to-be-removed": (
        ("Hello?", "Please stop calling me and take me off your list."),
        ("Yes?", "Not again. Take me off your list and stop calling this number."),
    ),
    "voicemail": (
        ("Hi, you've reached {business}. Please leave a message after the tone.",),
        ("You have reached the voicemail of {contact}. Leave a message and I'll call back.",),
    ),
}


class Persona(msgspec.Struct, frozen=True, kw_only=True):
    """How one attempt to reach one lead goes, from the prospect's side."""

    kind: PersonaKind
    lines: tuple[str, ...] = ()  # what the prospect (or the machine) says, in order
    ring_seconds: float = 0.0  # before answering, or before giving up on a no-answer
    voice_seed: int = 0  # the seed of the prospect's simulated voice
    # Said when, after the lines, the agent asks to choose among times again.
    choice_line: str = ""

    @property
    def answers(self) -> bool:
        return self.kind == "voicemail" or self.kind in ANSWERING_KINDS

    @property
    def answered_by_machine(self) -> bool:
        return self.kind == "voicemail"

    def asked_to_choose(self, agent_line: str) -> bool:
        return bool(self.choice_line) and CHOOSE_CUE in agent_line.casefold()


def choose_persona(
    seed: int,
    phone_number: str,
    attempt: int,
    *,
    contact_name: str = "",
    business_name: str = "",
) -> Persona:
    """The persona for one attempt at one lead; the same inputs always give the same one."""
    lead_hash = _hash(seed, phone_number)
    kind = _kind(seed, phone_number, attempt, lead_hash)
    variants = _LINES.get(kind, ((),))
    lines = variants[(lead_hash >> 8) % len(variants)]
    contact = contact_name.split(" ")[0] if contact_name else "the owner"
    business = business_name or "our office"
    return Persona(
        kind=kind,
        lines=tuple(line.format(contact=contact, business=business) for line in lines),
        ring_seconds=_ring_seconds(kind, lead_hash),
        choice_line="The first one works for me, thank you." if kind == "interested" else "",
        voice_seed=_hash(seed, f"{phone_number}/{attempt}/voice") % (2**31),
    )


def _kind(seed: int, phone_number: str, attempt: int, lead_hash: int) -> PersonaKind:
    digits = "".join(character for character in phone_number if character.isdigit())
    position = (int(digits[-6:] or "0") + seed) % len(FIRST_ATTEMPT_KINDS)
    first = FIRST_ATTEMPT_KINDS[position]
    if attempt <= 1 or first not in UNREACHED_KINDS:
        return first
    # Some leads who did not pick up first time do later: the retries are worth watching.
    answers_from_attempt = (2, 2, 3, 0)[(lead_hash >> 16) % 4]  # 0: never picks up
    if answers_from_attempt and attempt >= answers_from_attempt:
        return LATER_ANSWER_KINDS[(lead_hash >> 24) % len(LATER_ANSWER_KINDS)]
    return first


def _ring_seconds(kind: PersonaKind, lead_hash: int) -> float:
    if kind == "carrier-failure":
        return 0.0
    if kind == "no-answer":
        return 20.0  # the ring timeout usually ends it first
    if kind == "busy":
        return 1.0
    return 2.0 + (lead_hash % 40) / 10  # 2.0-5.9 s, like a person reaching for the phone


def _hash(seed: int, text: str) -> int:
    digest = hashlib.sha256(f"{seed}/{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
