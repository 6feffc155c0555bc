"""The closing summary of `make demo` (mimnet_tf/apps/demo_lib.py)."""
import os
import re

from mimnet_tf.apps import demo_lib
from mimnet_tf.machine_load import CpuShare
from tests.doc_blocks import REPO, fenced_block

SHIPPED = {"cases": 200, "attribute_accuracy": 0.8973, "kept_accuracy": 1.0, "background_l1": 0.0039,
           "map_ratio": 23.84}
SHORT = {"cases": 200, "attribute_accuracy": 0.0123, "kept_accuracy": 0.9512, "background_l1": 0.0311,
         "map_ratio": None}
BUSY = CpuShare(seconds=720.0, cores=2, own=0.48, others=0.47)


def test_the_summary_names_the_report_both_models_the_load_and_the_next_command():
    lines = demo_lib.summary_lines("/x/demo_output/report/index.html", "pretrained/synthbirds64", SHIPPED,
                                   "demo_output/runs/synthbirds_short", SHORT, 812, 718.0, 705.0, BUSY)
    assert lines == [
        "Summary",
        "  report:        /x/demo_output/report/index.html",
        "  shipped model: pretrained/synthbirds64, 200 cases: attribute accuracy 0.897, kept 1.000, "
        "background L1 0.004, TLU map 23.8x inside the bird",
        "  short run:     demo_output/runs/synthbirds_short, 812 steps in 12.0 min of training (budget 11.8 min), "
        "200 cases: attribute accuracy 0.012, kept 0.951, background L1 0.031",
        "                 (the machine was busy: other processes took 47 % of its 2 cores, this run got 48 % "
        "(1.0 of 2 cores))",
        "  edit your own picture next:",
        '    .venv/bin/python -m mimnet_tf.edit --preset=synthbirds64 --image=my_bird.png '
        '--text="make the wings green and the crown red" --out=edited.png --save_map',
    ]


def test_without_a_shipped_model_the_short_run_is_the_one_to_edit_with():
    lines = demo_lib.summary_lines("/r/index.html", "pretrained/gone", None, "out/runs/short", SHORT, 10, 60.0, 60.0, None)
    assert lines[2] == "  shipped model: none at pretrained/gone; the short run made everything"
    assert lines[4] == "                 (CPU share not measured (no /proc/stat on this system))"
    assert "--preset=out/runs/short " in lines[-1]


def test_the_suggested_command_is_the_tested_quickstart_on_the_users_picture():
    install, command = fenced_block(os.path.join(REPO, "docs", "python_api.md"), "quickstart").split("\n", 1)
    assert install == "make install"
    command = re.sub(r"\\\n\s*", "", command)  # one line: the shell's continuations joined
    assert demo_lib.edit_command("synthbirds64") == command.replace("--image=docs/bird.png",
                                                                     f"--image={demo_lib.NEXT_IMAGE}")
