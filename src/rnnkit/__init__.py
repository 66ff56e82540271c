"""rnnkit: recurrent neural networks, readable and fast.

Importing ``rnnkit`` imports nothing heavy: ``rnnkit.scratch`` runs on NumPy alone, and the
torch-based parts (``rnnkit.nn``, ``rnnkit.functional``, ``rnnkit.train`` ...) are imported
on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
