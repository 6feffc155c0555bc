"""Captions made from CelebA's 40 binary attributes, in the manner of Text2FaceGAN.

Text2FaceGAN (Nasir et al., 2019) writes one caption per image: a few sentences, each about one
group of attributes (face shape, facial hair, hair, facial features, expression, what the person
wears), with "man"/"woman" and the pronouns from `Male`, and no caption for blurry images. This
module does the same with its own phrasings: every sentence has several wordings, and the
wording is picked from a hash of the image name, so an image always gets the same caption (on
any machine, any Python) while the corpus is varied.

Example:
    >>> describe({"Male": True, "Smiling": True, "Black_Hair": True}, "000001.jpg")
    'The man is smiling. He has black hair.'   # one of the wordings
"""
from __future__ import annotations

import hashlib
from typing import Mapping, Sequence

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup",
    "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns",
    "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)

_HAIR_COLOURS = (("Black_Hair", "black"), ("Blond_Hair", "blond"), ("Brown_Hair", "brown"), ("Gray_Hair", "grey"))
_FACE = (("Oval_Face", "an oval face"), ("High_Cheekbones", "high cheekbones"), ("Chubby", "chubby cheeks"),
         ("Double_Chin", "a double chin"), ("Rosy_Cheeks", "rosy cheeks"), ("Pale_Skin", "pale skin"))
_FACIAL_HAIR = (("5_o_Clock_Shadow", "a five o'clock shadow"), ("Goatee", "a goatee"),
                ("Mustache", "a mustache"), ("Sideburns", "sideburns"))
_FEATURES = (("Arched_Eyebrows", "arched eyebrows"), ("Bushy_Eyebrows", "bushy eyebrows"),
             ("Narrow_Eyes", "narrow eyes"), ("Bags_Under_Eyes", "bags under the eyes"),
             ("Big_Nose", "a big nose"), ("Pointy_Nose", "a pointy nose"), ("Big_Lips", "big lips"))
_WORN = (("Heavy_Makeup", "heavy makeup"), ("Wearing_Lipstick", "lipstick"), ("Eyeglasses", "eyeglasses"),
         ("Wearing_Hat", "a hat"), ("Wearing_Earrings", "earrings"), ("Wearing_Necklace", "a necklace"),
         ("Wearing_Necktie", "a necktie"))


def _pick(image_name: str, slot: str, options: Sequence[str]) -> str:
    """A wording chosen by a stable hash of (image, sentence slot)."""
    digest = hashlib.sha256(f"{image_name}|{slot}".encode("utf-8")).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _present(attributes: Mapping[str, bool], table) -> list[str]:
    return [phrase for name, phrase in table if attributes.get(name, False)]


def describe(attributes: Mapping[str, bool], image_name: str) -> str:
    """One caption (a few sentences) for an image from its attributes {name: present}."""
    male = attributes.get("Male", False)
    noun, he, his = ("man", "He", "his") if male else ("woman", "She", "her")
    adjectives = [w for name, w in (("Young", "young"), ("Attractive", "attractive")) if attributes.get(name)]
    described = " ".join(adjectives + [noun])
    a_described = ("an " if described[0] in "aeiou" else "a ") + described
    subject = _pick(image_name, "subject", (f"The {described}", f"This {described}", a_described.capitalize()))
    sentences = []
    if attributes.get("Smiling"):
        sentences.append(_pick(image_name, "smile", (f"{subject} is smiling.", f"{subject} smiles.",
                                                     f"{subject} has a smile on {his} face.")))
    else:  # the first sentence always names the person, so "she"/"he" has a referent
        sentences.append(_pick(image_name, "intro", (f"This is {a_described}.", f"The photo shows {a_described}.")))

    face = _present(attributes, _FACE)
    if face:
        sentences.append(_pick(image_name, "face", (f"{he} has {_join(face)}.", f"{he} has got {_join(face)}.")))

    if attributes.get("Bald"):
        sentences.append(f"{he} is bald.")
    else:
        colours = _present(attributes, _HAIR_COLOURS)
        texture = _present(attributes, (("Wavy_Hair", "wavy"), ("Straight_Hair", "straight")))
        parts = []
        if colours or texture:
            colour = _join(colours) if colours else ""
            parts.append(" ".join(w for w in (_join(texture) if texture else "", colour, "hair") if w))
        if attributes.get("Bangs"):
            parts.append("bangs")
        if attributes.get("Receding_Hairline"):
            parts.append("a receding hairline")
        if parts:
            sentences.append(_pick(image_name, "hair", (f"{he} has {_join(parts)}.", f"{he} wears {_join(parts)}.")))

    facial_hair = _present(attributes, _FACIAL_HAIR)
    if not attributes.get("No_Beard", True) and not facial_hair:
        facial_hair = ["a beard"]
    if facial_hair:
        sentences.append(_pick(image_name, "beard", (f"{he} has {_join(facial_hair)}.",
                                                     f"{he} sports {_join(facial_hair)}.")))

    features = _present(attributes, _FEATURES)
    if features:
        sentences.append(_pick(image_name, "features", (f"{he} has {_join(features)}.",
                                                        f"{his.capitalize()} face shows {_join(features)}.")))
    if attributes.get("Mouth_Slightly_Open"):
        sentences.append(_pick(image_name, "mouth", (f"{his.capitalize()} mouth is slightly open.",
                                                     f"{he} has {his} mouth slightly open.")))

    worn = _present(attributes, _WORN)
    if worn:
        sentences.append(_pick(image_name, "worn", (f"{he} is wearing {_join(worn)}.", f"{he} wears {_join(worn)}.")))
    return " ".join(sentences)
