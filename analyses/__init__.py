"""Pure analyses of embedding and LayerNorm weights: one module per section of the study.

Each module exposes one public function that takes arrays and explicit options and returns a frozen
result dataclass. Nothing here reads files, draws, or keeps state.
"""
