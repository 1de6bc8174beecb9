"""`make bench` (experiments part): the forward-pass experiments at GPT-2-small shape (d 768, 12 layers,
V 50,257, 1,024 positions; random weights) with the default budget, timed as the report runs them.

The model is a transformers GPT-2 with GPT-2's default config; the sequences are the default budget's shape
(report/load/sequences.py: `--max-tokens` tokens as ≥ 100 sequences) holding random token ids, in clusters as the
built-in corpus gives them; 50 probed tokens (40 clump + 10 outliers, as the section probes). Prints tokens
per second of one plain pass and of the baseline (forward + two backward) pass, and the seconds of
run_experiments (every pass and the repetition prompts; loading the model and tokenizing the text, a few
seconds, are not in it); writes bench/results/experiments.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from analyses.experiments import Intervention, Model, run_experiments
from bench.measure import write_results
from report.load.architectures import architecture_for
from report.load.forward import Runner
from report.load.sequences import MIN_SEQUENCES, sequence_length
from report.run.context import Options

ROOT = Path(__file__).resolve().parent.parent
PROBES = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=Options.max_tokens)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config()
    model = GPT2LMHeadModel(config).eval().requires_grad_(False).to(args.device)
    length = sequence_length(args.max_tokens, config.n_positions)
    n = args.max_tokens // length
    rng = np.random.default_rng(0)
    ids = rng.integers(0, config.vocab_size, size=(n, length))
    clusters = np.sort(np.arange(n) % max(2, min(n, round(0.79 * MIN_SEQUENCES))))
    runner = Runner(model, False, architecture_for(config.to_dict()), ids, args.device, 0, None, None,
                    show_progress=False)
    start = time.perf_counter()
    runner.evaluate(Intervention())
    plain = time.perf_counter() - start
    timed = {}

    def baseline():
        begin = time.perf_counter()
        out = runner.baseline()
        timed["baseline"] = time.perf_counter() - begin
        return out

    tokens = model.get_input_embeddings().weight.detach().double().numpy()
    position = model.transformer.wpe.weight.detach().double().numpy()
    passes = Model(baseline, runner.evaluate, runner.repeat_probability, clusters)
    start = time.perf_counter()
    result = run_experiments(passes, tokens, position, list(range(8)), 138, None,
                             rng.choice(config.vocab_size, PROBES, replace=False), 0)
    section = time.perf_counter() - start
    results = {
        "shape": "GPT-2 small (d 768, 12 layers, V 50,257), random weights", "device": args.device,
        "max_tokens": args.max_tokens, "sequences": n, "sequence_length": length, "passes": runner.passes,
        "exact_ablations": len(result.unigram.exact_dims), "ordinary_tokens": len(result.ordinary_ids),
        "plain_pass_tokens_per_s": n * length / plain, "baseline_pass_tokens_per_s": n * length / timed["baseline"],
        "section_seconds": section, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(), "python": platform.python_version(), "torch": torch.__version__,
    }
    print(json.dumps(results, indent=1))
    write_results(ROOT / "bench" / "results" / "experiments.json", results)


if __name__ == "__main__":
    main()
