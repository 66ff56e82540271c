"""rnnkit.viz."""
