"""`python -m libs.events schema`: the JSON Schema of every event, for integrators."""

from __future__ import annotations

import sys

import msgspec

from libs.events.codec import event_schema

USAGE = "usage: python -m libs.events schema"


def main(argv: list[str]) -> int:
    if argv != ["schema"]:
        print(USAGE, file=sys.stderr)
        return 2
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(event_schema()), indent=2))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
