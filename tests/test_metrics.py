"""The one top-k accuracy that `edgemb eval`, the export report and training share."""
import numpy as np

from edge_mobilenet.metrics import top_k_accuracy

# Four classes tie at 0.5. numpy's default (unstable) argsort, which the export report
# used to count with, ranks class 6 first here while `edgemb eval` counted class 5; the
# rule now is the lower index, as np.argmax picks.
TIED = np.array([[0.25, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.25, 0.5]], np.float32)


def test_ties_rank_the_lower_class_index_first():
    assert top_k_accuracy(TIED, np.array([5]), 1) == 1.0 == float(TIED.argmax(1)[0] == 5)
    assert top_k_accuracy(TIED, np.array([6]), 1) == 0.0
    assert top_k_accuracy(TIED, np.array([9]), 3) == 0.0  # 5, 6, 7 fill the top 3
    assert top_k_accuracy(TIED, np.array([9]), 4) == 1.0


def test_top_k_counts_the_label_among_the_k_most_probable():
    probabilities = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5]], np.float32)
    labels = np.array([1, 2, 0])
    assert top_k_accuracy(probabilities, labels, 1) == 1 / 3
    assert top_k_accuracy(probabilities, labels, 2) == 2 / 3
    assert top_k_accuracy(probabilities, labels, 3) == 1.0
