"""SMS content detector: CLI contract, link extraction, and separation of the held-out set."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from fanzha.cli.main import app
from fanzha.numbers import text, urls

runner = CliRunner()

POLICE_WARNING = (
    "【国家反诈中心】国家反诈中心提醒：公检法机关不会通过电话办案，不要向安全账户转账，接到此类电话请挂断并拨打96110。"
)
LURE = "【医保中心】您的医保卡已被停用，请于24小时内登录 ybjh-cn.top/a 重新激活，逾期将无法报销。"


@pytest.fixture(scope="module")
def model() -> text.TextModel:
    return text.default_model()


def _write(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_held_out_eval_is_separated(model: text.TextModel) -> None:
    from sklearn.metrics import f1_score, roc_auc_score

    ev = text.load_corpus(text.EVAL_PATH)
    assert ev["label"].sum() >= 150 and (ev["label"] == 0).sum() >= 300
    # The eval set must not leak into training.
    train_texts = set(text.load_corpus()["text"].to_list())
    assert not train_texts & set(ev["text"].to_list())
    s = model.score(ev["text"])
    y = ev["label"].to_numpy()
    assert roc_auc_score(y, s) > 0.9
    assert f1_score(y, s >= model.threshold) > 0.85


def test_police_warning_scores_low_and_lure_high(model: text.TextModel) -> None:
    s = model.score([POLICE_WARNING, LURE])
    assert s[0] < 0.2
    assert s[1] > 0.8


def test_score_accepts_arrow_polars_and_nulls(model: text.TextModel) -> None:
    texts = [LURE, None, "", POLICE_WARNING]
    from_list = model.score(texts)
    assert from_list.shape == (4,) and np.all((from_list >= 0) & (from_list <= 1))
    np.testing.assert_allclose(model.score(pa.array(texts)), from_list)
    np.testing.assert_allclose(model.score(pl.Series(texts)), from_list)
    assert from_list[1] == pytest.approx(from_list[2])  # null scores like ""
    # Many repeats take the distinct-text path; scores must match row by row.
    many = [LURE, POLICE_WARNING, "晚上回家吃饭吗"] * 50
    np.testing.assert_allclose(model.score(many), np.tile(model.score(many[:3]), 50))


def test_disguises_do_not_hide_a_lure(model: text.TextModel) -> None:
    plain = "兼职刷单，日结佣金，加微信详谈"
    disguised = "兼 职 刷*单，日結傭金，加 薇信 詳談"
    assert text.normalise([disguised])[0].replace(" ", "") == text.normalise([plain])[0].replace(" ", "")
    assert model.score([disguised])[0] > 0.5


def test_explanations_name_contributing_features(model: text.TextModel) -> None:
    (top,) = model.explain([LURE], k=3)
    assert len(top) == 3
    assert all(w > 0 for _, w in top[:1])
    assert any("链接" in name or "医保" in name for name, _ in top)


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        ("点击 http://abc123.top/x 领取", ["abc123.top"]),
        ("登录abc123.top/x领取", ["abc123.top"]),
        ("访问 www.yb-jh.com.cn 激活", ["yb-jh.com.cn"]),
        ("网址：abc123。top／kf", ["abc123.top"]),
        ("网址 abc123 . top 注册", ["abc123.top"]),
        ("ＨＴＴＰ：／／ＡＢＣ１２３．ＴＯＰ", ["abc123.top"]),
        ("打开 http://103.45.67.89:8080/login 认证", ["103.45.67.89"]),
        ("短链 t.cn/A6xYz12 查看", ["t.cn/a6xyz12"]),
        ("两个链接 a1.xyz/1 和 https://sub.b2.vip/p ，再来 a1.xyz/2", ["a1.xyz", "b2.vip"]),
        ("版本3.5元，文件report.pdf", []),
        ("没有链接", []),
        ("", []),
    ],
)
def test_extract_domains(msg: str, expected: list[str]) -> None:
    assert text.extract_domains([msg]) == [expected]


def test_takedown_list_skips_allowlist_and_unflagged() -> None:
    msgs = [
        "【工商银行】登录 https://www.icbc.com.cn 查看，或访问 fake-icbc.top",
        "医保停用请登录 ybjh.top/a",
        "又一条 ybjh.top/b",
        "政务网站 https://www.nhsa.gov.cn",
        "这条没被判为诈骗 other-bad.xyz",
    ]
    out = urls.takedown_list(msgs, [True, True, True, True, False])
    assert out["domain"].to_list() == ["ybjh.top", "fake-icbc.top"]
    assert out["n_texts"].to_list() == [2, 1]
    assert urls.is_allowlisted("www.icbc.com.cn".removeprefix("www.")) and urls.is_allowlisted("nhsa.gov.cn")
    assert not urls.is_allowlisted("icbc.com.cn.evil.top")
    with pytest.raises(ValueError):
        urls.takedown_list(msgs, [True])


def test_classify_text_cli_keeps_rows_and_order(tmp_path: Path) -> None:
    rows = [
        {"id": "007", "msg": LURE, "note": "a"},
        {"id": "002", "msg": "", "note": "b"},
        {"id": "010", "msg": POLICE_WARNING, "note": "c"},
        {"id": "003", "msg": "借我500，月底还你", "note": ""},
    ]
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _write(src, rows)
    res = runner.invoke(app, ["numbers", "classify-text", "--in", str(src), "--text-col", "msg", "--out", str(out),
                              "--domains"])
    assert res.exit_code == 0, res.output
    got = pl.read_csv(out, infer_schema=False)
    assert got.columns == ["id", "msg", "note", "score", "pred", "domains"]
    assert got["id"].to_list() == ["007", "002", "010", "003"]  # order and leading zeros kept
    assert got["msg"].fill_null("").to_list() == [r["msg"] for r in rows]
    scores = got["score"].cast(pl.Float64).to_numpy()
    assert np.all((scores >= 0) & (scores <= 1))
    assert got["pred"].to_list() == [str(int(s >= 0.5)) for s in scores]
    assert got["pred"][0] == "1" and got["pred"][2] == "0"
    assert got["domains"][0] == "ybjh-cn.top"
    # A stricter threshold can only flag fewer rows.
    out2 = tmp_path / "out2.csv"
    res = runner.invoke(app, ["numbers", "classify-text", "--in", str(src), "--text-col", "msg", "--out", str(out2),
                              "--threshold", "0.999999"])
    assert res.exit_code == 0, res.output
    assert pl.read_csv(out2)["pred"].sum() <= got["pred"].cast(pl.Int64).sum()


def test_classify_text_reads_gbk(tmp_path: Path, model: text.TextModel) -> None:
    rows = [{"号码": "13800000001", "短信": LURE}, {"号码": "13800000002", "短信": POLICE_WARNING}]
    src, out = tmp_path / "gbk.csv", tmp_path / "out.csv"
    _write(src, rows, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        src.read_bytes().decode("utf-8")
    res = runner.invoke(app, ["numbers", "classify-text", "--in", str(src), "--text-col", "短信", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = pl.read_csv(out)
    assert got["短信"].to_list() == [LURE, POLICE_WARNING]
    np.testing.assert_allclose(got["score"].to_numpy(), np.round(model.score([LURE, POLICE_WARNING]), 6))
    # Declared encoding works too, and a wrong declaration is a clear error.
    assert runner.invoke(app, ["numbers", "classify-text", "--in", str(src), "--text-col", "短信", "--out", str(out),
                               "--encoding", "gbk"]).exit_code == 0
    bad = runner.invoke(app, ["numbers", "classify-text", "--in", str(src), "--text-col", "短信", "--out", str(out),
                              "--encoding", "utf-8"])
    assert bad.exit_code == 2 and "not valid utf-8" in bad.output


@pytest.mark.parametrize(
    ("content", "col", "extra", "message"),
    [
        ("id,msg\n1,你好\n", "text", [], "column 'text' not in"),
        ("", "msg", [], "is empty"),
        ("id,msg,score\n1,你好,3\n", "msg", [], "already has column"),
        ("id,msg\n1,你好\n", "msg", ["--threshold", "1.5"], "threshold must be between 0 and 1"),
        ("id,msg\n1,你好\n", "msg", ["--encoding", "klingon"], "unknown encoding"),
    ],
)
def test_classify_text_bad_input_exits_2(tmp_path: Path, content: str, col: str, extra: list[str],
                                         message: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text(content, encoding="utf-8")
    res = runner.invoke(app, ["numbers", "classify-text", "--in", str(src), "--text-col", col, "--out",
                              str(tmp_path / "o.csv"), *extra])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_header_only_csv_gives_header_only_output(tmp_path: Path, model: text.TextModel) -> None:
    src, out = tmp_path / "h.csv", tmp_path / "o.csv"
    src.write_text("id,msg\n", encoding="utf-8")
    res = runner.invoke(app, ["numbers", "classify-text", "--in", str(src), "--text-col", "msg", "--out", str(out),
                              "--domains"])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").strip() == "id,msg,score,pred,domains"
    assert model.score([]).shape == (0,)


def test_missing_input_file_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["numbers", "classify-text", "--in", str(tmp_path / "nope.csv"), "--text-col", "t",
                              "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "no input file" in res.output


def test_training_is_deterministic_and_corpus_is_balanced_enough() -> None:
    corpus = text.load_corpus()
    assert corpus["label"].sum() >= 600 and (corpus["label"] == 0).sum() >= 1200
    small = pl.concat([corpus.filter(pl.col("label") == 1).head(150), corpus.filter(pl.col("label") == 0).head(300)])
    a, b = text.train(small), text.train(small)
    probe = ["刷单返利日结", "【招商银行】验证码123456，切勿告知他人"]
    np.testing.assert_array_equal(a.score(probe), b.score(probe))
    assert a.version == b.version


def test_corpus_without_both_labels_is_refused() -> None:
    df = pl.DataFrame({"text": ["a", "b"], "label": [1, 1], "source": ["", ""]}).with_columns(pl.col("label").cast(
        pl.Int8))
    with pytest.raises(text.TextInputError):
        text.train(df)
