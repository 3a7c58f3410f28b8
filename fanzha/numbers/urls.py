"""Links in SMS texts: find them however they are disguised, reduce them to registered domains.

Fraud senders write links so that filters miss them: no scheme (``abc123.top/x``), a
full-width or spaced dot (``abc123。top``, ``abc123 . top``), ``点`` for the dot, bare IP
addresses, short links. Everything here is vectorised over a Polars string column (Rust
regexes); Python runs once per *distinct* URL, which repeats heavily in an SMS blitz.

Domains are resolved with tldextract on its bundled public-suffix snapshot only: no network
and no disk cache, so the result is the same offline, in CI and in production. Registered
domains of flagged texts go to a takedown list; an allowlist of banks, government and
large platforms keeps their domains off it whatever the texts say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

# Candidate links on NFKC-normalised, lower-cased text. Host: dotted labels ending in a
# letters-only TLD, or a dotted quad; optional port and an ASCII path.
URL_PATTERN = (
    r"(?:https?://)?"
    r"(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}|\d{1,3}(?:\.\d{1,3}){3})"
    r"(?::\d{2,5})?"
    r"(?:/[a-z0-9\-._~%!$&'()*+,;=:@/?#]*)?"
)
# Dot disguises joined back before links are looked for (applied in this order).
_DOT_FIXES: list[tuple[str, str]] = [
    (r"\[\.\]|\(\.\)|（点）|\(点\)|【点】", "."),
    (r"([a-z0-9])\s*[。｡]\s*([a-z]{2,})", "${1}.${2}"),
    (r"([a-z0-9])\s+\.\s*([a-z]{2,})", "${1}.${2}"),
    (r"([a-z0-9])\s*\.\s+([a-z]{2,})", "${1}.${2}"),
    (r"([a-z0-9])\s*点\s*(com|cn|net|top|xyz|vip|cc|org|shop|site|club|icu|app|me)\b", "${1}.${2}"),
    (r"(https?)\s*:\s*/\s*/\s*", "${1}://"),
]

SHORTENERS = frozenset(
    {"t.cn", "dwz.cn", "url.cn", "suo.im", "c.tb.cn", "m.tb.cn", "tb.cn", "bit.ly", "tinyurl.com", "is.gd",
     "sohu.gg", "mrw.so", "u.nu", "w.url.cn", "s.tb.cn", "xhslink.com", "dpurl.cn", "3.cn", "u.jd.com",
     "v.douyin.com", "j.mp", "goo.gl", "ow.ly", "rb.gy", "cutt.ly"}
)
# Registered domains never put on the takedown list: banks, government, carriers, large
# platforms. Suffixes only public bodies can register are allowlisted as a whole.
ALLOWED_SUFFIXES = ("gov.cn", "edu.cn", "gov", "mil.cn", "org.cn")
ALLOWLIST = frozenset(
    {
        # banks and payment
        "icbc.com.cn", "ccb.com", "abchina.com", "boc.cn", "bankofchina.com", "bankcomm.com", "cmbchina.com",
        "cib.com.cn", "psbc.com", "spdb.com.cn", "citicbank.com", "cmbc.com.cn", "cebbank.com", "pingan.com",
        "pingan.com.cn", "hxb.com.cn", "cgbchina.com.cn", "xmbankonline.com", "95516.com", "unionpay.com",
        "alipay.com", "tenpay.com", "95588.com", "webank.com", "mybank.cn", "cmfchina.com",
        # carriers
        "10086.cn", "10010.com", "10010.cn", "189.cn", "chinamobile.com", "chinaunicom.com", "chinatelecom.com.cn",
        # platforms and services
        "taobao.com", "tmall.com", "tb.cn", "jd.com", "3.cn", "meituan.com", "dianping.com", "dpurl.cn",
        "pinduoduo.com", "yangkeduo.com", "douyin.com", "kuaishou.com", "qq.com", "weixin.qq.com", "tencent.com",
        "baidu.com", "weibo.com", "weibo.cn", "xiaohongshu.com", "xhslink.com", "vip.com", "ctrip.com",
        "trip.com", "qunar.com", "12306.cn", "ele.me", "didiglobal.com", "xiaojukeji.com", "apple.com",
        "huawei.com", "mi.com", "163.com", "126.com", "sina.com.cn", "amap.com", "cainiao.com",
        # airlines, couriers, insurers, brokers
        "ceair.com", "csair.com", "airchina.com.cn", "xiamenair.com", "hnair.com", "sichuanair.com",
        "sf-express.com", "ems.com.cn", "chinapost.com.cn", "zto.com", "yto.net.cn", "yundaex.com", "sto.cn",
        "jtexpress.com.cn", "picc.com", "picc.com.cn", "cpic.com.cn", "chinalife.com.cn", "htsc.com.cn",
        "citics.com", "gtja.com", "cmschina.com", "1234567.com.cn",
    }
)
SUSPICIOUS_TLDS = frozenset(
    {"top", "xyz", "vip", "cc", "icu", "club", "site", "online", "shop", "work", "live", "fun", "ink", "link",
     "win", "pw", "wang", "ltd", "buzz", "tk", "ml", "ga", "cf", "gq", "bid", "loan", "rest", "cyou", "sbs",
     "bond", "cfd", "monster", "lol", "asia", "store", "tech", "space", "website", "red", "pro", "io"}
)


@dataclass(frozen=True)
class Link:
    """One link as found in a text, reduced to what a takedown needs."""

    url: str
    domain: str  # registered domain (eTLD+1), the IP for IP links, host for short links
    kind: str  # "domain" | "ip" | "short_link"
    allowlisted: bool
    suspicious_tld: bool


@lru_cache(maxsize=1)
def _extractor() -> Any:
    import tldextract

    # No suffix-list download and no disk cache: the bundled snapshot only.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def is_allowlisted(domain: str) -> bool:
    """True for domains that must never be taken down (exact allowlist or public-body suffix)."""
    d = domain.lower().strip(".")
    return d in ALLOWLIST or any(d == s or d.endswith("." + s) for s in ALLOWED_SUFFIXES)


@lru_cache(maxsize=200_000)
def parse_link(url: str) -> Link | None:
    """The link behind a candidate match, or None when the host has no public suffix (e.g. ``a.pdf``)."""
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    if not host:
        return None
    parts = host.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        if not all(0 <= int(p) <= 255 for p in parts):
            return None
        return Link(url, host, "ip", False, False)
    ext = _extractor()(host)
    if not ext.suffix or not ext.domain:
        return None
    registered = f"{ext.domain}.{ext.suffix}"
    tld = ext.suffix.rsplit(".", 1)[-1]
    allowed = is_allowlisted(registered)
    if host in SHORTENERS or registered in SHORTENERS:
        # The target is the short link itself: the shortener is asked to disable that path.
        path = rest[len(host):].lstrip(":0123456789").split("?", 1)[0].strip("/").split("/", 1)[0]
        return Link(url, f"{host}/{path}" if path else host, "short_link", False, tld in SUSPICIOUS_TLDS)
    return Link(url, registered, "domain", allowed, tld in SUSPICIOUS_TLDS)


def as_series(texts: Sequence[str | None] | Any) -> pl.Series:
    """Any column of texts (list, numpy, pyarrow, Polars) as a Utf8 Series with nulls as ``""``."""
    if isinstance(texts, str | bytes):
        raise TypeError("texts must be a sequence of strings, not one string (wrap it in a list)")
    if isinstance(texts, pl.Series):
        s = texts
    else:
        try:
            import pyarrow as pa

            if isinstance(texts, pa.ChunkedArray | pa.Array):
                converted = pl.from_arrow(texts)
                assert isinstance(converted, pl.Series)
                s = converted
            else:
                s = pl.Series("text", list(texts) if not isinstance(texts, np.ndarray) else texts.tolist())
        except (TypeError, ValueError) as exc:
            raise TypeError(f"texts must be a sequence of strings: {exc}") from None
    if s.dtype != pl.String:
        s = s.cast(pl.String)
    return s.fill_null("")


def prepare(texts: pl.Series) -> pl.Series:
    """NFKC (full-width letters, digits and dots to ASCII), lower case, link disguises undone."""
    import pyarrow.compute as pc

    arr = texts.to_arrow()
    arr = pc.utf8_lower(pc.utf8_normalize(arr, "NFKC"))
    converted = pl.from_arrow(arr)
    assert isinstance(converted, pl.Series)
    s = converted.alias("text")
    for pattern, repl in _DOT_FIXES:
        s = s.str.replace_all(pattern, repl)
    return s


def find_urls(prepared: pl.Series) -> pl.Series:
    """Candidate links per text (a list column), on text from :func:`prepare`."""
    return prepared.str.extract_all(URL_PATTERN)


def _links_frame(prepared: pl.Series) -> pl.DataFrame:
    """One row per valid link: row index, url, domain, kind, allowlisted, suspicious_tld."""
    exploded = (
        pl.DataFrame({"row": pl.arange(0, prepared.len(), eager=True, dtype=pl.Int64), "url": find_urls(prepared)})
        .explode("url", empty_as_null=True)
        .drop_nulls("url")
    )
    uniq = exploded["url"].unique().to_list()
    parsed = [parse_link(u) for u in uniq]  # Python once per distinct link
    table = pl.DataFrame(
        {
            "url": [u for u, p in zip(uniq, parsed, strict=True) if p is not None],
            "domain": [p.domain for p in parsed if p is not None],
            "kind": [p.kind for p in parsed if p is not None],
            "allowlisted": [p.allowlisted for p in parsed if p is not None],
            "suspicious_tld": [p.suspicious_tld for p in parsed if p is not None],
        },
        schema={"url": pl.String, "domain": pl.String, "kind": pl.String, "allowlisted": pl.Boolean,
                "suspicious_tld": pl.Boolean},
    )
    return exploded.join(table, on="url", how="inner", maintain_order="left")


LINK_FLAGS = ("链接", "非白名单链接", "IP链接", "短链接", "可疑后缀")


def link_flags(prepared: pl.Series) -> np.ndarray:
    """Per text: has a link, a non-allowlisted link, an IP link, a short link, a suspicious TLD."""
    n = prepared.len()
    out = np.zeros((n, len(LINK_FLAGS)), dtype=np.float32)
    links = _links_frame(prepared)
    if links.height == 0:
        return out
    agg = links.group_by("row").agg(
        pl.len().alias("n"),
        (~pl.col("allowlisted")).any().alias("unlisted"),
        (pl.col("kind") == "ip").any().alias("ip"),
        (pl.col("kind") == "short_link").any().alias("short"),
        pl.col("suspicious_tld").any().alias("susp"),
    )
    rows = agg["row"].to_numpy()
    for j, col in enumerate(["n", "unlisted", "ip", "short", "susp"]):
        out[rows, j] = (agg[col].to_numpy() > 0).astype(np.float32)
    return out


def extract_domains(texts: Sequence[str | None] | Any) -> list[list[str]]:
    """Registered domains (IPs for IP links, hosts for short links) per text, in order, deduplicated."""
    prepared = prepare(as_series(texts))
    n = prepared.len()
    links = _links_frame(prepared)
    result: list[list[str]] = [[] for _ in range(n)]
    for row, domain in zip(links["row"].to_list(), links["domain"].to_list(), strict=True):
        if domain not in result[row]:
            result[row].append(domain)
    return result


def takedown_list(texts: Sequence[str | None] | Any, flagged: Iterable[bool] | np.ndarray) -> pl.DataFrame:
    """Domains to take down from the texts judged fraudulent, most-seen first; allowlisted ones never.

    Columns: domain, kind, n_texts (flagged texts carrying it), example_url.
    """
    prepared = prepare(as_series(texts))
    mask = np.asarray(list(flagged) if not isinstance(flagged, np.ndarray) else flagged, dtype=bool)
    if mask.shape[0] != prepared.len():
        raise ValueError(f"flagged has {mask.shape[0]} entries for {prepared.len()} texts")
    links = _links_frame(prepared.filter(pl.Series(mask)))
    empty = pl.DataFrame(schema={"domain": pl.String, "kind": pl.String, "n_texts": pl.UInt32,
                                 "example_url": pl.String})
    if links.height == 0:
        return empty
    out = (
        links.filter(~pl.col("allowlisted"))
        .group_by("domain", "kind")
        .agg(pl.col("row").n_unique().cast(pl.UInt32).alias("n_texts"), pl.col("url").first().alias("example_url"))
        .sort(["n_texts", "domain"], descending=[True, False])
    )
    return out if out.height else empty
