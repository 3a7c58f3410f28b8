"""The domain's controlled vocabularies, shared by every capability.

String enums (values are what is stored in Parquet and the database) so that a
carrier's export, the simulator and the API all speak the same words.
"""

from __future__ import annotations

from enum import StrEnum


class NumberClass(StrEnum):
    """Number class, which decides the carrier action on a blocked number."""

    LOCAL = "local"  # 本地号码 → 强制停机 forced shutdown
    OUT_OF_TOWN = "out_of_town"  # 外地号码 → 主叫拦截 caller interception
    VIRTUAL = "virtual"  # 虚拟运营商号段 170/171/162/165/167 → 空号音 empty-number tone


class Ingress(StrEnum):
    """Where a call entered the local network."""

    LOCAL = "local"
    LONG_DISTANCE = "long_distance"  # 长途关口
    INTERNATIONAL = "international"  # 国际关口


class Channel(StrEnum):
    """How money moved. The last three are cash-out sinks (money leaves the traceable ledger)."""

    BANK = "bank"
    THIRD_PARTY = "third_party"  # 第三方支付, carries an order number (订单号)
    ATM = "atm"  # ATM withdrawal 取现
    ABROAD = "abroad"  # transfer to a foreign account 境外
    CRYPTO_OTC = "crypto_otc"  # 虚拟币场外交易

    @property
    def is_cash_out(self) -> bool:
        return self in CASH_OUT_CHANNELS


CASH_OUT_CHANNELS = frozenset({Channel.ATM, Channel.ABROAD, Channel.CRYPTO_OTC})


class AccountKind(StrEnum):
    BANK = "bank"
    THIRD_PARTY = "third_party"


class RegistrationQuality(StrEnum):
    """Quality of an account's or card's registration (污水池 input)."""

    VERIFIED = "verified"
    INACCURATE = "inaccurate"
    UNVERIFIED = "unverified"


class AgeBand(StrEnum):
    MINOR = "0-17"
    YOUNG = "18-29"
    ADULT = "30-44"
    MIDDLE = "45-59"
    SENIOR = "60+"


class Typology(StrEnum):
    """Fraud typologies from the seeds (案件类型)."""

    IMPERSONATE_POLICE = "impersonate_police"  # 冒充公检法
    REBATE_TASK = "rebate_task"  # 刷单返利
    PIG_BUTCHERING = "pig_butchering"  # 杀猪盘
    IMPERSONATE_BOSS = "impersonate_boss"  # 冒充领导/老板
    FAKE_LOAN = "fake_loan"  # 虚假贷款
    FAKE_CUSTOMER_SERVICE = "fake_customer_service"  # 冒充客服退款
    MEDICAL_INSURANCE_SMS = "medical_insurance_sms"  # 医保停用 SMS blitz
    OTHER = "other"


TYPOLOGY_ZH: dict[Typology, str] = {
    Typology.IMPERSONATE_POLICE: "冒充公检法",
    Typology.REBATE_TASK: "刷单返利",
    Typology.PIG_BUTCHERING: "杀猪盘",
    Typology.IMPERSONATE_BOSS: "冒充领导",
    Typology.FAKE_LOAN: "虚假贷款",
    Typology.FAKE_CUSTOMER_SERVICE: "冒充客服退款",
    Typology.MEDICAL_INSURANCE_SMS: "医保停用",
    Typology.OTHER: "其他",
}
