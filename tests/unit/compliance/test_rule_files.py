"""Rules and holidays are data: a file that cannot be used stops the process, naming the line."""

import pytest

from libs.compliance.loading import load_law
from libs.runtime.settings import SettingsError

HEADER = "region,days,hours,max_calls_per_24h,state_holidays,source,note\n"


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("US-FL,mon-sun,08:00-25:00,3,,Fla. Stat.,\n", 3, "hours '08:00-25:00' must look like"),
        ("US-FL,someday,08:00-20:00,,,Fla. Stat.,\n", 3, "days 'someday' must be day names"),
        ("US-FL,mon-sun,08:00-20:00,,,,\n", 3, "source is empty"),
        ("US-FL,mon-sun,08:00-20:00,three,,Fla.,\n", 3, "max_calls_per_24h 'three'"),
        ("US-FL,mon-sun,08:00-20:00\n", 3, "expected 7 cells"),
    ],
)
def test_a_broken_rules_file_names_its_file_line_and_problem(tmp_path, body, line, problem):
    path = tmp_path / "rules.csv"
    path.write_text("# our own rules\n" + HEADER + body)
    with pytest.raises(SettingsError) as raised:
        load_law({"CALLING_RULES_PATH": str(path)})
    assert f"{path}, line {line}: {problem}" in str(raised.value)


def test_a_broken_holiday_file_names_its_line(tmp_path):
    path = tmp_path / "holidays.csv"
    path.write_text("date,name,region\n2026-12-24,Christmas Eve,\n2026-13-01,Nonsense,\n")
    with pytest.raises(SettingsError, match=r"holidays.csv, line 3: date '2026-13-01'"):
        load_law({"HOLIDAYS_PATH": str(path)})


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match=r"nowhere\.csv.*cannot be read"):
        load_law({"CALLING_RULES_PATH": str(tmp_path / "nowhere.csv")})


def test_the_bundled_rules_cite_a_source_on_every_row():
    law = load_law({})
    assert law.regional.rules, "the bundled file has rows"
    assert all(rule.source for rule in law.regional.rules)
    assert {"US-FL", "US-OK", "US-MD", "US-TX", "CA"} <= {r.region for r in law.regional.rules}
