"""The main job, as a user runs it: the demo over the sample leads, in a fresh data dir,
ends with readable results and a results file that keeps to the original definition."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from services.analytics.results_contract import contract_violations
from tests.e2e.test_all_in_one import free_port

ROOT = Path(__file__).parents[2]
TEMPLATE_MARK = "Automatic summary"  # the labelled last resort, when no model wrote one


def test_the_demo_reports_results_and_leaves_a_results_file_as_the_original_defines(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "API_TOKEN")}
    environment.update(
        {
            "DATA_DIR": str(tmp_path),
            "PORT": str(free_port()),
            "PYTHONPATH": str(ROOT),
            # Ringing at a third of its simulated time: who answers, and so the report,
            # is the same; the suite is shorter.
            "SIMULATION_PACE": "0.3",
        }
    )
    finished = subprocess.run(
        [sys.executable, "-m", "services", "demo"],
        cwd=ROOT,  # the sample leads are data/test_sample.csv
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    said = " ".join(finished.stdout.split())  # as read, whatever the terminal's width
    assert "Campaign results" in said
    assert "keeps to the original columns and values" in said
    text = (tmp_path / "results.csv").read_text()
    assert contract_violations(text) == []
    rows = list(csv.DictReader(io.StringIO(text)))
    talked = [row for row in rows if row["call_result"] == "answered"]  # a person, not a machine
    summaries = [row["conversation_summary"] for row in talked]
    assert summaries and all(summaries)
    assert not [
        s for s in summaries if s.startswith(TEMPLATE_MARK)
    ]  # the (simulated) model wrote them
