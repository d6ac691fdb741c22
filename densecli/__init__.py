"""densecli: honest, reproducible experiments with dense Keras networks on tabular data."""

__version__ = "0.1.0"
