"""`python -m services.conversation`: the voice agent alone (run several behind a gateway)."""

from libs.runtime.main import run_services
from services.conversation.plugin import build_plugin

if __name__ == "__main__":
    raise SystemExit(run_services(lambda environ: [build_plugin(environ)], name="conversation"))
