"""The services' NATS permissions: rendered from one table, committed as rendered, and in
line with the subjects the services' consumers really read."""

from __future__ import annotations

import pytest

from libs.bus.__main__ import main
from libs.bus.access import SERVICE_ACCESS, stream_manager_allowed
from libs.bus.authorization import render_authorization
from libs.bus.permissions import permissions_for
from libs.compliance.facts import SUBJECTS as COMPLIANCE_SUBJECTS
from libs.events import EVENT_TYPES, LeadImported, TurnRecorded, subject_filter
from libs.runtime.settings import RuntimeSettings, SettingsError, load_settings
from services.analytics.config import AnalyticsSettings
from services.conversation.calendar.mailer import CONSUMER as MEETING_MAIL
from services.conversation.sweeper import CONSUMER as SWEEPER
from services.scheduler.service import DURABLE as SCHEDULER_DURABLE
from services.scheduler.service import SUBJECTS as SCHEDULER_SUBJECTS
from services.telephony.worker import CONSUMER as TELEPHONY_CONSUMER
from tests.nats_users import PERMISSIONS


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    wanted, given = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(given) > index
        if index >= len(given) or token not in ("*", given[index]):
            return False
    return len(wanted) == len(given)


def may_publish(service: str, subject: str) -> bool:
    permissions = permissions_for(service)
    allowed = any(matches(pattern, subject) for pattern in permissions.publish_allow)
    return allowed and not any(matches(pattern, subject) for pattern in permissions.publish_deny)


def events_read_by(subject: str) -> set[str]:
    """The event types a consumer filtered on `subject` receives."""
    return {t.__name__ for t in EVENT_TYPES if matches(subject, subject_filter(t))}


def test_the_committed_permissions_are_what_the_table_renders():
    # Regenerate with: python -m libs.bus permissions > deploy/nats/permissions.conf
    assert PERMISSIONS.read_text() == render_authorization()


def test_the_command_prints_the_rendered_permissions(capsys):
    assert main(["permissions"]) == 0
    assert capsys.readouterr().out == render_authorization()
    assert main([]) == 2


def test_no_password_is_written_down():
    rendered = render_authorization()
    for service in SERVICE_ACCESS:
        assert f"password: $NATS_PASSWORD_{service.upper()}\n" in rendered
    assert rendered.count("password:") == len(SERVICE_ACCESS)


@pytest.mark.parametrize(
    ("service", "subjects"),
    [
        ("scheduler", SCHEDULER_SUBJECTS),
        ("telephony", (*TELEPHONY_CONSUMER.subjects, *COMPLIANCE_SUBJECTS)),
        ("ingest", (subject_filter(LeadImported),)),
        ("conversation", (*SWEEPER.subjects, subject_filter(TurnRecorded))),
    ],
)
def test_every_event_a_services_consumers_read_is_in_its_row(service, subjects):
    consumed = {t.__name__ for t in SERVICE_ACCESS[service].consumes}
    read = set().union(*(events_read_by(subject) for subject in subjects))
    assert read - consumed == set()


def test_the_durable_consumers_are_the_services_own():
    assert SERVICE_ACCESS["scheduler"].durables == (SCHEDULER_DURABLE,)
    assert SERVICE_ACCESS["telephony"].durables == (TELEPHONY_CONSUMER.durable,)
    assert SERVICE_ACCESS["analytics"].durables == (AnalyticsSettings().analytics_durable,)
    assert SERVICE_ACCESS["conversation"].durables == (SWEEPER.durable, MEETING_MAIL.durable)


@pytest.mark.parametrize("service", sorted(SERVICE_ACCESS))
def test_no_service_may_delete_purge_or_rewrite_the_stream(service):
    for call in ("STREAM.DELETE", "STREAM.PURGE", "STREAM.MSG.DELETE", "CONSUMER.PAUSE"):
        assert not may_publish(service, f"$JS.API.{call}.SALES"), call
    manages = service == "scheduler"
    assert may_publish(service, "$JS.API.STREAM.CREATE.SALES") is manages
    assert may_publish(service, "$JS.API.STREAM.UPDATE.SALES") is manages
    assert stream_manager_allowed(service) is manages


@pytest.mark.parametrize("service", sorted(SERVICE_ACCESS))
def test_a_service_may_use_its_own_durables_and_no_one_elses(service):
    for owner in ("scheduler", "telephony", "analytics"):
        calls = ["CONSUMER.MSG.NEXT", "CONSUMER.DELETE", "CONSUMER.INFO"]
        if owner != service:
            calls.append("CONSUMER.CREATE")  # by name: it would take the durable over
        for call in calls:
            assert may_publish(service, f"$JS.API.{call}.SALES.{owner}") is (owner == service)
        assert may_publish(service, f"$JS.ACK.SALES.{owner}.1.2.3.4.0") is (owner == service)


@pytest.mark.parametrize("service", sorted(SERVICE_ACCESS))
def test_a_service_hears_only_its_own_replies_and_the_events_it_listens_to(service):
    # Replies never need publishing: the server sends them, not another client.
    assert not may_publish(service, f"_INBOX_{service}.x")
    listened = {subject_filter(t) for t in SERVICE_ACCESS[service].listens_to}
    assert all(
        pattern.startswith((f"_INBOX_{service}.", "$JS.EVENT.ADVISORY.STREAM.CREATED."))
        or pattern in listened
        for pattern in permissions_for(service).subscribe_allow
    )


def test_without_a_user_or_as_an_unknown_one_a_process_may_try_to_create_the_stream():
    assert stream_manager_allowed(None)
    assert stream_manager_allowed("operations")


def test_a_nats_user_needs_its_password():
    with pytest.raises(SettingsError, match="NATS_USER and NATS_PASSWORD"):
        load_settings(RuntimeSettings, {"NATS_URL": "nats://nats:4222", "NATS_USER": "ingest"})
    settings = load_settings(RuntimeSettings, {"NATS_USER": "ingest", "NATS_PASSWORD": "secret"})
    assert (settings.nats_user, settings.nats_password) == ("ingest", "secret")
