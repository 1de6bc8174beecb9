"""Analyses of a model's weights: the computing layer, below report/ (it imports nothing from it).

Each study module (position, layernorm_basis, ln_gains, unigram, svd, correlations, zero_layer, outliers,
literature, mlp_read, experiments) has one entry point, `analyse_X` (`run_experiments` for experiments),
that takes arrays and explicit options (seed, device) and returns a frozen result dataclass whose docstring
lists its fields and units; it may export small helpers beside it (rules, percentile ranks, argmax passes).
Shared pieces: `stats` (statistical tools), `inference` and `unigram_null` (the experiments' intervals,
permutation and false-discovery tests, and the unigram dim's null over every dim), `claims` (the claim rows
and their guard), `token_pairs` (the exact pass over token pairs), `calibration` (synthetic models for
the verdicts' error rates).

Nothing here draws or reads model files. Two exceptions to "no state and no I/O", both kept out of results:
`token_pairs.PairPass` is a stateful pass that threads share (with a lock, cancellable; the report starts
it in the background through report/run/background.py), and `token_pairs.screen_precision` reads the CPU's
flags (/proc/cpuinfo) to pick the screening precision, which changes speed, not answers.
"""
