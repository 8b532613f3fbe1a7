"""The paper's two versions (studies/do2022: preprint.csv, sensors2022.csv): every value traced to its table,
and `skinbench report --paper` putting the chosen version's values in every paper column, naming the version."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from make_fixture import FIXTURES
from skinbench.errors import RunError
from skinbench.report.build import build_report
from skinbench.report.claim_data import study_claims
from skinbench.report.claims import claims_section, comparisons, unclaimed
from skinbench.report.runs import load_results
from skinbench.report.summary import summarise
from skinbench.studies.do2022.published import DEFAULT_VERSION, VERSIONS, published

SHARDS = [FIXTURES / "shard-a", FIXTURES / "shard-b"]


@pytest.mark.parametrize("name", VERSIONS.names())
def test_every_value_names_its_table_in_its_own_version(name: str) -> None:
    paper = published(name)
    assert len(paper.frame) > 0
    assert paper.frame["source"].str.fullmatch(rf"{paper.version.source_prefix} Table A?\d+").all()
    assert not paper.frame.duplicated(["table", "row", "column"]).any()


def test_the_article_has_its_own_numbers_and_not_the_preprints_ablation() -> None:
    preprint, article = published("preprint"), published("sensors2022")
    assert (preprint.value(4, "InceptionResNetV2", "accuracy"), article.value(4, "InceptionResNetV2", "accuracy")) == (0.93, 0.79)
    assert (preprint.value(5, "InceptionResNetV2", "accuracy"), article.value(5, "InceptionResNetV2", "accuracy")) == (0.89, 0.90)
    assert (preprint.value(5, "MobileNetV3Large", "accuracy"), article.value(5, "MobileNetV3Large", "accuracy")) == (0.84, 0.86)
    assert article.value(4, "VGG16", "accuracy") is None and not article.has(9) and not article.has(10)
    assert article.cite(4) == "Table 4 (article Table 5)" and preprint.cite(4, 5) == "Tables 4, 5"


def test_an_unknown_version_is_one_error_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="unknown paper version 'arxiv'; choose from preprint, sensors2022"):
        published("arxiv")
    from skinbench.cli import app

    result = CliRunner().invoke(app, ["report", *map(str, SHARDS), "--out", str(tmp_path), "--paper", "arxiv"])
    assert result.exit_code == 2
    assert "--paper must be one of preprint, sensors2022, not 'arxiv'" in result.output
    assert "Traceback" not in result.output and not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def article_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skinbench.cli import app

    out = tmp_path_factory.mktemp("sensors2022")
    result = CliRunner().invoke(app, ["report", *map(str, SHARDS), "--out", str(out), "--bootstrap", "0", "--no-plots",
                                      "--paper", "sensors2022"])
    assert result.exit_code == 0, result.output
    return out


def _paper(out: Path, table: str, row: str, column: str = "accuracy") -> float:
    frame = pd.read_csv(out / f"{table}.csv")
    return frame.loc[(frame["row"] == row) & (frame["column"] == column), "paper"].item()


def test_report_shows_the_articles_values_and_names_it(article_report: Path) -> None:
    assert _paper(article_report, "table04_accuracy_augmented", "InceptionResNetV2") == 0.79
    assert _paper(article_report, "table05_accuracy_metadata", "InceptionResNetV2") == 0.90
    assert _paper(article_report, "table05_accuracy_metadata", "MobileNetV3Large") == 0.86
    assert _paper(article_report, "table08_mobile_models", "Accuracy", "MobileNetV3Large") == 0.86
    assert _paper(article_report, "table06_f1_per_class", "InceptionResNetV2 + Augmented Data", "mean") == 0.58
    assert pd.read_csv(article_report / "table09_ablation.csv")["paper"].isna().all()
    text = (article_report / "report.md").read_text()
    header = text.split("\n## ", 1)[0]
    assert "Paper version: `sensors2022`, Sensors 22(19):7530, 2022, doi:10.3390/s22197530" in header
    assert "Skin Lesion Classification on Imbalanced Data Using Deep Learning with Soft Attention" in header
    table9 = text.split("## Table 9.", 1)[1].split("\n## ", 1)[0]
    assert "Not in this version: sensors2022 has no counterpart of Table 9" in table9
    table4 = text.split("## Table 4.", 1)[1].split("\n## ", 1)[0]
    assert "Not in this version: VGG16 (in preprint Table 4)" in table4
    assert "Paper values: Table 4 (article Table 5) of sensors2022." in table4


def test_the_default_report_is_the_preprints(built_report: Path) -> None:
    assert DEFAULT_VERSION == "preprint"
    assert _paper(built_report, "table04_accuracy_augmented", "InceptionResNetV2") == 0.93
    assert "Paper version: `preprint`" in (built_report / "report.md").read_text().split("\n## ", 1)[0]
    assert "Not in this version" not in (built_report / "report.md").read_text()


def test_claims_quote_the_chosen_versions_values() -> None:
    summary = summarise(load_results([*SHARDS, FIXTURES / "shard-c"]), 0)
    for name, expected, source in (("preprint", (0.91, 0.89), "Tables 4, 5"),
                                   ("sensors2022", (0.84, 0.89), "Tables 4, 5 (article Table 5)")):
        (comparison,) = [c for c in comparisons(summary, published(name)) if c.claim == "augmented_accuracy"]
        (measure,) = comparison.measures
        assert (measure.paper_a, measure.paper_b, measure.paper_source) == (*expected, source)


def test_under_the_article_every_claim_is_worded_and_sourced_as_the_article_does(article_report: Path) -> None:
    text = (article_report / "report.md").read_text()
    claims = text.split("## The paper's claims, tested", 1)[1].split("\n## ", 1)[0]
    assert ("### 2. Metadata gives a higher accuracy than augmented data (paper: article Table 5 and the text after "
            "it)") in claims
    assert "Augmented data gives a higher accuracy than metadata" not in claims  # the preprint's wording
    assert "| DenseNet201: Augmented Data (a) − Metadata and WeightLoss (b) | Accuracy (paper: < 0)" in claims
    assert "- On this claim, sensors2022: the article states the reverse of the preprint" in claims
    frame = pd.read_csv(article_report / "claims.csv")
    entries = {c.id: c for c in study_claims()}
    for row in frame.itertuples(index=False):
        article = entries[row.claim].versions["sensors2022"]
        assert (row.statement, row.source) == (entries[row.claim].statement_in("sensors2022"), article.source)
        assert row.source.startswith("article ")  # its own numbering, never the preprint's
    accuracy = frame[frame["claim"] == "augmented_accuracy"]
    assert list(accuracy["direction"]) == ["< 0"]


def test_a_claim_the_article_does_not_make_is_marked_not_quoted() -> None:
    summary = summarise(load_results([*SHARDS, FIXTURES / "shard-c"]), 0)
    article = published("sensors2022")
    assert {c.claim for c in comparisons(summary, published("preprint"))} >= {"attention_plain", "dense512"}
    assert not {c.claim for c in comparisons(summary, article)} & {"attention_metadata", "attention_plain", "dense512"}
    assert [c.id for c in unclaimed(summary, article)] == ["attention_metadata", "attention_plain", "dense512"]
    text, table = claims_section(summary, article)
    assert set(table.frame["claim"]) == {"balance", "augmented_accuracy", "mobile", "depth"}
    assert ("- Not in this version: sensors2022 does not make the claim `dense512` (the article has no counterpart of "
            "preprint Table 9, the MobileNetV3Large cut ablation); its cells are in this run, untested here.") in text
    for claim in ("attention_metadata", "attention_plain", "dense512"):
        assert next(c for c in study_claims() if c.id == claim).statement not in text
    assert unclaimed(summary, published("preprint")) == []  # the preprint makes every claim of the file
    only_ablation = summarise(load_results([FIXTURES / "shard-c"]), 0)  # no cells of a claim the article makes
    text, table = claims_section(only_ablation, article)
    assert table is None and text.startswith("## The paper's claims, tested\n")
    assert "sensors2022 does not make the claim `dense512`" in text
