"""Phone numbers in one form: E.164 (+8613812345678), mainland China assumed when no country code is given."""

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

DEFAULT_REGION = "CN"


def normalize_phone(raw: str) -> str:
    """Return the E.164 form of a phone number, '' for an empty one; ValidationError when it is not a number."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(_("“%(phone)s” is not a phone number."), params={"phone": raw}) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("“%(phone)s” is not a valid phone number."), params={"phone": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_search_digits(text: str) -> str:
    """The digits of a search term that looks like (part of) a phone number, else ''."""
    compact = re.sub(r"[\s()+-]", "", text)
    return compact if compact.isdigit() and len(compact) >= 3 else ""
