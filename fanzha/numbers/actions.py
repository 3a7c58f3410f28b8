"""Carrier actions on a fraud number, by number class.

* local number (本地号码) → forced shutdown 强制停机
* out-of-town number (外地号码) → caller interception 主叫拦截 (the home carrier elsewhere
  must stop it; the local network refuses its calls)
* virtual-operator segment 170/171/162/165/167 (虚拟运营商号段) → empty-number tone 空号音

The class comes from the number itself: the virtual segments from a maintained table
(:data:`VIRTUAL_SEGMENTS`), local versus out-of-town from the `phonenumbers` library's
geocoding of the number's prefix (号段归属地) compared with the center's city.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import carrier as pn_carrier
from phonenumbers import geocoder

from fanzha.contracts.vocab import NumberClass

# Mobile segments assigned to virtual network operators (MVNOs). Maintained by hand: the
# MIIT assigns them; add new segments here with the date they were announced.
VIRTUAL_SEGMENTS: tuple[str, ...] = ("170", "171", "162", "165", "167")


class CarrierAction(StrEnum):
    FORCED_SHUTDOWN = "forced_shutdown"  # 强制停机
    CALLER_INTERCEPTION = "caller_interception"  # 主叫拦截
    EMPTY_NUMBER_TONE = "empty_number_tone"  # 空号音


ACTION_FOR_CLASS: dict[NumberClass, CarrierAction] = {
    NumberClass.LOCAL: CarrierAction.FORCED_SHUTDOWN,
    NumberClass.OUT_OF_TOWN: CarrierAction.CALLER_INTERCEPTION,
    NumberClass.VIRTUAL: CarrierAction.EMPTY_NUMBER_TONE,
}


class NumberError(ValueError):
    """A string that is not a usable phone number."""


@lru_cache(maxsize=200_000)
def number_class(e164: str, home_city: str = "Xiamen") -> NumberClass:
    """Class of an E.164 number for a center in ``home_city``.

    Landlines and mobiles geocoded to the home city are local; Chinese numbers elsewhere
    and foreign numbers are out-of-town.
    """
    try:
        num = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        raise NumberError(f"{e164!r} is not an E.164 number: {exc}") from exc
    national = str(num.national_number)
    if num.country_code == 86 and national[:3] in VIRTUAL_SEGMENTS:
        return NumberClass.VIRTUAL
    if num.country_code != 86:
        return NumberClass.OUT_OF_TOWN
    where = geocoder.description_for_number(num, "en")
    return NumberClass.LOCAL if home_city.lower() in where.lower() else NumberClass.OUT_OF_TOWN


def carrier_action(e164: str, home_city: str = "Xiamen") -> CarrierAction:
    """What the carrier desk is asked to do with a confirmed fraud number."""
    return ACTION_FOR_CLASS[number_class(e164, home_city)]


def carrier_name(e164: str) -> str:
    """The number's original carrier (number portability aside), e.g. 'China Mobile'; '' if unknown."""
    try:
        return str(pn_carrier.name_for_number(phonenumbers.parse(e164, None), "en"))
    except phonenumbers.NumberParseException:
        return ""
