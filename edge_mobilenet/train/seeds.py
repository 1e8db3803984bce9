"""Every random draw of a run comes from a seed derived from (seed, stream, epoch, n): the
weight init, the dropout masks (n = the process's rank) and each sample's crop and flip
(n = the sample's index). An epoch therefore replays exactly from its start, whatever the
number of data loader workers or their timing: that is what makes --resume exact."""
import numpy as np

INIT, DROPOUT, CROPS, LOADER = range(4)  # the random streams


def derived_seed(seed: int, stream: int, epoch: int = 0, n: int = 0) -> int:
    return int(np.random.SeedSequence([seed, stream, epoch, n]).generate_state(1)[0])
