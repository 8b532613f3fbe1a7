"""The paper's claims as data (studies/do2022/claims.toml): typed records, one error naming the file and the claim
for a malformed entry, every paper reference found in its version's numbers, and the multiplicity family."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest
import tomli_w

from make_fixture import FIXTURES
from skinbench.errors import SkinbenchError
from skinbench.report.claim_data import (
    CLAIMS_FILE,
    PARAMS,
    SPREAD,
    Claim,
    ComparisonDef,
    MeasureDef,
    Side,
    VersionEntry,
    read_claims,
    study_claims,
)
from skinbench.report.claims import claims_frame, comparisons
from skinbench.report.runs import load_results
from skinbench.report.summary import summarise
from skinbench.studies.do2022 import published as published_module
from skinbench.studies.do2022.published import VERSIONS, published

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

STUDY_FILE = Path(published_module.__file__).with_name(CLAIMS_FILE)


def test_the_study_file_loads_into_one_frozen_record_per_claim() -> None:
    claims = study_claims()
    assert [c.id for c in claims] == list(tomllib.loads(STUDY_FILE.read_text()))  # one record per entry, in order
    for claim in claims:
        assert type(claim) is Claim and dataclasses.fields(claim)
        assert all(type(m) is MeasureDef for m in claim.measures)
        assert all(type(c) is ComparisonDef and type(c.a) is Side and type(c.b) is Side for c in claim.comparisons)
        assert set(claim.versions) == set(VERSIONS.names())
        assert all(type(v) is VersionEntry for v in claim.versions.values())
        with pytest.raises(dataclasses.FrozenInstanceError):
            claim.statement = "changed"  # type: ignore[misc]
    mobile = next(c for c in claims if c.id == "mobile")
    assert (mobile.margin, mobile.family, mobile.each) == (0.05, "mobile", None)
    assert [m.direction for m in mobile.measures] == [1, 1, 0, 0, 0]  # two paired measures, three ratios
    assert mobile.comparisons[0].a == Side("mobilenetv3large", "metadata", "cut240")  # an ablation row's cells
    depth = next(c for c in claims if c.id == "depth")
    assert depth.comparisons[0].a == Side(depth_at_least=400) and depth.comparisons[0].b == Side(depth_below=400)
    accuracy = next(c for c in claims if c.id == "augmented_accuracy")
    assert accuracy.versions["sensors2022"].reverse and not accuracy.versions["preprint"].reverse
    assert accuracy.statement_in("sensors2022") == "Metadata gives a higher accuracy than augmented data"


def _write(tmp_path: Path, change) -> Path:
    """A copy of the study's file with ``change(document)`` applied."""
    document = tomllib.loads(STUDY_FILE.read_text())
    change(document)
    path = tmp_path / "claims.toml"
    path.write_text(tomli_w.dumps(document))
    return path


@pytest.mark.parametrize("claim, change, problem", [
    ("mobile", lambda d: d["mobile"].pop("statement"), "missing 'statement'"),
    ("balance", lambda d: d["balance"]["measures"][0].update(metric="melanoma_recall"),
     "unknown measure 'melanoma_recall'; the measures are accuracy, "),
    ("mobile", lambda d: d["mobile"]["comparisons"][0]["b"].update(backbone="resnet9000"),
     "side b: unknown backbone 'resnet9000'; the backbones are resnet50, "),
    ("dense512", lambda d: d["dense512"]["versions"].pop("sensors2022"), r"no \[versions.sensors2022\]"),
    ("depth", lambda d: d["depth"].update(colour="blue"), "unknown key 'colour'"),
    ("balance", lambda d: d["balance"]["measures"][0].update(direction="up"),
     "measure 'macro_f1': direction must be one of higher, lower, not 'up'"),
    ("augmented_accuracy", lambda d: d["augmented_accuracy"]["comparisons"][0]["a"].update(backbone="resnet50"),
     "side a names its backbone, but the claim is made for each backbone"),
])
def test_a_malformed_entry_is_one_error_naming_the_file_and_the_claim(tmp_path: Path, claim: str, change,
                                                                        problem: str) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(SkinbenchError, match=rf"^{re.escape(str(path))}: claim '{claim}': {problem}") as raised:
        read_claims(path)
    assert "\n" not in str(raised.value)


def test_a_file_that_is_not_toml_is_one_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "claims.toml"
    path.write_text("[balance\n")
    with pytest.raises(SkinbenchError, match=rf"^{re.escape(str(path))} is not valid TOML"):
        read_claims(path)


def test_every_paper_reference_is_in_the_numbers_of_each_version_that_makes_the_claim() -> None:
    for claim in study_claims():
        refs = [m.paper for m in claim.measures] + [r for c in claim.comparisons for r in c.paper.values()]
        for name, entry in claim.versions.items():
            if not entry.made:
                continue
            frame = published(name).frame
            for ref in filter(None, refs):
                for table in ref.tables:
                    columns = set(frame.loc[frame["table"] == str(table), "column"])
                    wanted = {PARAMS: {"params_m", "trainable_params"}, SPREAD: {"akiec", "mel", "nv"}}.get(
                        ref.column, {ref.column})
                    assert columns & wanted, f"{claim.id}: {name} has no Table {table} column {ref.column}"


def test_a_family_takes_the_rows_of_every_claim_in_it_together() -> None:
    summary = summarise(load_results([FIXTURES / "shard-a", FIXTURES / "shard-b", FIXTURES / "shard-c"]), 200)
    found = comparisons(summary)
    alone, _ = claims_frame(summary, found)
    joined = {"attention_plain", "dense512"}
    pooled, _ = claims_frame(summary, [dataclasses.replace(c, family="ablation") if c.claim in joined else c
                                       for c in found])
    tested = alone["p_value"].notna()
    in_family = alone["claim"].isin(joined) & tested
    assert set(alone.loc[in_family, "family_size"]) == {2}  # each claim alone: its two rows
    assert set(pooled.loc[in_family, "family_size"]) == {4}
    assert (pooled.loc[in_family, "p_holm"] >= alone.loc[in_family, "p_holm"]).all()
    assert (pooled.loc[in_family, "p_holm"] > alone.loc[in_family, "p_holm"]).any()
    assert pooled.loc[~in_family, "p_holm"].equals(alone.loc[~in_family, "p_holm"])  # the other families as they were
