"""Accuracy and SQNR of predicted probabilities: the one definition that `edgemb eval`, the export
report and the benchmarks share, so they agree on the same model."""
import numpy as np


def top_k_accuracy(probabilities: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of rows (N x classes) whose label is among their k most probable classes.
    Tied probabilities rank the lower class index first, as np.argmax does: top-1 is
    argmax accuracy, and int8 outputs (which tie often) score the same on every machine."""
    best = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float((best == labels[:, None]).any(axis=1).mean())


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of `test` against `reference`, in dB."""
    noise = max(float(((reference - test) ** 2).sum()), 1e-30)  # identical outputs: a finite 300 dB
    return 10 * np.log10(float((reference ** 2).sum()) / noise)
