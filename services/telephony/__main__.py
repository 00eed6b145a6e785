"""`python -m services.telephony`: the telephony service alone, against NATS_URL."""

from __future__ import annotations

from libs.runtime.main import run_services
from services.telephony.plugin import build_plugin

if __name__ == "__main__":
    raise SystemExit(run_services(lambda environ: [build_plugin(environ)], name="telephony"))
