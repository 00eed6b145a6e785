"""The words the sales team writes for business types and company sizes, and what they mean."""

from __future__ import annotations

import re
from functools import lru_cache

from libs.events.model import CompanySize

OTHER = "Other"

# The types the sales context knows how to pitch to, each with the words that mean it.
# A word matches a whole word of the uploaded text ("dental clinic" -> Healthcare).
BUSINESS_TYPES: dict[str, tuple[str, ...]] = {
    "Restaurant": (
        "restaurant", "restaurants", "cafe", "café", "coffee shop", "bistro", "diner", "bar",
        "pub", "pizzeria", "bakery", "catering", "food", "eatery", "grill", "brewery",
        "food service", "trattoria", "steakhouse", "taqueria", "food truck",
    ),
    "Healthcare": (
        "healthcare", "health care", "health", "medical", "clinic", "dental", "dentist",
        "doctor", "physician", "hospital", "pharmacy", "chiropractor", "chiropractic",
        "physical therapy", "physiotherapy", "optometry", "optometrist", "veterinary", "vet",
        "urgent care", "pediatrics", "dermatology", "orthodontics", "medical practice",
    ),
    "Retail": (
        "retail", "store", "shop", "boutique", "ecommerce", "e-commerce", "online store",
        "retailer", "grocery", "supermarket", "florist", "hardware store", "bookstore",
    ),
    "Professional Services": (
        "professional services", "law", "law firm", "legal", "attorney", "lawyer",
        "accounting", "accountant", "cpa", "bookkeeping", "consulting", "consultancy",
        "consultant", "marketing agency", "agency", "architecture", "architect", "engineering",
    ),
    "Real Estate": (
        "real estate", "realtor", "realty", "property management", "brokerage", "mortgage",
        "property", "properties",
    ),
    "Home Services": (
        "home services", "construction", "contractor", "plumbing", "plumber", "hvac",
        "roofing", "electrician", "electrical", "landscaping", "cleaning", "pest control",
        "remodeling", "handyman", "painting", "moving",
    ),
    "Automotive": (
        "automotive", "auto", "auto repair", "car dealership", "dealership", "mechanic",
        "body shop", "car wash", "tire", "tires",
    ),
    "Fitness & Wellness": (
        "fitness", "gym", "yoga", "pilates", "crossfit", "martial arts", "wellness", "spa",
        "salon", "hair salon", "barber", "barbershop", "beauty", "nail salon", "massage",
    ),
    "Hospitality": (
        "hospitality", "hotel", "motel", "inn", "bed and breakfast", "b&b", "resort",
        "travel", "tourism", "event venue", "venue",
    ),
    "Education": (
        "education", "school", "tutoring", "academy", "daycare", "childcare", "preschool",
        "training", "college", "learning center",
    ),
    "Technology": (
        "technology", "tech", "software", "saas", "it services", "it", "managed services",
        "it support", "web design", "startup", "app development",
    ),
    "Financial Services": (
        "financial services", "finance", "financial", "insurance", "bank", "credit union",
        "wealth management", "financial advisor", "tax preparation", "tax", "lending",
    ),
    "Manufacturing": (
        "manufacturing", "manufacturer", "factory", "fabrication", "machine shop",
        "industrial", "wholesale", "distribution", "distributor", "logistics", "warehouse",
        "trucking",
    ),
}  # fmt: skip

_WORDS = re.compile(r"[^\w&+]+")


def _words(text: str) -> str:
    return " " + " ".join(_WORDS.split(text.casefold())).strip() + " "


# Longest synonyms first, so "hair salon" wins over "salon" and "it services" over "it".
_SYNONYMS: tuple[tuple[str, str], ...] = tuple(
    sorted(
        ((_words(word), name) for name, words in BUSINESS_TYPES.items() for word in words),
        key=lambda pair: -len(pair[0]),
    )
)
_CANONICAL = {name.casefold(): name for name in BUSINESS_TYPES}


@lru_cache(maxsize=4096)  # a list repeats a few dozen spellings: each is looked up once
def business_type_for(text: str) -> str:
    """The known type the text means, or OTHER."""
    if (exact := _CANONICAL.get(text.strip().casefold())) is not None:
        return exact
    padded = _words(text)
    for synonym, name in _SYNONYMS:
        if synonym in padded:
            return name
    return OTHER


SMALL_MAX_EMPLOYEES = 49  # 1-49: small; 50-249: medium; 250 and more: large
MEDIUM_MAX_EMPLOYEES = 249

_SIZE_WORDS: dict[str, CompanySize] = {
    **dict.fromkeys(
        ("small", "sm", "s", "smb", "small business", "micro", "tiny", "sole proprietor",
         "solo", "startup", "small company", "family owned", "family-owned"),
        "small",
    ),
    **dict.fromkeys(
        ("medium", "med", "m", "mid", "midsize", "mid-size", "mid size", "mid-sized",
         "medium-sized", "medium sized", "mid-market", "midmarket", "sme"),
        "medium",
    ),
    **dict.fromkeys(
        ("large", "lg", "l", "big", "enterprise", "corporate", "corporation", "large company",
         "large-sized", "national chain", "chain"),
        "large",
    ),
    **dict.fromkeys(("unknown", "n/a", "na", "-", "?", "not sure", "tbd"), "unknown"),
}  # fmt: skip

_COUNT = re.compile(r"(\d[\d,.]*)\s*(k)?", re.IGNORECASE)


def size_for_employees(count: int) -> CompanySize:
    if count <= SMALL_MAX_EMPLOYEES:
        return "small"
    if count <= MEDIUM_MAX_EMPLOYEES:
        return "medium"
    return "large"


@lru_cache(maxsize=4096)
def company_size_for(text: str) -> CompanySize | None:
    """small/medium/large from a word or an employee count ("12", "50-200", "500+");
    "unknown" when empty, None when the text means nothing we know."""
    cleaned = text.strip().casefold().removesuffix(".")
    if not cleaned:
        return "unknown"
    if (size := _SIZE_WORDS.get(cleaned)) is not None:
        return size
    for word in ("employees", "employee", "staff", "people", "emps", "ppl", "fte"):
        cleaned = cleaned.replace(word, " ")
    counts = [_employee_count(match) for match in _COUNT.finditer(cleaned)]
    if not counts or len(counts) > 2 or not _only_counts(cleaned):
        return _SIZE_WORDS.get(cleaned.strip())
    # A range counts by its midpoint: "10-50" is a small company, "50-200" a medium one.
    return size_for_employees(sum(counts) // len(counts))


def _employee_count(match: re.Match[str]) -> int:
    number = float(match.group(1).replace(",", "").rstrip("."))
    return int(number * 1000) if match.group(2) else int(number)


def _only_counts(text: str) -> bool:
    return not re.sub(r"[\d,.\sk+~<>\-\u2013\u2014]|to|about|over|under|approx", "", text)
