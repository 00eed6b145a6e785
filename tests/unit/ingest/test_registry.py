import random
from uuid import UUID, uuid4

from services.ingest.registry import LeadRegistry


def test_a_lead_is_new_then_a_duplicate_then_updated_when_its_details_change():
    registry, lead, event, changed = LeadRegistry(), uuid4(), uuid4(), uuid4()
    first, second, third = (registry.next_import() for _ in range(3))
    assert registry.classify(lead, event, first) == "new"
    assert registry.classify(lead, event, second) == "duplicate"
    assert registry.classify(lead, changed, third) == "updated"


def test_a_number_repeated_within_one_import_is_repeated_and_the_first_row_wins():
    registry, lead, event = LeadRegistry(), uuid4(), uuid4()
    this_import = registry.next_import()
    assert registry.classify(lead, event, this_import) == "new"
    assert registry.classify(lead, uuid4(), this_import) == "repeated"
    assert registry.classify(lead, event, registry.next_import()) == "duplicate"


def test_what_the_stream_says_is_known_across_restarts():
    registry, lead, event = LeadRegistry(), uuid4(), uuid4()
    registry.observe(lead.int, event.int)
    assert registry.classify(lead, event, registry.next_import()) == "duplicate"


def test_the_echo_of_an_own_import_does_not_hide_a_repeat_later_in_the_file():
    registry, lead, event = LeadRegistry(), uuid4(), uuid4()
    this_import = registry.next_import()
    registry.classify(lead, event, this_import)
    registry.observe(lead.int, event.int)  # our own event, read back from the stream mid-file
    assert registry.classify(lead, event, this_import) == "repeated"


def test_restoring_a_snapshot_forgets_an_event_that_was_not_stored():
    registry, lead = LeadRegistry(), uuid4()
    snapshot = registry.snapshot(lead)
    registry.classify(lead, uuid4(), registry.next_import())
    registry.restore(lead, snapshot)
    assert (registry.knows(lead), len(registry)) == (False, 0)


def test_the_compact_store_agrees_with_a_plain_dictionary_through_many_merges():
    registry, model = LeadRegistry(merge_at=16), {}
    rng = random.Random(7)
    leads = [uuid4() for _ in range(500)]
    events = [UUID(int=value) for value in range(1, 6)]
    this_import = registry.next_import()
    for _ in range(20_000):
        lead, event, action = rng.choice(leads), rng.choice(events), rng.random()
        if action < 0.05:
            this_import = registry.next_import()
        elif action < 0.1:
            registry.restore(lead, None)
            model.pop(lead, None)
        else:
            assert registry.classify(lead, event, this_import) == _expected(
                model, lead, event, this_import
            )
        assert len(registry) == len(model)


def _expected(model, lead, event, this_import):
    previous = model.get(lead)
    if previous is not None and previous[1] == this_import:
        return "repeated"
    model[lead] = (event, this_import)
    if previous is None:
        return "new"
    return "duplicate" if previous[0] == event else "updated"
