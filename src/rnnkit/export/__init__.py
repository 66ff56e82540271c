"""Export a trained run of any task: ONNX graphs (lengths and recurrent state as explicit
inputs and outputs) and NumPy bundles for the scratch engine, with runtimes for both."""
