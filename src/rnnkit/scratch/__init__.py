"""rnnkit.scratch."""
