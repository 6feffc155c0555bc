"""SynthBirds: the embedded, procedural CUB-like dataset and the edit benchmark built on it.

Modules (import them by name; the package itself exports nothing, so `render` stays a module):
    palette     named colours, parts, colour snapping (`nearest_colour`, `dominant_colour`)
    species     the 20 classes (base colour scheme + shape prior)
    render      `Bird`, `Scene`, `sample_scene`, `with_colours`, `render` -> `Rendering`
    backgrounds six background families and the perch; geometry: signed distances, noise
    captions    `describe`, `captions_for`, `named_parts`
    edit_cases  `EditCase`, `edit_cases`, `identity_cases`
    writer      `write_dataset`: the CUB/AttnGAN layout on disk (`python -m mimnet_tf.data.synthbirds`)
"""
