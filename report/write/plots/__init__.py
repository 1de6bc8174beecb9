"""Figures drawn from analysis results with matplotlib's object API (no pyplot state)."""
