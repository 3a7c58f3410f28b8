"""SMS content detector: is this text a fraud lure? Calibrated, fast and explainable.

Texts are normalised first (NFKC, lower case, traditional→simplified, 薇信/扣扣 spellings,
separators slipped between characters, digits to ``0``, links to one token), because
senders disguise exactly the words a filter would look for. Features are character 1–3
grams (TF-IDF; Chinese needs no segmenter for this) plus a few dozen hand-made lure flags
(links outside the allowlist, 验证码 requests, 安全账户, 刷单返利, 解冻金, 医保停用,
公检法, 退款理赔, 稳赚, 冒充领导…) and warning cues (反诈, 切勿, 都是诈骗) so that the
police's own reminders, which name every trick, stay legitimate. A logistic regression
reads them; its decision is Platt-scaled on out-of-fold scores where whole templates are
held out, so the probability is not the training fit's overconfidence.

The model is trained at first use from the shipped corpus (a couple of seconds,
deterministic) and kept for the process. Scoring is vectorised: Polars/Arrow string
kernels for normalisation and flags, one sparse product for the model.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fanzha.numbers import urls

DATA_DIR = Path(__file__).with_name("data")
CORPUS_PATH = DATA_DIR / "sms_corpus.csv"
EVAL_PATH = DATA_DIR / "sms_eval.csv"
DEFAULT_THRESHOLD = 0.5

# Traditional→simplified pairs (trad char first) for the characters lures use most.
_TRAD_PAIRS = (
    "貸贷 帳账 賬账 戶户 凍冻 結结 點点 擊击 鏈链 驗验 證证 碼码 醫医 療疗 險险 銀银 轉转 資资 額额 認认 辦办 綁绑 "
    "詳详 請请 聯联 係系 繫系 務务 電电 話话 號号 單单 傭佣 職职 產产 經经 濟济 業业 門门 訴诉 訟讼 檢检 機机 關关 "
    "罰罚 處处 違违 規规 異异 網网 頁页 會会 員员 費费 將将 審审 遞递 補补 償偿 賠赔 貨货 質质 問问 題题 訂订 車车 "
    "間间 錢钱 幣币 據据 運运 營营 發发 過过 還还 進进 長长 這这 樣样 為为 們们 個个 對对 說说 當当 時时 現现 實实 "
    "際际 應应 該该 讓让 給给 麼么 愛爱 親亲 線线 緊紧 護护 衛卫 領领 導导 總总 讀读 紅红 獎奖 禮礼 積积 兌兑 換换 "
    "購购 買买 賣卖 價价 優优 歡欢 動动 態态 權权 與与 專专 屬属 級级 風风 監监 測测 報报 戲戏 裝装 備备 註注 銷销 "
    "誤误 來来 區区 臺台 灣湾 獲获 勝胜 贏赢 輸输 準准 確确 續续 紀纪 錄录 稅税 學学 習习 師师 財财 穩稳 賺赚 虧亏 "
    "損损 漲涨 幫帮 簡简 訊讯 傳传 廣广 東东 視视 頻频 顯显 頭头 嗎吗 鐘钟 萬万 億亿 圓圆 塊块 條条 幾几 開开 啟启 "
    "閉闭 覺觉 勞劳 紓纾 難难 貼贴 參参 數数 庫库 標标 緝缉 獄狱 喚唤 協协 調调 統统 軟软 體体 載载 雲云 閃闪 遊游 "
    "娛娱 樂乐 場场 陸陆 歸归 儲储 夠够 裡里 邊边 後后 從从 鬆松 賴赖 識识 適适 選选 擇择 計计 劃划 錯错 書书 郵邮 "
    "國国 團团 隊队 筆笔 層层 雙双 況况 聽听 聞闻 題题 務务 寶宝 貝贝 約约 聊聊 群群 掃扫 惡恶 鎖锁 滯滞 審审 費费 "
    "騙骗 詐诈 謹谨 營营 證证 選选 舉举 歲岁 記记 寫写 讀读 課课 師师 園园 醫医 險险 屆届 絡络 頓顿 飛飞 艙舱 簽签 "
    "溫温 馨馨 務务 戶户 尊尊 敬敬 貴贵 賓宾 盤盘 漁渔 線线 稱称 處处 確确 認认 將将 結结 餘余 鑫鑫 匯汇 滙汇 濱滨 "
    "區区 氣气 溝沟 構构 禁禁 掛挂 擔担 廳厅 鎮镇 縣县 郵邮 遲迟 屆届 勵励 輔辅 範范 圍围 壓压 虛虚 擬拟 鄉乡 務务 "
    "談谈 議议 論论 謝谢 語语 詢询 諮咨 險险 鬥斗 雜杂 極极 陽阳 陰阴 懷怀 蘭兰 麗丽 鳳凤 龍龙 馬马 魚鱼 鳥鸟"
)
TRAD_TO_SIMP: dict[str, str] = {}
for _pair in _TRAD_PAIRS.split():
    if len(_pair) == 2 and _pair[0] != _pair[1]:
        TRAD_TO_SIMP.setdefault(_pair[0], _pair[1])
SIMP_TO_TRAD: dict[str, str] = {}
for _t, _s in TRAD_TO_SIMP.items():
    SIMP_TO_TRAD.setdefault(_s, _t)

# Spellings that dodge keyword filters, mapped back (applied after lower-casing, in order).
_VARIANTS: list[tuple[str, str]] = [
    (r"➕|＋", "加"),
    (r"薇信|威信|徽信|维信|微 信|v信|weixin|wei xin|威❤|v❤|vx|wx(?:号)?", "微信"),
    (r"扣扣|企鹅号|企鹅|q群|扣群|qq群", "qq群"),
    (r"(?:加|\+)\s*(?:v|微|薇)(?:[^a-z0-9信]|$)", "加微信 "),
    (r"(?:加|\+)\s*q(?:[^a-z0-9q]|$)", "加qq "),
    (r"jianzhi|jz(?:[^a-z0-9]|$)", "兼职"),
    (r"shuadan", "刷单"),
    (r"daikuan|dk(?:[^a-z0-9]|$)", "贷款"),
    (r"tk(?:[^a-z0-9]|$)", "退款"),
    (r"[\p{Emoji_Presentation}\p{Extended_Pictographic}\u2600-\u27bf]", " "),
]
_SEPARATORS = r"([\p{Han}])[\s*\-·_|/~^`.]+([\p{Han}])"
LINK_TOKEN = "ⓤ"

# Hand-made lure and warning flags on the normalised text: (name, regex).
FLAGS: list[tuple[str, str]] = [
    ("索要验证码", r"(验证码|校验码|动态码|六位数|0{4,6}).{0,12}(告诉|发给|报给|发我|提供给?我|截图|念给|转发)"
                  r"|(告诉|报给|发给|念给|提供)我?.{0,8}(验证码|数字|动态码)"),
    ("安全账户", r"安全账户|监管账户|清查账户|国家账户|资金清查|资金审查|核查资金|自证清白|证明清白"),
    ("刷单返利", r"刷单|返利|返佣|佣金|垫付|垫资|做单|拍单|补单|点赞|做任务|连单|卡单|日结|派单|任务群"),
    ("贷款收费", r"(贷款|借款|放款|额度|网贷|下款|提现).{0,40}(解冻|保证金|会员费|手续费|流水|验资|服务费|充值|工本费)"
               r"|解冻金|刷流水"),
    ("贷款", r"贷款|借款|放款|下款|网贷|额度|秒到|无抵押|黑户|不看征信|低息"),
    ("医保社保异常", r"(医保|社保|养老金|医疗保险|参保).{0,24}"
                   r"(停用|冻结|注销|异常|清零|暂停|升级|激活|认证|提现|失效|核验)"),
    ("公检法", r"公安|检察|法院|警官|民警|通缉|逮捕|洗钱|涉嫌|立案|传票|案件|笔录|国家安全|经侦|刑侦|专案"),
    ("客服退款理赔", r"客服|退款|理赔|赔偿|退货|质量问题|召回|丢件|扣费|百万保障|校园贷|注销|备用金|代理费"),
    ("投资稳赚", r"稳赚|稳赢|保本保息|翻倍|翻十倍|包赔|零风险|内幕|带单|喊单|导师|老师带|高回报|原始股|虚拟币|数字货币|"
                r"usdt|比特币|炒币|补仓|窗口期|内部渠道|回本|分红|日收益|年化收益0"),
    ("赌博", r"博彩|百家乐|彩金|首充|返水|娱乐城|棋牌|上下分|六合彩|竞猜|下注|体验金|视讯|牛牛|赌"),
    ("色情交友", r"裸聊|寂寞|一对一视频|私密|同城交友|约吗|视频聊天|通讯录|录屏|录下来"),
    ("游戏交易", r"游戏|皮肤|装备|解封|账号.{0,6}(售出|交易|冻结)"),
    ("征信修复", r"征信.{0,8}(修复|异常|消除|洗白|影响|上报)|逾期记录|停息挂账|影响.{0,4}征信"),
    ("冒充领导熟人", r"我是.{0,6}(总|局长|主任|科长|处长|董事长|老板|领导|经理|班主任|老师|参谋)|"
                   r"新换的号|换号了|临时号|办公室来一趟|猜猜我是谁|先存一下|不方便接电话|手机.{0,4}(坏|掉|没电)"),
    ("私下联系", r"加.{0,2}(微信|qq|好友|导师|老师|客服)|微信[:：]?\s*[a-z0-9]|qq[:：号群]?\s*0|"
                r"进群|入群|扫码|私聊|群号|联系.{0,4}(专员|客服|导师|助理)"),
    ("屏幕共享App", r"屏幕共享|共享屏幕|下载.{0,10}(app|软件|会议|平台)|视频会议|注册.{0,4}(账号|平台|一个)"),
    ("限期威胁", r"逾期将|否则|0{1,2}小时内|作废|强制|缺席|抓捕|停机|通缉|冻结|影响.{0,4}(征信|报销|通行|使用)"),
    ("保密要求", r"不要告诉|别告诉|不许.{0,4}说|保密|别声张|不要声张|不要让.{0,6}知道|别打电话|不方便接电话"),
    ("转账汇款", r"转账|转入|转到|汇款|汇到|打款|打给|转给|充值|缴纳|支付.{0,6}费|定金|押金"),
    ("中奖补贴退税", r"中奖|幸运|抽中|领奖|奖金|补贴|积分.{0,8}(兑换|清零)|兑换现金|退税|购置税|补偿"),
    ("票务改签", r"航班.{0,12}(取消|延误)|改签|退票|机械故障"),
    ("账户风险", r"(账户|银行卡|网银|u盾|身份证|号码).{0,12}(冻结|风险|异常|过期|失效|有误|限制|停用)"),
    ("警示语", r"(是|为|属于)(诈骗|骗局|骗子)|谨防|防诈|反诈|96110|切勿|请勿|"
               r"不要(点击|转账|相信|轻信|透露|泄露|理会|点)|别信|不会.{0,10}(索要|要求|发送|以|通过|向您)|提醒|警惕|防范|不信不转|核实|挂断|假的|被骗|上当"),
    ("退订标记", r"退订|回t|回td|拒收"),
    ("官方渠道", r"官方(app|客服|渠道|网站|热线|小程序)|营业厅|网点|窗口|10086|10010|10000|950{3}"),
    ("银行卡号", r"(?:^|[^0])0{15,19}(?:[^0]|$)|卡号"),
]


def _normalise(texts: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """Normalised texts for the n-grams and the link flags (computed before links become a token)."""
    prepared = urls.prepare(texts)
    link_flags = urls.link_flags(prepared)
    s = prepared.str.replace_all(urls.URL_PATTERN, f" {LINK_TOKEN} ")
    s = s.str.replace_many(list(TRAD_TO_SIMP), list(TRAD_TO_SIMP.values()))
    for pattern, repl in _VARIANTS:
        s = s.str.replace_all(pattern, repl)
    for _ in range(2):
        s = s.str.replace_all(_SEPARATORS, "${1}${2}")
    s = s.str.replace_all(r"\d", "0").str.replace_all(r"\s+", " ").str.strip_chars()
    return s, link_flags


def normalise(texts: Sequence[str | None] | Any) -> list[str]:
    """The text as the model sees it (for reading and debugging)."""
    return _normalise(urls.as_series(texts))[0].to_list()


FLAG_NAMES: list[str] = [f"[{n}]" for n in urls.LINK_FLAGS] + [f"[{n}]" for n, _ in FLAGS]


def _flag_matrix(norm: pl.Series, link_flags: np.ndarray) -> np.ndarray:
    cols = [norm.str.contains(rx).fill_null(False).to_numpy().astype(np.float32) for _, rx in FLAGS]
    return np.hstack([link_flags, np.column_stack(cols) if cols else np.zeros((norm.len(), 0), np.float32)])


@dataclass
class TextModel:
    """Vectoriser, linear weights and the Platt map from decision to probability."""

    vectorizer: Any
    coef: np.ndarray
    intercept: float
    platt_a: float
    platt_b: float
    flag_weight: float
    threshold: float = DEFAULT_THRESHOLD
    version: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def design(self, texts: Sequence[str | None] | Any) -> Any:
        """Sparse design matrix: TF-IDF character n-grams next to the weighted flags."""
        return self._design(*_normalise(urls.as_series(texts)))

    def _design(self, norm: pl.Series, link_flags: np.ndarray) -> Any:
        from scipy import sparse

        grams = self.vectorizer.transform(norm.to_list())
        flags = sparse.csr_matrix(_flag_matrix(norm, link_flags) * self.flag_weight)
        return sparse.hstack([grams, flags], format="csr", dtype=np.float64)

    def decision(self, texts: Sequence[str | None] | Any) -> np.ndarray:
        """Linear decision per text; texts that normalise alike are put through the n-grams once.

        A design row depends only on the normalised text and its link flags, and templated
        SMS (bank notices, codes, amounts) differ mostly in digits, which normalisation maps
        to ``0``: scoring each distinct (normalised text, link flags) once gives the same
        numbers for a fraction of the n-gram work.
        """
        s = urls.as_series(texts)
        if s.len() == 0:  # scikit-learn refuses empty input; a header-only CSV is still valid
            return np.zeros(0, dtype=np.float64)
        norm, link_flags = _normalise(s)
        bits = (link_flags > 0).astype(np.int64) @ (1 << np.arange(link_flags.shape[1], dtype=np.int64))
        codes = pl.DataFrame({"norm": norm, "links": bits}).select(
            (pl.col("norm").fill_null("") + "\x00" + pl.col("links").cast(pl.String)).cast(pl.Categorical)
            .to_physical()).to_series().to_numpy()
        uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        if len(uniq) == len(codes):
            return np.asarray(self._design(norm, link_flags) @ self.coef + self.intercept, dtype=np.float64)
        d = self._design(norm.gather(first), link_flags[first]) @ self.coef + self.intercept
        return np.asarray(d, dtype=np.float64)[inverse]

    def score(self, texts: Sequence[str | None] | Any) -> np.ndarray:
        """Calibrated fraud probability per text, in input order.

        Each distinct text is scored once (a hash join maps scores back): SMS blitzes repeat
        the same lure thousands of times, and the n-gram analyser is the costly step.
        """
        s = urls.as_series(texts).alias("text")
        if s.len() < 64:
            return _platt(self.decision(s), self.platt_a, self.platt_b)
        uniq = s.unique()
        if uniq.len() > 0.9 * s.len():
            return _platt(self.decision(s), self.platt_a, self.platt_b)
        scored = pl.DataFrame({"text": uniq, "score": _platt(self.decision(uniq), self.platt_a, self.platt_b)})
        joined = s.to_frame().join(scored, on="text", how="left", maintain_order="left")
        return joined["score"].to_numpy().astype(np.float64)

    @property
    def feature_names(self) -> list[str]:
        return [*self.vectorizer.get_feature_names_out().tolist(), *FLAG_NAMES]

    def explain(self, texts: Sequence[str | None] | Any, k: int = 5) -> list[list[tuple[str, float]]]:
        """The ``k`` features pushing each text's score most (positive: towards fraud), with their weights."""
        s = urls.as_series(texts)
        if s.len() == 0:
            return []
        x = self.design(s)
        names = self.feature_names
        out: list[list[tuple[str, float]]] = []
        for i in range(x.shape[0]):
            row = x.getrow(i)
            contrib = row.data * self.coef[row.indices]
            order = np.argsort(-np.abs(contrib))[:k]
            out.append([(names[row.indices[j]].replace(LINK_TOKEN, "<链接>"), float(contrib[j])) for j in order])
        return out


def _platt(d: np.ndarray, a: float, b: float) -> np.ndarray:
    z = np.clip(a * d + b, -35.0, 35.0)
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


class TextInputError(ValueError):
    """Input the classifier cannot use (unreadable file, missing column, bad corpus)."""


def load_corpus(path: Path | str = CORPUS_PATH) -> pl.DataFrame:
    """A labelled corpus CSV (text,label[,typology,source]) as a frame; label is 0/1."""
    p = Path(path)
    if not p.is_file():
        raise TextInputError(f"no corpus file {p}")
    df = pl.read_csv(p, infer_schema=False)
    for col in ("text", "label"):
        if col not in df.columns:
            raise TextInputError(f"corpus {p} has no column {col!r}")
    if "source" not in df.columns:
        df = df.with_columns(pl.lit("").alias("source"))
    df = df.with_columns(pl.col("text").fill_null(""), pl.col("label").cast(pl.Int8, strict=False))
    if df["label"].null_count() or not set(df["label"].unique().to_list()) <= {0, 1}:
        raise TextInputError(f"corpus {p}: label must be 0 or 1 on every row")
    return df


def _template_groups(sources: list[str]) -> np.ndarray:
    """Group id per row: the template it came from (``template:cat:i``), else the row itself."""
    keys = [":".join(s.split(":")[:3]) if s.startswith("template:") else f"row{i}" for i, s in enumerate(sources)]
    _, inv = np.unique(np.asarray(keys), return_inverse=True)
    return np.asarray(inv)


def train(
    corpus: pl.DataFrame | None = None,
    c: float = 8.0,
    flag_weight: float = 0.15,
    folds: int = 5,
    seed: int = 0,
) -> TextModel:
    """Fit vectoriser and logistic regression on the corpus; Platt-scale on template-held-out folds."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    df = load_corpus() if corpus is None else corpus
    texts = df["text"].to_list()
    y = df["label"].to_numpy().astype(np.int64)
    if y.min() == y.max():
        raise TextInputError("corpus needs both fraud (1) and legitimate (0) rows")
    groups = _template_groups(df["source"].to_list())
    norm, link_flags = _normalise(urls.as_series(texts))
    norm_list = norm.to_list()
    flags = _flag_matrix(norm, link_flags) * flag_weight

    def vec() -> Any:
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True, lowercase=False,
                               dtype=np.float64)

    def fit(idx: np.ndarray) -> tuple[Any, Any]:
        v = vec()
        g = v.fit_transform([norm_list[i] for i in idx])
        x = sparse.hstack([g, sparse.csr_matrix(flags[idx])], format="csr")
        lr = LogisticRegression(C=c, solver="liblinear", dual=True, class_weight="balanced", max_iter=1000,
                                random_state=seed)
        lr.fit(x, y[idx])
        return v, lr

    # Out-of-fold decisions with whole templates held out: what a new wording would get.
    oof = np.zeros(len(texts))
    n_groups = int(groups.max()) + 1
    for tr, te in GroupKFold(n_splits=min(folds, n_groups)).split(norm_list, y, groups):
        v, lr = fit(tr)
        x_te = sparse.hstack([v.transform([norm_list[i] for i in te]), sparse.csr_matrix(flags[te])], format="csr")
        oof[te] = lr.decision_function(x_te)
    platt = LogisticRegression(C=1e4, solver="lbfgs")
    platt.fit(oof.reshape(-1, 1), y)
    v, lr = fit(np.arange(len(texts)))
    digest = hashlib.sha256("\n".join(f"{t}\t{lab}" for t, lab in zip(texts, y, strict=True)).encode()).hexdigest()
    from sklearn.metrics import roc_auc_score

    return TextModel(
        vectorizer=v,
        coef=lr.coef_.ravel().astype(np.float64),
        intercept=float(lr.intercept_[0]),
        platt_a=float(platt.coef_[0, 0]),
        platt_b=float(platt.intercept_[0]),
        flag_weight=flag_weight,
        version=f"sms-text-{digest[:12]}",
        meta={"n_texts": len(texts), "n_fraud": int(y.sum()), "n_features": len(v.vocabulary_) + len(FLAG_NAMES),
              "oof_auc": float(roc_auc_score(y, oof)), "c": c},
    )


@lru_cache(maxsize=1)
def default_model() -> TextModel:
    """The model trained on the shipped corpus, once per process."""
    return train()


def score_texts(texts: Sequence[str | None] | Any, model: TextModel | None = None) -> np.ndarray:
    """Fraud probability (0..1) per text; accepts lists, numpy, pyarrow or Polars columns; nulls score as ``""``."""
    return (model or default_model()).score(texts)


def explain_texts(texts: Sequence[str | None] | Any, k: int = 5, model: TextModel | None = None
                  ) -> list[list[tuple[str, float]]]:
    """Top contributing n-grams/flags per text (see :meth:`TextModel.explain`)."""
    return (model or default_model()).explain(texts, k)


def extract_domains(texts: Sequence[str | None] | Any) -> list[list[str]]:
    """Registered domains per text (see :func:`fanzha.numbers.urls.extract_domains`)."""
    return urls.extract_domains(texts)


def read_table(path: Path, encoding: str | None = None) -> tuple[pl.DataFrame, str]:
    """A CSV with every column kept as text, UTF-8 (BOM or not) or GBK/GB18030 detected; returns the encoding."""
    if not path.is_file():
        raise TextInputError(f"no input file {path}")
    raw = path.read_bytes()
    if encoding:
        try:
            decoded, used = raw.decode(encoding), encoding
        except LookupError:
            raise TextInputError(f"unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as exc:
            raise TextInputError(f"{path} is not valid {encoding}: {exc.reason} at byte {exc.start}") from None
    else:
        for candidate in ("utf-8-sig", "gb18030"):
            try:
                decoded, used = raw.decode(candidate), candidate
                break
            except UnicodeDecodeError:
                continue
        else:  # pragma: no cover - gb18030 decodes nearly any byte string
            raise TextInputError(f"{path}: cannot detect the encoding; pass --encoding")
    if decoded.startswith("\ufeff"):
        decoded = decoded[1:]
    if not decoded.strip():
        raise TextInputError(f"{path} is empty")
    try:
        df = pl.read_csv(io.StringIO(decoded), infer_schema=False, truncate_ragged_lines=False)
    except pl.exceptions.PolarsError as exc:
        raise TextInputError(f"{path} is not a readable CSV: {str(exc).splitlines()[0]}") from None
    return df, used


def classify_csv(
    in_path: Path,
    text_col: str,
    out_path: Path,
    threshold: float | None = None,
    encoding: str | None = None,
    with_domains: bool = False,
    model: TextModel | None = None,
) -> dict[str, Any]:
    """Score every row's text and write the input rows, same order, with ``score`` and ``pred`` (and ``domains``)."""
    df, used = read_table(in_path, encoding)
    if text_col not in df.columns:
        raise TextInputError(f"column {text_col!r} not in {in_path}; columns: {', '.join(df.columns)}")
    clash = [c for c in ("score", "pred", *(["domains"] if with_domains else [])) if c in df.columns]
    if clash:
        raise TextInputError(f"{in_path} already has column(s) {', '.join(clash)}; rename them first")
    thr = DEFAULT_THRESHOLD if threshold is None else threshold
    if not 0.0 <= thr <= 1.0:
        raise TextInputError(f"threshold must be between 0 and 1, got {thr}")
    m = model or default_model()
    texts = df[text_col].fill_null("")
    scores = m.score(texts)
    out = df.with_columns(pl.Series("score", np.round(scores, 6)), pl.Series("pred", (scores >= thr).astype(np.int8)))
    if with_domains:
        out = out.with_columns(pl.Series("domains", [" ".join(d) for d in urls.extract_domains(texts)]))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out.write_csv(out_path, quote_style="necessary")
    return {"rows": out.height, "flagged": int(out["pred"].sum()), "encoding": used, "threshold": thr,
            "model": m.version}


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    """Small helper for tests and tools: rows of dicts to a UTF-8 CSV."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
