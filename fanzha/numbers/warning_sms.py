"""Warning SMS (预警短信) to everyone a confirmed fraud number reached.

For each confirmed number, every recipient of its calls or SMS in the look-back window
before confirmation gets one link-free warning; a person warned about several numbers
on the same local day gets one message. The text depends on the typology: a person who
was called by a fake "police officer" needs a different sentence from one who got a
task-rebate lure. Texts never contain links or numbers to call back other than 96110
(the national anti-fraud warning line), so the warning cannot itself be imitated.
"""

from __future__ import annotations

import re

import polars as pl

from fanzha.contracts.vocab import Typology

HOUR = 3_600_000
SIGN = "【厦门反诈中心】"
WARNING_TEXTS: dict[str, str] = {
    Typology.IMPERSONATE_POLICE: (
        "刚才给您来电的号码已被确认为诈骗电话。公检法机关不会通过电话办案，不存在“安全账户”，"
        "请勿转账。如有疑问请拨打96110或110。"
    ),
    Typology.REBATE_TASK: "您收到的刷单返利信息是诈骗。所有刷单都是诈骗，先小额返利再骗大钱，请勿垫付、勿转账。",
    Typology.PIG_BUTCHERING: (
        "与您联系的号码已被确认为诈骗号码。网上交友带您投资理财、博彩稳赚的都是诈骗，请立即停止转账。"
    ),
    Typology.IMPERSONATE_BOSS: "请警惕冒充领导、老板要求转账汇款的诈骗。涉及转账务必当面或电话向本人核实。",
    Typology.FAKE_LOAN: "您收到的贷款信息是诈骗。正规贷款放款前不收取任何费用，凡要求先交“解冻金”“保证金”的都是诈骗。",
    Typology.FAKE_CUSTOMER_SERVICE: "与您联系的“客服”已被确认为诈骗。退款理赔无需您转账或提供验证码，请勿操作。",
    Typology.MEDICAL_INSURANCE_SMS: (
        "您收到的“医保卡停用”短信是诈骗。医保部门不会通过短信链接办理业务，请勿点击、勿转账。"
    ),
}
GENERIC = "刚才联系您的号码已被确认为诈骗号码。凡是要求转账、提供验证码的都是诈骗，请勿操作。如有疑问请拨打96110。"
_LINK = re.compile(r"https?://|www\.|\.(com|cn|top|xyz|cc|net|vip)\b", re.IGNORECASE)


def warning_text(typology: str | None) -> str:
    """The link-free warning for a typology (generic when unknown)."""
    text = SIGN + WARNING_TEXTS.get(str(typology), GENERIC) if typology else SIGN + GENERIC
    if _LINK.search(text):  # pragma: no cover - guarded by a test over every text
        raise ValueError("warning texts must not contain links")
    return text


def warnings_for(events: pl.DataFrame, confirmed: pl.DataFrame, lookback_ms: int = 72 * HOUR,
                 already_sent: pl.DataFrame | None = None) -> pl.DataFrame:
    """One warning per person per local day for everyone the confirmed numbers reached.

    ``events``: call/SMS events (src, dst, time). ``confirmed``: number, confirmed_at (ms),
    typology (nullable). ``already_sent``: recipient, day of warnings sent earlier (skipped).
    Returns recipient, day (local date), numbers (list), typology, text, send_at.
    """
    hits = (
        events.select("src", "dst", "time")
        .join(confirmed.rename({"number": "src"}), on="src", how="inner")
        .filter((pl.col("time") <= pl.col("confirmed_at")) & (pl.col("time") >= pl.col("confirmed_at") - lookback_ms))
        .with_columns(
            (pl.col("confirmed_at") + 8 * HOUR).cast(pl.Datetime("ms")).dt.date().alias("day"),
        )
    )
    per = hits.sort("confirmed_at").group_by("dst", "day", maintain_order=True).agg(
        pl.col("src").unique().sort().alias("numbers"),
        pl.col("typology").drop_nulls().first().alias("typology"),
        pl.col("confirmed_at").min().alias("send_at"),
    ).rename({"dst": "recipient"})
    if already_sent is not None and already_sent.height:
        per = per.join(already_sent.select("recipient", "day"), on=["recipient", "day"], how="anti")
    texts = pl.DataFrame({"typology": [*WARNING_TEXTS.keys(), None],
                          "text": [warning_text(t) for t in WARNING_TEXTS] + [warning_text(None)]},
                         schema={"typology": pl.String, "text": pl.String})
    out = per.join(texts, on="typology", how="left", nulls_equal=True)
    return out.with_columns(pl.col("text").fill_null(warning_text(None))).sort("send_at", "recipient")
