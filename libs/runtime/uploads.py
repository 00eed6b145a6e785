"""Receiving a CSV upload onto disk as it arrives: a multipart file field or a raw body.
Leads and do-not-call lists arrive the same way, through `receive_upload`.

Nothing is imported until the whole upload is in, so a dropped connection imports
nothing, and the size limit is enforced on the bytes themselves, not on what the client
declared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO

from multipart import MultipartSegment, ParserError, PushMultipartParser

# What browsers, curl and spreadsheets send for a CSV; anything else is refused with 415.
CSV_MEDIA_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/plain",
        "text/tab-separated-values",
        "application/vnd.ms-excel",  # what Windows calls a .csv
        "application/octet-stream",
        "",
    }
)
MULTIPART = "multipart/form-data"
FILE_FIELD = "file"
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file itself


@dataclass(frozen=True, slots=True)
class UploadLimit:
    """How big one route's uploads may be, and the variable that says so."""

    megabytes: float
    variable: str  # named in the 413, so that whoever hits it knows what to change
    advice: str = "split the file"

    @property
    def max_bytes(self) -> int:
        return int(self.megabytes * 1024 * 1024)


class UploadTooLargeError(ValueError):
    def __init__(self, limit: UploadLimit) -> None:
        super().__init__(
            f"the upload is larger than the limit of {limit.megabytes:g} MB ({limit.variable}); "
            f"{limit.advice}, or raise {limit.variable}"
        )
        self.limit = limit

    def problem_extra(self) -> dict[str, object]:
        return {"limit_bytes": self.limit.max_bytes, "setting": self.limit.variable}


class MalformedUploadError(ValueError):
    """The multipart body cannot be read, or it holds no file."""


class NotACsvUploadError(ValueError):
    def __init__(self, media_type: str) -> None:
        super().__init__(
            f"expected a CSV file (text/csv or a multipart file upload), got {media_type}"
        )


async def receive_upload(
    headers: Mapping[str, str], chunks: AsyncIterator[bytes], sink: BinaryIO, limit: UploadLimit
) -> str:
    """Write the uploaded file to `sink` as it arrives; return its name as the client gave
    it (without directories), or "upload.csv"."""
    media_type, options = content_type(headers.get("content-type", ""))
    if media_type == MULTIPART and options.get("boundary"):
        filename = await receive_multipart(chunks, options["boundary"], sink, limit)
    elif media_type in CSV_MEDIA_TYPES:
        await receive_body(chunks, sink, limit)
        filename = headers.get("x-filename", "")
    else:
        raise NotACsvUploadError(media_type)
    return safe_name(filename, default="upload.csv")


def content_type(header: str) -> tuple[str, dict[str, str]]:
    media_type, _, rest = header.partition(";")
    options = {}
    for option in rest.split(";"):
        key, _, value = option.strip().partition("=")
        if key:
            options[key.lower()] = value.strip().strip('"')
    return media_type.strip().lower(), options


def safe_name(filename: str | None, default: str) -> str:
    """The file's own name without any directory a browser or a client put in front."""
    if not filename:
        return default
    name = PureWindowsPath(PurePosixPath(filename).name).name.strip()
    return name[:200] or default


async def receive_body(chunks: AsyncIterator[bytes], sink: BinaryIO, limit: UploadLimit) -> None:
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit.max_bytes:
            raise UploadTooLargeError(limit)
        sink.write(chunk)


async def receive_multipart(
    chunks: AsyncIterator[bytes], boundary: str, sink: BinaryIO, limit: UploadLimit
) -> str:
    """Write the first file field's content to `sink`; return its file name."""
    received = written = 0
    filename: str | None = None
    in_file = False
    try:
        with PushMultipartParser(boundary, max_segment_count=16) as parser:
            async for chunk in chunks:
                received += len(chunk)
                if received > limit.max_bytes + _MULTIPART_OVERHEAD:
                    raise UploadTooLargeError(limit)
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        in_file = filename is None and (part.filename or part.name == FILE_FIELD)
                        if in_file:
                            filename = part.filename or "upload.csv"
                    elif part and in_file:
                        written += len(part)
                        if written > limit.max_bytes:
                            raise UploadTooLargeError(limit)
                        sink.write(part)
                    elif part is None:
                        in_file = False
    except ParserError as exc:
        raise MalformedUploadError(f"the multipart body cannot be read: {exc}") from None
    if filename is None:
        raise MalformedUploadError(
            f"the multipart body has no file: send the CSV in a field named {FILE_FIELD!r}"
        )
    return filename
