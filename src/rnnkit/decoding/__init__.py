"""rnnkit.decoding."""
