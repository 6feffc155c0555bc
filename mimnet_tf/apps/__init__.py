"""What the commands do: each `python -m mimnet_tf.<command>` is a thin entry module at the package
root (flags, then one call) over its `<command>_lib` here (train, edit, evaluate, benchmark_edits,
benchmark_generation, report, demo, generate, pretrain_damsm, pretrain_stream, ship_model)."""
