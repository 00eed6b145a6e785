"""Reading the TwiML our webhook answers, as Twilio does, to find the media stream."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree


class TwimlError(ValueError):
    """The TwiML the application answered has no <Connect><Stream url=...>."""


def parse_stream_twiml(twiml: str) -> tuple[str, dict[str, str]]:
    """The stream URL and its parameters from `<Response><Connect><Stream>` TwiML."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError as exc:
        raise TwimlError(f"the TwiML is not XML: {exc}") from None
    stream = root.find("./Connect/Stream")
    if stream is None or not stream.get("url"):
        raise TwimlError("the TwiML has no <Connect><Stream url=...>")
    parameters = {
        parameter.get("name", ""): parameter.get("value", "")
        for parameter in stream.findall("Parameter")
    }
    return stream.get("url", ""), parameters
