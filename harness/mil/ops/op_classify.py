"""classify: a classifier's outputs: the label of the most probable class and {label: probability}.

The probabilities are one example's (a classifier model predicts one at a time); the dict's
values are float64, as the op declares.
"""

import numpy as np


def run(ctx, probabilities, classes):
    p = np.asarray(probabilities).astype(np.float64).reshape(-1)
    labels = [c.item() if isinstance(c, np.ndarray | np.generic) else c for c in classes]
    if len(labels) != p.size:
        raise ctx.unsupported(f"classify with {p.size} probabilities for {len(labels)} classes is not supported")
    return np.array(labels[int(np.argmax(p))]), dict(zip(labels, p.tolist(), strict=True))
