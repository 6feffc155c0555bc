"""Draws docs/edit_example.png, the README's picture: a picture, its edit and the TLU map.

    .venv/bin/python docs/make_edit_example.py --preset=synthbirds64 \
        --text="make the wings green and the crown red" --out=docs/edit_example.png

Run from the repository's root. The panels are 192 px wide (nearest-neighbour up-sampling,
so no detail is invented), labelled underneath.
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

import mimnet_tf
from mimnet_tf import images

PANEL = 192
GAP = 12
LABEL_HEIGHT = 22


def panels(preset: str, image_path: str, text: str) -> list[tuple[str, np.ndarray]]:
    result = mimnet_tf.Editor.from_preset(preset).edit(image_path, text)
    picture = images.load_image(image_path)
    return [("input", picture), ("edited", result.edited), ("TLU map (where it edited)", result.map_overlay)]


def draw(labelled: list[tuple[str, np.ndarray]]) -> Image.Image:
    width = len(labelled) * PANEL + (len(labelled) - 1) * GAP
    canvas = Image.new("RGB", (width, PANEL + LABEL_HEIGHT), "white")
    pen = ImageDraw.Draw(canvas)
    for i, (label, array) in enumerate(labelled):
        x = i * (PANEL + GAP)
        canvas.paste(Image.fromarray(images.resize(array, PANEL, Image.NEAREST)), (x, 0))
        pen.text((x + 2, PANEL + 5), label, fill="black")
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="synthbirds64")
    parser.add_argument("--image", default="docs/bird.png")
    parser.add_argument("--text", default="make the wings green and the crown red")
    parser.add_argument("--out", default="docs/edit_example.png")
    args = parser.parse_args()
    draw(panels(args.preset, args.image, args.text)).save(args.out)
    print(f"Written: {args.out}")


if __name__ == "__main__":
    main()
