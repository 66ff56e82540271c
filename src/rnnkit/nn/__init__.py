"""rnnkit.nn."""
