"""The versions of the seed paper whose numbers skinbench ships: ``VERSIONS``, the one list of their names.

Light (no pandas): the command line builds ``--paper``'s choices from it before any heavy import.
"""

from __future__ import annotations

from dataclasses import dataclass

from skinbench.errors import RunError
from skinbench.registry import Registry


@dataclass(frozen=True)
class Version:
    """One version of the paper and its data file."""

    name: str  # the report's --paper value
    citation: str  # authors and title
    reference: str  # where it was published, and how its numbers were taken
    source_prefix: str  # how its ``source`` column names its tables ("preprint", "article")
    #: Why its augmented-data rows (Tables 4, 6, 7) are shown without a difference from this run's.
    augmented_note: str

    @property
    def file(self) -> str:
        return f"{self.name}.csv"


VERSIONS: Registry[Version] = Registry("paper version", [
    Version(
        "preprint",
        'Do Hoang, "Diagnostic support of skin lesion classification using CNN and soft attention" (HAM10000)',
        "the manuscript submitted to Sensors in 2022 (no DOI or arXiv identifier)",
        "preprint",
        "the paper's augmented rows were not measured on its 10% validation part (about 67% nv): its InceptionResNetV2 "
        "row is the author's IRV2+SA_15split notebook, on a test set of single-image lesions (828 images, about 80% nv) "
        "that also picked the checkpoint, and no notebook of the author's repository prints the other augmented rows",
    ),
    Version(
        "sensors2022",
        'Nguyen, Bui & Do, "Skin Lesion Classification on Imbalanced Data Using Deep Learning with Soft Attention"',
        "Sensors 22(19):7530, 2022, doi:10.3390/s22197530; values transcribed from the authors' final proof LaTeX "
        "(github.com/KhoiDOO/SLC-ID-SA), whose abstract and figures match the published article's; the tables were "
        "not checked cell by cell against the published ones",
        "article",
        "the article's augmented rows (its Table 5's AD column, Tables A3 and A4) were trained on offline-augmented "
        "images without the weighted loss and scored on a test set of 857 images that the article says HAM10000 "
        "provides, whose relation to its 90/10 training/validation split it does not state",
    ),
], error=RunError)
#: The version the report uses unless told otherwise.
DEFAULT_VERSION = "preprint"
