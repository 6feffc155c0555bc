"""mimnet_tf: MIM-Net (text-guided image editing) and MirrorGAN in TensorFlow / Keras 3.

    import mimnet_tf
    editor = mimnet_tf.Editor.from_preset("synthbirds64")
    result = editor.edit("docs/bird.png", "this bird has green wings and a red crown")

`Editor` and `EditResult` (mimnet_tf/inference/editor.py) are imported on first use, so `import mimnet_tf`
stays instant and TensorFlow loads only when a model does.
"""
import importlib

_LAZY = {"Editor": "mimnet_tf.inference.editor", "EditResult": "mimnet_tf.inference.editor"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mimnet_tf' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
