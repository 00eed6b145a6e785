"""The calls this process is carrying: the sweeper leaves them to finish, and the carrier's
answering machine verdict, when it comes after the stream opened, reaches its call."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol
from uuid import UUID

from loguru import logger
from nats.aio.msg import Msg

from libs.events import AnswerClassified, CallRequested, MalformedEventError, decode_event
from libs.events.model import AnsweredBy

# Verdicts heard for calls not carried (yet): a verdict stored between admission's look-up
# and the call's registration would otherwise be missed. Another replica's calls' too, so
# only the latest few are kept.
REMEMBERED_VERDICTS = 256


class LiveCall(Protocol):
    request: CallRequested
    answered_by: AnsweredBy

    async def machine_detected(self) -> None: ...


class LiveCalls:
    def __init__(self) -> None:
        self._calls: dict[UUID, LiveCall] = {}
        self._machines: OrderedDict[UUID, None] = OrderedDict()

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def __len__(self) -> int:
        return len(self._calls)

    @contextmanager
    def carrying(self, call: LiveCall) -> Iterator[None]:
        """While the call runs and its record is stored."""
        call_id = call.request.call_id
        if self._machines.pop(call_id, "absent") is None:
            call.answered_by = "machine"  # not started yet: its opening leaves the message
        self._calls[call_id] = call
        try:
            yield
        finally:
            self._calls.pop(call_id, None)

    async def on_classified(self, message: Msg) -> None:
        """A plain subscription's callback for every AnswerClassified, as it is stored."""
        try:
            event = decode_event(message.data, message.subject)
        except MalformedEventError as exc:
            logger.warning("Ignoring {subject}: {error}", subject=message.subject, error=str(exc))
            return
        if not isinstance(event, AnswerClassified) or event.answered_by != "machine":
            return
        call = self._calls.get(event.call_id)
        if call is None:
            self._machines[event.call_id] = None
            while len(self._machines) > REMEMBERED_VERDICTS:
                self._machines.popitem(last=False)
            return
        with logger.contextualize(call_id=str(event.call_id), lead_id=str(event.lead_id)):
            await call.machine_detected()
