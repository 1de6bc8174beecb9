"""The weights report: load a model's embedding and LayerNorm weights, analyse them, render HTML + PDF."""

__version__ = "0.1.0"
