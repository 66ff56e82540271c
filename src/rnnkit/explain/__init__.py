"""See inside a trained network: gradient flow through time, gate statistics, neurons and
saliency, for any task's run."""
