import io
from pathlib import Path

from services.ingest.columns import KNOWN_COLUMNS
from services.ingest.csv_source import CsvSource
from services.ingest.domain import validate_row
from services.ingest.template import TEMPLATE_CSV

DATA = Path(__file__).parents[3] / "data"


def test_the_template_file_is_the_one_the_route_serves():
    assert (DATA / "templates" / "leads_template.csv").read_bytes() == TEMPLATE_CSV.encode()


def test_the_template_has_every_column_and_valid_examples():
    source = CsvSource(io.BytesIO(TEMPLATE_CSV.encode()))
    assert list(source.columns.known) == list(KNOWN_COLUMNS)
    results = [validate_row(r.number, r.cells, source.columns, "US") for r in source.rows()]
    assert [(valid is not None, issues) for valid, issues in results] == [(True, [])] * 2


def test_the_sample_is_about_25_valid_fictional_us_leads_across_zones_types_and_sizes():
    with (DATA / "test_sample.csv").open("rb") as stream:
        source = CsvSource(stream)
        results = [validate_row(r.number, r.cells, source.columns, "US") for r in source.rows()]
    leads = [valid.lead for valid, _ in results if valid is not None]
    assert len(leads) == len(results) >= 25
    assert all(lead.phone_number[5:9] == "5550" and lead.phone_number[9] == "1" for lead in leads)
    assert len({lead.phone_number for lead in leads}) == len(leads)
    zones = {zone for lead in leads for zone in lead.time_zones}
    assert {"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"} <= zones
    assert len({lead.business_type for lead in leads}) >= 10
    assert {lead.company_size for lead in leads} == {"small", "medium", "large"}
