"""Reading a user's ONNX model: what it is, how to feed it, how to decode it (``edge-ai-ros inspect``)."""
