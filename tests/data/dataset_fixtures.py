"""Tiny datasets in the real on-disk formats, written by the tests into tmp_path.

Shared by test_cub.py and test_prepare.py (the other reader tests write their own layouts).
"""
import os
import pickle

import numpy as np
from PIL import Image

CUB_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross")


def random_image(rng, width, height):
    """Smooth random colours (so JPEG stays close to the pixels), uint8 [H, W, 3]."""
    corners = rng.integers(0, 256, size=(2, 2, 3)).astype(np.float32)
    u = np.linspace(0, 1, width)[None, :, None]
    v = np.linspace(0, 1, height)[:, None, None]
    top = corners[0, 0] * (1 - u) + corners[0, 1] * u
    bottom = corners[1, 0] * (1 - u) + corners[1, 1] * u
    return np.round(top * (1 - v) + bottom * v).astype(np.uint8)


def write_image(path, pixels):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_lines(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def write_cub(root, seed=0, extension=".jpg"):
    """CUB-200-2011 + Reed et al.'s text_c10: 3 classes x 2 images, 10 captions each.

    Returns a dict with per-image facts: {key: {"id", "bbox", "label", "is_train", "size"}}.
    Image 2's caption file has an empty caption line and a "..." caption (dropped).
    """
    rng = np.random.default_rng(seed)
    cub = os.path.join(root, "CUB_200_2011")
    facts, image_lines, box_lines, split_lines, label_lines = {}, [], [], [], []
    image_id = 0
    for class_index, class_name in enumerate(CUB_CLASSES):
        for n in range(2):
            image_id += 1
            name = f"{class_name.split('.')[1]}_{n + 1:04d}_{1000 + image_id}"
            key = f"{class_name}/{name}"
            width, height = int(rng.integers(40, 60)), int(rng.integers(30, 50))
            bbox = (float(rng.integers(0, 10)) + 0.5, float(rng.integers(0, 8)), 20.0, 16.0 + image_id)
            is_train = n == 0  # CUB's own split: the first image of each class trains
            write_image(os.path.join(cub, "images", key + extension), random_image(rng, width, height))
            image_lines.append(f"{image_id} {key}{extension}")
            box_lines.append(f"{image_id} " + " ".join(f"{v:.1f}" for v in bbox))
            split_lines.append(f"{image_id} {int(is_train)}")
            label_lines.append(f"{image_id} {class_index + 1}")
            captions = [f"caption {c} of {name.lower()} a bird with red wings" for c in range(10)]
            if image_id == 2:
                captions[3] = "..."
                captions.insert(5, "")
            write_lines(os.path.join(root, "text_c10", key + ".txt"), captions)
            facts[key] = {"id": image_id, "bbox": bbox, "label": class_index, "is_train": is_train,
                          "size": (width, height)}
    write_lines(os.path.join(cub, "images.txt"), image_lines)
    write_lines(os.path.join(cub, "bounding_boxes.txt"), box_lines)
    write_lines(os.path.join(cub, "train_test_split.txt"), split_lines)
    write_lines(os.path.join(cub, "image_class_labels.txt"), label_lines)
    write_lines(os.path.join(cub, "classes.txt"), [f"{i + 1} {c}" for i, c in enumerate(CUB_CLASSES)])
    return facts


def write_tagan_class_lists(folder, train_classes, test_classes):
    write_lines(os.path.join(folder, "trainvalclasses.txt"), train_classes)
    write_lines(os.path.join(folder, "testclasses.txt"), test_classes)


def write_attngan_pickles(root, train_keys, test_keys):
    for split, keys in (("train", train_keys), ("test", test_keys)):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        with open(os.path.join(root, split, "filenames.pickle"), "wb") as f:
            pickle.dump(list(keys), f, protocol=2)
