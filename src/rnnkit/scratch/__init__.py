"""rnnkit.scratch: RNN, LSTM and GRU in NumPy with backprop through time written by hand.

Imports NumPy only (and ``safetensors.numpy`` for loading checkpoints), never torch.
"""
