"""`python -m services.ingest` serves ingest alone; `... import FILE` imports one file."""

from __future__ import annotations

import sys

from libs.runtime.main import run_services
from services.ingest.plugin import build_plugin

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "import":
        from services.ingest.cli import main

        raise SystemExit(main(sys.argv[2:]))
    raise SystemExit(run_services(lambda environ: [build_plugin(environ)], name="ingest"))
