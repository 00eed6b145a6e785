"""`python -m libs.bus permissions`: the nats-server users and permissions of every service."""

from __future__ import annotations

import sys

from libs.bus.authorization import render_authorization

USAGE = "usage: python -m libs.bus permissions"


def main(argv: list[str]) -> int:
    if argv != ["permissions"]:
        print(USAGE, file=sys.stderr)
        return 2
    sys.stdout.write(render_authorization())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
