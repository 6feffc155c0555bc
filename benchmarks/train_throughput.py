"""Training throughput of a real recipe, variants side by side in one run.

    python benchmarks/train_throughput.py --flagfile=configs/synthbirds.flags \\
        --variant=recipe: --variant="half width:--base_channels=16" --variant="before:@HEAD~5"

Each variant is the flagfile's training run (its data, its input pipeline, its model, its
training step, through `train_lib.setup`) with extra flags (`name:--flag=value ...`) or at
another commit of this repository (`name:@<git revision>`, checked out into a temporary git
worktree; extra flags may follow the revision). Every variant runs in a worker process of its
own and the variants take turns for `--rounds` rounds of `--steps` steps, so a change is judged
as a ratio on the same machine at the same time, whatever else the machine is doing. Printed per
variant (medians over the rounds):
- images/s of the training step on the real pipeline;
- the input pipeline's share of a step: 1 - (step time on a batch held in memory) / (step time
  on the pipeline), both measured in the same rounds;
- the step's GFLOP (float operations of the traced step graph, TF's profiler) and the achieved
  GFLOP/s;
- the ratio of images/s to the first variant.
SynthBirds is rendered and prepared on first use, as `mimnet_tf.train` does.
"""
from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


# ---------------------------------------------------------------- the worker (one variant)
def _float_operations(function, batch) -> float:
    """Float operations of one call of the tf.function `function` (forward, backward, update)."""
    import tensorflow as tf

    graph = function.get_concrete_function(batch).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)


def worker(flag_args: list[str]) -> None:
    """Builds the run of `flag_args`, then answers "run N" lines on stdin with one JSON line each."""
    from absl import flags as absl_flags

    sys.path.insert(0, os.getcwd())  # the variant's own checkout
    from mimnet_tf import flags as mimnet_flags
    from mimnet_tf.apps import train_lib

    values = absl_flags.FlagValues()
    mimnet_flags.define_flags(values)
    with tempfile.TemporaryDirectory() as model_dir:
        values(["train", *flag_args, f"--model_dir={model_dir}", "--noprogress", "--image_log_every=0"])
        config = mimnet_flags.config_from_flags(values)
        training = train_lib.setup(config, log=lambda *_: None)
        import tensorflow as tf

        from mimnet_tf.training import loop

        model, strategy = training.model, training.strategy
        batch_size = config.data.batch_size
        model.global_batch_size = batch_size
        phases = training.phases(0) if training.phases else None
        real = iter(loop.distribute_batches(strategy, training.make_dataset, 0, batch_size))
        held = iter(loop.distribute_batches(strategy, lambda start: training.make_dataset(start).take(1).cache().repeat(),
                                            0, batch_size))
        step = loop.StepFunctions(model, strategy)
        for iterator in (real, held):  # trace and warm up
            for _ in range(2):
                _wait(step(phases, iterator))
        numeric = {k: v for k, v in next(iter(training.make_dataset(0))).items() if v.dtype != tf.string}
        if phases is not None:
            model.phases = tuple(phases)
        flops = _float_operations(tf.function(model.train_step), numeric)
        print(json.dumps({"ready": True, "batch": batch_size, "flops": flops}), flush=True)
        for line in sys.stdin:
            steps = int(line.split()[1])
            timings = {}
            for name, iterator in (("pipeline", real), ("held", held)):
                began = time.perf_counter()
                for _ in range(steps):
                    losses = step(phases, iterator)
                _wait(losses)
                timings[name] = (time.perf_counter() - began) / steps
            print(json.dumps(timings), flush=True)


def _wait(losses) -> None:
    float(next(iter(losses.values())))  # the step is done when its loss is read, as in the loop


# ---------------------------------------------------------------- the harness
class Variant:
    """One worker: `name:--flags` or `name:@revision --flags`."""

    def __init__(self, spec: str, flagfile: str, scratch: str):
        name, _, rest = spec.partition(":")
        self.name = name or "recipe"
        words = shlex.split(rest)
        self.revision = words.pop(0)[1:] if words and words[0].startswith("@") else ""
        self.cwd = REPO
        if self.revision:
            self.cwd = os.path.join(scratch, f"worktree-{len(os.listdir(scratch))}")
            # (its data is rendered there on first use: another commit may render another format)
            subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", self.cwd, self.revision], check=True,
                           capture_output=True, timeout=120)
        args = [f"--flagfile={flagfile}", *words]
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", *args], cwd=self.cwd,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONPATH": self.cwd, "TF_CPP_MIN_LOG_LEVEL": "2"})
        self.info = self._read()
        self.rounds: list[dict] = []

    def _read(self) -> dict:
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"variant {self.name!r}: the worker exited with {self.process.wait()}")

    def run(self, steps: int) -> None:
        self.process.stdin.write(f"run {steps}\n")
        self.process.stdin.flush()
        self.rounds.append(self._read())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)
        if self.revision:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", self.cwd], check=False,
                           capture_output=True, timeout=120)

    def summary(self) -> dict:
        step = statistics.median(r["pipeline"] for r in self.rounds)
        held = statistics.median(r["held"] for r in self.rounds)
        batch, flops = self.info["batch"], self.info["flops"]
        return {"variant": self.name, "images_per_s": batch / step, "step_s": step,
                "input_share": max(0.0, 1.0 - held / step), "gflop_per_step": flops / 1e9,
                "gflop_per_s": flops / 1e9 / step}


def run(flagfile: str, specs: list[str], steps: int, rounds: int, print_fn=print) -> list[dict]:
    """Runs the variants in turn; returns one summary per variant (with "ratio" to the first)."""
    with tempfile.TemporaryDirectory() as scratch:
        variants = []
        try:
            for spec in specs:
                variants.append(Variant(spec, os.path.abspath(flagfile), scratch))
            for round_index in range(rounds):
                for variant in variants:
                    variant.run(steps)
                print_fn(f"round {round_index + 1}/{rounds}: " + ", ".join(
                    f"{v.name} {v.rounds[-1]['pipeline']:.3f} s/step" for v in variants))
        finally:
            for variant in variants:
                variant.close()
        summaries = [v.summary() for v in variants]
    for summary in summaries:
        summary["ratio"] = summary["images_per_s"] / summaries[0]["images_per_s"]
    return summaries


def format_table(summaries: list[dict]) -> str:
    lines = ["| variant | images/s | s/step | input share | GFLOP/step | GFLOP/s | images/s vs first |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in summaries:
        lines.append(f"| {s['variant']} | {s['images_per_s']:.1f} | {s['step_s']:.3f} | {100 * s['input_share']:.1f} % "
                     f"| {s['gflop_per_step']:.1f} | {s['gflop_per_s']:.0f} | {s['ratio']:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flagfile", default=os.path.join(REPO, "configs", "synthbirds.flags"))
    parser.add_argument("--variant", action="append", default=[],
                        help='"name:--flag=value ..." or "name:@<git revision> [--flag=value ...]"; repeatable')
    parser.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the variants take turns)")
    parser.add_argument("--json", default="", help="also write the summaries to this JSON file")
    args = parser.parse_args(argv)
    summaries = run(args.flagfile, args.variant or ["recipe:"], args.steps, args.rounds,
                    print_fn=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_table(summaries))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summaries, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
    else:
        main(sys.argv[1:])
