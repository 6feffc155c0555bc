"""CelebA (aligned faces) with Text2FaceGAN captions, or captions made from the attributes.

Layout of `data_dir` (flat, or CelebA's own Img/ Anno/ Eval/ folders):

    img_align_celeba/XXXXXX.jpg        (or Img/img_align_celeba/) 178 x 218 aligned faces
    list_eval_partition.txt            (or Eval/) "XXXXXX.jpg <0 train | 1 val | 2 test>"
    list_attr_celeba.txt               (or Anno/) count, 40 names, "XXXXXX.jpg 1 -1 ..." rows

Captions come from `caption_file` when given (a path, or a name inside data_dir):
- Text2FaceGAN's caps.txt: "XXXXXX.jpg<TAB>sentence.|sentence.|..."; the sentences of an image
  form its one caption;
- or a simple "image_id<TAB>caption" / "image_id,caption" file (CSV quoting allowed, an optional
  header row, several lines for one image give several captions).
Without a caption file, captions are made from list_attr_celeba.txt (celeba_captions.py) and, as
Text2FaceGAN does, blurry images get none and are skipped.

Split: "official" uses list_eval_partition.txt, with val + test as our test split; "random"
draws a seeded 80/20 split of the captioned images (the MIM-Net paper's 153,640 training images
are 80% of Text2FaceGAN's 192,050 captioned ones).
"""
from __future__ import annotations

import csv
import os

from mimnet_tf.data import celeba_captions, reading

LAYOUT = (
    "<data_dir>/img_align_celeba/XXXXXX.jpg, <data_dir>/list_eval_partition.txt and "
    "<data_dir>/list_attr_celeba.txt (or CelebA's Img/, Eval/, Anno/ folders), plus an optional caption file"
)
SPLIT_RULES = ("official", "random")
_HEADER_KEYS = {"image", "image_id", "img", "filename", "file", "name", "image_name"}


def _candidates(data_dir: str, folder: str, name: str) -> list[str]:
    return [os.path.join(data_dir, name), os.path.join(data_dir, folder, name)]


def _image_name(value: str) -> str:
    """"000001", "img_align_celeba/000001.jpg" -> "000001.jpg"."""
    name = os.path.basename(value.strip())
    return name if os.path.splitext(name)[1] else name + ".jpg"


def read_partition(path: str) -> dict[str, int]:
    """list_eval_partition.txt -> {image name: 0 train | 1 val | 2 test}, in file order."""
    partition = {}
    for number, line in enumerate(reading.read_lines(path), start=1):
        fields = line.replace(",", " ").split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            if number == 1 and not fields[-1].isdigit():  # the Kaggle CSV's header row
                continue
            raise ValueError(f"{path}, line {number}: {line!r}; expected '<image>.jpg <0|1|2>'")
        partition[_image_name(fields[0])] = int(fields[1])
    return partition


def read_attributes(path: str) -> dict[str, dict[str, bool]]:
    """list_attr_celeba.txt -> {image name: {attribute: present}}, in file order."""
    lines = reading.read_lines(path)
    if len(lines) < 2:
        raise ValueError(f"{path}: expected a count line, a line of attribute names, then one row per image")
    names = lines[1].split()
    table = {}
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if len(fields) != len(names) + 1:
            raise ValueError(f"{path}, line {number}: {len(fields) - 1} values; expected {len(names)} (1 or -1)")
        table[_image_name(fields[0])] = {name: value == "1" for name, value in zip(names, fields[1:])}
    return table


def read_caption_file(path: str) -> dict[str, list[str]]:
    """A Text2FaceGAN caps.txt or an "image<TAB or comma>caption" file -> {image name: captions}."""
    captions: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if "\t" in line:
                key, caption = line.split("\t", 1)
            else:
                fields = next(csv.reader([line]))
                if len(fields) < 2:
                    raise ValueError(f"{path}, line {number}: {line!r}; expected 'image<TAB>caption' or 'image,caption'")
                key, caption = fields[0], ",".join(fields[1:])
            if number == 1 and key.strip().lower() in _HEADER_KEYS:
                continue
            # Text2FaceGAN separates an image's sentences with "|": together they are its caption.
            caption = " ".join(s.strip() for s in caption.split("|") if s.strip())
            captions.setdefault(_image_name(key), []).append(caption)
    return captions


def _resolve_caption_file(data_dir: str, caption_file: str) -> str:
    if os.path.isfile(caption_file):
        return caption_file
    inside = os.path.join(data_dir, caption_file)
    if os.path.isfile(inside):
        return inside
    raise FileNotFoundError(
        f"caption_file={caption_file!r} not found (looked at {caption_file} and {inside}): expected Text2FaceGAN's "
        "caps.txt or an 'image<TAB>caption' file"
    )


def read(
    data_dir: str,
    split: str,
    caption_file: str = "",
    split_rule: str = "official",
    split_seed: int = 0,
    test_fraction: float = 0.2,
):
    """Reads one split of CelebA.

    Args:
        data_dir: the CelebA folder (see the module docstring).
        split: "train" or "test".
        caption_file: Text2FaceGAN's caps.txt or an "image<TAB>caption" file; "" makes captions
            from the attributes.
        split_rule: "official" (list_eval_partition.txt; val + test are test) or "random".
        split_seed, test_fraction: the seeded split of `split_rule="random"`.

    Returns:
        A `ReadResult` in image-name order; keys are the image names without ".jpg".
    """
    reading.check_split(split)
    if split_rule not in SPLIT_RULES:
        raise ValueError(f"split_rule={split_rule!r}: expected one of {SPLIT_RULES}")
    reading.require_dir(data_dir, LAYOUT)
    image_dir = reading.find_required(
        [os.path.join(data_dir, "img_align_celeba"), os.path.join(data_dir, "Img", "img_align_celeba")],
        LAYOUT, is_dir=True,
    )
    partition_candidates = _candidates(data_dir, "Eval", "list_eval_partition.txt")
    attribute_candidates = _candidates(data_dir, "Anno", "list_attr_celeba.txt")
    partition = {}
    if split_rule == "official":
        partition = read_partition(reading.find_required(partition_candidates, LAYOUT))
    elif reading.first_existing(partition_candidates):
        partition = read_partition(reading.first_existing(partition_candidates))

    collector = reading.RecordCollector(split_rule=f"celeba-{split_rule}")
    if caption_file:
        captions = read_caption_file(_resolve_caption_file(data_dir, caption_file))
    else:
        attributes = read_attributes(reading.find_required(attribute_candidates, LAYOUT + " (or a caption_file)"))
        captions = {
            name: [celeba_captions.describe(values, name)]
            for name, values in attributes.items()
            if not values.get("Blurry", False)
        }
        blurry = len(attributes) - len(captions)
        if blurry and split == "train":  # a fact of the dataset: reported once, with the train split
            collector.report(f"no attribute caption for {blurry} blurry images (as in Text2FaceGAN)")

    names = sorted(partition) if partition else sorted(captions)
    captioned = [name for name in names if name in captions]
    unlisted = len(captions) - len(captioned)
    if unlisted and split == "train":
        collector.report(f"{unlisted} captioned images are not in list_eval_partition.txt and are left out")
    if split_rule == "official":
        in_split = [name for name in names if (partition[name] == 0) == (split == "train")]
    else:
        is_test = reading.seeded_test_mask(len(captioned), test_fraction, split_seed)
        in_split = [name for name, test in zip(captioned, is_test) if test == (split == "test")]
        if split == "train":  # uncaptioned images belong to no split: report them once
            in_split += [name for name in names if name not in captions]
    uncaptioned = [name for name in in_split if name not in captions]
    if uncaptioned:
        collector.skip_many(len(uncaptioned), f"no caption for {len(uncaptioned)} {split} images (e.g. {uncaptioned[0]})")
    for name in sorted(in_split):
        if name in captions:
            collector.add(os.path.splitext(name)[0], captions[name], image_path=os.path.join(image_dir, name))
    return collector.result()
