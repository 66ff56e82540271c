"""rnnkit.functional."""
