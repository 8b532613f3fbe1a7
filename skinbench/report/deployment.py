"""The report's deployment table: every exported cell (``skinbench export``), and the paper's speed claim.

Each row is an ExportReport kept beside an exported file in a cell's ``export/`` folder:
format, size, batch-1 latency in LiteRT on the CPU it was measured on, agreement with the
Keras model and the accuracy change on the cell's reported part. The paper's abstract says
MobileNetV3Large diagnoses 30 times faster than InceptionResNetV2; where both were exported in
the same format and measured on the same CPU, the measured ratio stands beside it.
"""

from __future__ import annotations

import pandas as pd

from skinbench.catalogue import ABLATION_BACKBONE, PAPER_MOBILE_SPEEDUP, display_name
from skinbench.records import EXPORT_DIR, ExportReport
from skinbench.report.render import DASH
from skinbench.report.summary import Summary

CSV_NAME = "deployment.csv"
#: The paper's pair for the speed claim.
FAST, SLOW = ABLATION_BACKBONE, "inceptionresnetv2"


def exports(summary: Summary) -> list[tuple[str, str, ExportReport]]:
    """(cell id, backbone, record) of every export of the finished cells."""
    found = []
    for result in summary.cells:
        for path in sorted((result.cell.path / EXPORT_DIR).glob("*.json")):
            found.append((result.cell.cell_id, result.cell.backbone, ExportReport.read_path(path)))
    return found


def deployment_frame(summary: Summary) -> pd.DataFrame:
    """One line per export (empty when nothing was exported)."""
    rows = []
    for cell_id, backbone, record in exports(summary):
        one, every = record.latency_ms_1_thread or {}, record.latency_ms_all_threads or {}
        rows.append({
            "cell": cell_id, "backbone": backbone, "format": record.format, "size_mb": record.size_mb,
            "latency_ms_1_thread": one.get("median"), "latency_ms_all_threads": every.get("median"),
            "threads": record.threads, "runs": one.get("runs"), "device": record.device, "n_images": record.n_images,
            "argmax_agreement": record.argmax_agreement, "confident_images": record.confident_images,
            "confident_agreement": record.confident_agreement, "max_probability_difference": record.max_probability_difference,
            "accuracy_change": record.accuracy_change, "balanced_accuracy_change": record.balanced_accuracy_change,
        })
    return pd.DataFrame(rows)


def speedups(frame: pd.DataFrame) -> list[str]:
    """The measured latency ratio of the paper's pair, per format and CPU where both were exported."""
    lines = []
    for (fmt, device), group in frame.dropna(subset=["latency_ms_1_thread"]).groupby(["format", "device"]):
        latency = group.groupby("backbone")["latency_ms_1_thread"].median()
        if FAST in latency and SLOW in latency:
            lines.append(
                f"{display_name(FAST)} is {latency[SLOW] / latency[FAST]:.1f} times faster than {display_name(SLOW)} "
                f"({fmt}, batch 1, 1 thread, {device}: {latency[FAST]:.2f} against {latency[SLOW]:.2f} ms); "
                f"the paper's abstract says {PAPER_MOBILE_SPEEDUP} times, without saying how it measured."
            )
    return lines


def deployment_section(summary: Summary) -> tuple[str, pd.DataFrame]:
    """Markdown for report.md (empty without exports) and the frame written as deployment.csv."""
    frame = deployment_frame(summary)
    if frame.empty:
        return "", frame
    shown = frame[["cell", "format", "size_mb", "latency_ms_1_thread", "latency_ms_all_threads", "argmax_agreement",
                   "confident_agreement", "confident_images", "accuracy_change", "balanced_accuracy_change"]].rename(columns={
        "cell": "Cell", "format": "Format", "size_mb": "Size (MiB)", "latency_ms_1_thread": "Latency ms (1 thread)",
        "latency_ms_all_threads": "Latency ms (all threads)", "argmax_agreement": "Agreement with Keras",
        "confident_agreement": "Agreement, confident images", "confident_images": "Confident images",
        "accuracy_change": "Accuracy change", "balanced_accuracy_change": "Balanced accuracy change",
    })
    devices = ", ".join(sorted(frame["device"].unique()))
    runs = ", ".join(str(int(r)) for r in sorted(frame["runs"].dropna().unique())) or DASH
    lines = [
        "## Deployment: exported models", "",
        f"`skinbench export`: LiteRT on {devices}, batch 1, median of {runs} runs after warm-up (none for a "
        "SavedModel); agreement and changes against the Keras model on each cell's reported part "
        "(confident images: the Keras model's two best classes at least 0.01 apart, which int8's 1/256 output "
        "steps can resolve).", "",
        shown.astype(object).where(shown.notna(), None).to_markdown(index=False, floatfmt=".4g", missingval=DASH), "",
    ]
    claims = speedups(frame)
    lines += [f"- {claim}" for claim in claims] or [
        f"- The paper's {PAPER_MOBILE_SPEEDUP}x claim ({display_name(FAST)} against {display_name(SLOW)}) needs both "
        "exported in one format on one CPU; this run does not have them."
    ]
    return "\n".join(lines) + "\n", frame
