"""Every fold over the stream names every event type: handled, or explicitly ignored.

A fold that matches on types with a catch-all (`case _`), or keyed on names, would let a
new or renamed event pass by unnoticed. This reads each fold's `match` and compares.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from libs.events import EVENT_TYPES

ROOT = Path(__file__).parents[2]
FOLDS = [
    (ROOT / "services/scheduler/state.py", "SchedulerState", "apply"),
    (ROOT / "services/analytics/domain.py", "ProjectionBatch", "add"),
    (ROOT / "libs/compliance/facts.py", "ComplianceFacts", "apply"),
]


def matched_types(path: Path, class_name: str, method: str) -> tuple[set[str], bool]:
    """The event classes the method's `match event` names, and whether it has a catch-all."""
    tree = ast.parse(path.read_text())
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    [function] = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == method]
    [match] = [n for n in ast.walk(function) if isinstance(n, ast.Match)]
    names: set[str] = set()
    catch_all = False

    def collect(pattern: ast.pattern) -> None:
        nonlocal catch_all
        if isinstance(pattern, ast.MatchClass) and isinstance(pattern.cls, ast.Name):
            names.add(pattern.cls.id)
        elif isinstance(pattern, ast.MatchOr):
            for option in pattern.patterns:
                collect(option)
        elif isinstance(pattern, ast.MatchAs) and pattern.pattern is None:
            catch_all = True

    for case in match.cases:
        collect(case.pattern)
    return names, catch_all


@pytest.mark.parametrize("fold", FOLDS, ids=[name for _, name, _ in FOLDS])
def test_the_fold_names_every_event_type_and_has_no_catch_all(fold):
    names, catch_all = matched_types(*fold)
    assert not catch_all, "list the events this fold ignores instead of `case _`"
    assert names == {kind.__name__ for kind in EVENT_TYPES}


def test_the_check_sees_a_missing_event_type_and_a_catch_all(tmp_path):
    source = tmp_path / "fold.py"
    source.write_text(
        "class Fold:\n"
        "    def apply(self, event):\n"
        "        match event:\n"
        "            case LeadImported() | LeadOptedOut():\n"
        "                pass\n"
        "            case _:\n"
        "                pass\n"
    )
    assert matched_types(source, "Fold", "apply") == ({"LeadImported", "LeadOptedOut"}, True)
