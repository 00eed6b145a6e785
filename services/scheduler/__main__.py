"""`python -m services.scheduler`: the scheduler alone, against NATS_URL."""

from libs.runtime.main import run_services
from services.scheduler.plugin import build_plugin

if __name__ == "__main__":
    raise SystemExit(run_services(lambda environ: [build_plugin(environ)], name="scheduler"))
