"""Capture loop, sources, sinks and temporal work. Never imports TensorFlow."""
