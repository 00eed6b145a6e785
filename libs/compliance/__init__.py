"""The calling rules, one pure function checked twice: when the scheduler decides and
when telephony is about to dial. `loading` reads the law a process keeps at start."""

from libs.compliance.facts import SUBJECTS, ComplianceFacts, opted_out_leads
from libs.compliance.holiday_calendar import Holiday, HolidayCalendar
from libs.compliance.regional_rules import RegionalRule, RegionalRules, RulesFileError
from libs.compliance.regions import regions_for_number
from libs.compliance.rules import (
    FEDERAL_HOURS,
    Callee,
    CallFacts,
    CallingHours,
    Law,
    Refusal,
    Rule,
    call_cap,
    check_call,
    next_opening,
    zone_exists,
)

__all__ = [
    "FEDERAL_HOURS",
    "SUBJECTS",
    "CallFacts",
    "Callee",
    "CallingHours",
    "ComplianceFacts",
    "Holiday",
    "HolidayCalendar",
    "Law",
    "Refusal",
    "RegionalRule",
    "RegionalRules",
    "Rule",
    "RulesFileError",
    "call_cap",
    "check_call",
    "next_opening",
    "opted_out_leads",
    "regions_for_number",
    "zone_exists",
]
