"""Sweeps: the same analyses over a training run's checkpoints (and several runs), one trajectory report.

sources -> engine (one task per checkpoint: task.analyse_checkpoint) -> trajectory (pure) -> write.
"""
