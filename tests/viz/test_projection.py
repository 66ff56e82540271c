import numpy as np

from rnnkit.viz.projection import _label_offsets


def test_labels_of_coincident_words_are_stacked_not_overprinted():
    points = np.array([[0.0, 0.0], [5.0, 5.0], [0.0001, 0.0], [0.0, 0.0002], [2.0, 1.0]])
    offsets = _label_offsets(points)
    assert offsets[0] == offsets[1] == offsets[4] == 3  # nothing near them came earlier
    assert offsets[2] == 3 - 10 and offsets[3] == 3 - 20  # each below the ones it would cover
