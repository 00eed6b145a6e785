"""What the model may pass each tool, and the checks an argument must pass before the call
acts on it.

The model's arguments are untrusted input, as much as the lead data it was shown: a model
can be wrong, or talked into something. Each tool's arguments are a msgspec Struct whose
constraints are those of the events they end up in (the interest levels OutcomeRecorded
allows, bounded text); what only the call can judge (whether a time is still ahead,
whether a meeting was really booked) is checked against the call. A refusal names the
field and the rule, so that the model can correct it.

Pure: no I/O, no clock (the call's time is an argument).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo

import msgspec
import msgspec.inspect

from libs.events.model import InterestLevel
from services.conversation.domain import CALLBACK_HORIZON

SUMMARY_LIMIT = 1500  # "two or three sentences", with room to spare
NOTES_LIMIT = 1000
NEXT_STEPS_LIMIT = 500
TIME_LIMIT = 64  # an ISO 8601 date and time is 25 characters

_BOOKED = (
    "True only when book_meeting has booked a meeting on this call; a meeting that was "
    "not booked with book_meeting is refused"
)
_BOOKED_TIME = "The time book_meeting booked on this call, in ISO 8601 with its offset, if any"
_AROUND = (
    "Only when the prospect named a day and time: it, as their local date and time in "
    "ISO 8601 without an offset, e.g. 2026-03-10T14:00; the free times nearest it come first"
)
_SLOT = "The slot token of a time check_availability offered on this call, e.g. slot-2"
_SUMMARY = (
    "Two or three sentences for the sales team: who you spoke with, what they need, "
    "how interested they are, any meeting or callback with its day and time"
)
_CALLBACK_TIME = (
    "When to call back, as the prospect's local date and time in ISO 8601 without an "
    f"offset, e.g. 2026-03-10T14:00; in the future, at most {CALLBACK_HORIZON.days} days ahead"
)


Summary = Annotated[str, msgspec.Meta(max_length=SUMMARY_LIMIT, description=_SUMMARY)]
Notes = Annotated[str, msgspec.Meta(max_length=NOTES_LIMIT)]
NextSteps = Annotated[str, msgspec.Meta(max_length=NEXT_STEPS_LIMIT)]
BookedTime = Annotated[str, msgspec.Meta(max_length=TIME_LIMIT, description=_BOOKED_TIME)]
AroundTime = Annotated[str, msgspec.Meta(max_length=TIME_LIMIT, description=_AROUND)]
SlotToken = Annotated[str, msgspec.Meta(max_length=16, description=_SLOT)]
CallbackTime = Annotated[str, msgspec.Meta(max_length=TIME_LIMIT, description=_CALLBACK_TIME)]


# Times stay strings here: Python reads more ISO 8601 spellings than RFC 3339 (a time
# without seconds, say), and the call, not the decoder, says why a time cannot be booked.
class RecordOutcomeArguments(msgspec.Struct, frozen=True, kw_only=True):
    interest_level: InterestLevel
    scheduled_meeting: Annotated[bool, msgspec.Meta(description=_BOOKED)] = False
    meeting_time: BookedTime | None = None
    next_steps: NextSteps = ""
    notes: Notes = ""
    summary: Summary = ""


class CheckAvailabilityArguments(msgspec.Struct, frozen=True, kw_only=True):
    around: AroundTime | None = None


class BookMeetingArguments(msgspec.Struct, frozen=True, kw_only=True):
    slot: SlotToken


class ScheduleCallbackArguments(msgspec.Struct, frozen=True, kw_only=True):
    # A local time, not an instant: the zone knows the offset on that day better than the
    # model does (a callback across a clock change keeps its wall-clock time).
    callback_time: CallbackTime


class OptOutArguments(msgspec.Struct, frozen=True, kw_only=True):
    pass


class EndCallArguments(msgspec.Struct, frozen=True, kw_only=True):
    reason: Literal["goodbye", "voicemail"] = "goodbye"


class ArgumentRefusedError(ValueError):
    """Arguments the call will not act on; names the field at fault and why."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field


Arguments = TypeVar("Arguments", bound=msgspec.Struct)


def decode_arguments(raw: Mapping[str, object], arguments: type[Arguments]) -> Arguments:
    """The model's arguments as their Struct, or a refusal saying which rule they broke."""
    try:
        # Not strict: "true" for a boolean is still a yes.
        return msgspec.convert(dict(raw), arguments, strict=False)
    except msgspec.ValidationError as error:
        field = _field_named(str(error))
        raise ArgumentRefusedError(field, _explained(error, arguments, field, raw)) from None


def around_instant(value: str | None, zone: ZoneInfo) -> datetime | None:
    """The moment a prospect named, read in their zone; a time with an offset is read as
    that instant. None for nothing, or for what is not a date and time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ArgumentRefusedError(
            "around", f"{value!r} is not an ISO 8601 local date and time, like 2026-03-10T14:00"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def check_meeting_claim(args: RecordOutcomeArguments, booked: datetime | None) -> None:
    """An outcome may speak of a meeting only as the one schedule_meeting booked on this
    call: the model's word alone books nothing."""
    claimed_time = args.meeting_time or None  # models send "" for an optional string
    if booked is None and (args.scheduled_meeting or claimed_time is not None):
        field = "scheduled_meeting" if args.scheduled_meeting else "meeting_time"
        raise ArgumentRefusedError(
            field,
            "no meeting was booked on this call. Only book_meeting books one, once the "
            "prospect has chosen an offered time; otherwise record scheduled_meeting false",
        )
    if booked is not None and claimed_time is not None and _offset_time(claimed_time) != booked:
        raise ArgumentRefusedError(
            "meeting_time",
            f"the meeting booked on this call is at {booked.isoformat()}, not "
            f"{claimed_time}; a booked meeting is moved by the sales team, not on the call",
        )


def _offset_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# msgspec names the field as "at `$.interest_level`", or "missing required field `x`".
_FIELD = re.compile(r"`\$\.([A-Za-z_][A-Za-z0-9_]*)|field `([^`]+)`")


def _field_named(message: str) -> str | None:
    match = _FIELD.search(message)
    return (match[1] or match[2]) if match else None


def _explained(
    error: msgspec.ValidationError,
    arguments: type[msgspec.Struct],
    field: str | None,
    raw: Mapping[str, object],
) -> str:
    """msgspec's message, or a plainer one for the rules a model breaks most."""
    kind = _field_type(arguments, field) if field else None
    value = raw.get(field) if field else None
    if isinstance(kind, msgspec.inspect.LiteralType) and field in raw:
        # In the order the event type lists them (high, medium, low), not sorted.
        [hint] = [f.type for f in msgspec.structs.fields(arguments) if f.name == field]
        allowed = ", ".join(str(choice) for choice in get_args(hint) or kind.values)
        return f"must be one of {allowed}; got {value!r}"
    limit = kind.max_length if isinstance(kind, msgspec.inspect.StrType) else None
    if limit is not None and isinstance(value, str) and len(value) > limit:
        return f"must be at most {limit} characters; got {len(value)}"
    return str(error)


def _field_type(arguments: type[msgspec.Struct], field: str) -> msgspec.inspect.Type | None:
    info = msgspec.inspect.type_info(arguments)
    assert isinstance(info, msgspec.inspect.StructType)
    for candidate in info.fields:
        if candidate.name == field:
            kind = candidate.type
            if isinstance(kind, msgspec.inspect.UnionType):
                # An optional field: the rule is its one type besides None.
                others = [t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)]
                kind = others[0] if len(others) == 1 else kind
            # A description wraps the type it describes.
            return kind.type if isinstance(kind, msgspec.inspect.Metadata) else kind
    return None
