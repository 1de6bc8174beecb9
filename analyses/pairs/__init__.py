"""The exact pass over token pairs (entry point: token_pairs), which the zero-layer and outliers analyses read."""
