import pytest

from services.ingest.vocabulary import OTHER, business_type_for, company_size_for


@pytest.mark.parametrize(
    ("written", "known"),
    [
        ("Restaurant", "Restaurant"),
        ("restaurant", "Restaurant"),
        ("Italian restaurant", "Restaurant"),
        ("Coffee shop", "Restaurant"),
        ("Dental clinic", "Healthcare"),
        ("HEALTHCARE", "Healthcare"),
        ("Boutique", "Retail"),
        ("Law firm", "Professional Services"),
        ("Hair salon", "Fitness & Wellness"),
        ("IT services", "Technology"),
        ("HVAC contractor", "Home Services"),
        ("Auto repair", "Automotive"),
        ("Hotel", "Hospitality"),
        ("Insurance agency", "Financial Services"),
        ("real-estate", "Real Estate"),
    ],
)
def test_business_types_and_their_synonyms_map_onto_the_known_set(written, known):
    assert business_type_for(written) == known


@pytest.mark.parametrize("written", ["Pet grooming", "Funeral home", "", "???"])
def test_anything_else_is_other(written):
    assert business_type_for(written) == OTHER


@pytest.mark.parametrize(
    ("written", "size"),
    [
        ("small", "small"),
        ("Small ", "small"),
        ("SMB", "small"),
        ("Medium", "medium"),
        ("mid-size", "medium"),
        ("LARGE", "large"),
        ("Enterprise", "large"),
        ("12", "small"),
        ("12 employees", "small"),
        ("49", "small"),
        ("50", "medium"),
        ("249 staff", "medium"),
        ("250", "large"),
        ("1,200", "large"),
        ("2k", "large"),
        ("10-50", "small"),  # a range counts by its midpoint
        ("50-200", "medium"),
        ("200-500 employees", "large"),
        ("500+", "large"),
        ("about 30 staff", "small"),
        ("", "unknown"),
        ("n/a", "unknown"),
    ],
)
def test_company_sizes_accept_common_spellings_and_employee_counts(written, size):
    assert company_size_for(written) == size


@pytest.mark.parametrize("written", ["huge", "lots", "1-2-3-4"])
def test_a_size_that_means_nothing_known_is_none(written):
    assert company_size_for(written) is None
