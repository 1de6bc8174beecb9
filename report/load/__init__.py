"""Reading a checkpoint: the Hub and ranged reads, weights, architectures, tokens, frequencies, text."""
