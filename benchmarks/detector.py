"""The built-in injection detector on the project's corpus: precision and recall on the held-out half (never used to
write or tune a rule), the same on the tune half for comparison, and latency per text.

The corpus, its split and the candidate packages measured against the built-in detector are described in
benchmarks/injection_corpus/README.md; the candidates' figures there were measured once in a throwaway
environment (they are not Baton dependencies, so `make bench` does not install them) and are repeated here as notes.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from baton.detection.rules import RuleDetector
from benchmarks.bench import goal
from benchmarks.injection_corpus.split import HOLDOUT, TUNE, load

CANDIDATES = Path(__file__).resolve().parent / "injection_corpus" / "candidates.json"
# each text scanned this many times for the latency figures (one pass gives too few samples for a p95)
REPEATS = 5
# what the built-in detector is held to: the goals, stated before the holdout was first scored
MIN_RECALL = 0.8
MIN_PRECISION = 0.9
MAX_P95_US = 5_000.0


def confusion(rows: list[dict[str, Any]], detector: RuleDetector) -> dict[str, Any]:
    tp = fp = fn = tn = 0
    for row in rows:
        flagged = detector.scan(row["text"]).flagged
        injected = row["label"] == "injected"
        tp += flagged and injected
        fp += flagged and not injected
        fn += injected and not flagged
        tn += not flagged and not injected
    return {
        "texts": len(rows),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": round(tp / (tp + fp), 3) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 3) if tp + fn else 0.0,
    }


def latency_ms(rows: list[dict[str, Any]], detector: RuleDetector) -> dict[str, float]:
    samples = []
    for _ in range(REPEATS):
        for row in rows:
            started = time.perf_counter()
            detector.scan(row["text"])
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "median": round(statistics.median(samples), 3),
        "p95": round(samples[int(0.95 * (len(samples) - 1))], 3),
        "samples": len(samples),
    }


def bench_detector() -> dict[str, Any]:
    detector = RuleDetector()
    holdout, tune = load(HOLDOUT), load(TUNE)
    held, tuned = confusion(holdout, detector), confusion(tune, detector)
    latency = latency_ms(holdout, detector)
    goals = [
        goal("detector holdout recall", held["recall"], MIN_RECALL, "", higher_is_better=True),
        goal("detector holdout precision", held["precision"], MIN_PRECISION, "", higher_is_better=True),
        goal("detector latency per text, p95", latency["p95"] * 1000, MAX_P95_US, "us"),
    ]
    notes = [
        [
            "detector holdout (never tuned on)",
            f"{held['texts']} texts: {held['tp']} TP, {held['fp']} FP, {held['fn']} FN, {held['tn']} TN; "
            f"precision {held['precision']:.3f}, recall {held['recall']:.3f}",
        ],
        [
            "detector tune half (the rules were written on it)",
            f"{tuned['texts']} texts: precision {tuned['precision']:.3f}, recall {tuned['recall']:.3f}",
        ],
        [
            "detector latency per text",
            f"median {latency['median']:.3f} ms, p95 {latency['p95']:.3f} ms ({latency['samples']} scans)",
        ],
    ]
    candidates = json.loads(CANDIDATES.read_text())
    for name, figures in candidates["candidates"].items():
        holdout_figures = figures.get("holdout")
        shown = (
            f"precision {holdout_figures['precision']:.3f}, recall {holdout_figures['recall']:.3f}, "
            f"median {holdout_figures['median_ms']:.2f} ms"
            if holdout_figures
            else figures["verdict"]
        )
        notes.append([f"candidate {name} (measured {candidates['measured_on']})", shown])
    return {"holdout": held, "tune": tuned, "latency_ms": latency, "goals": goals, "notes": notes}
