"""The 20 SynthBirds species: a base colour scheme and a shape prior each.

Like a CUB class, a species fixes the look of a bird only on average: an individual keeps each
part's species colour with probability `1 - MUTATION_RATE` and otherwise takes a uniformly random
palette colour, so every part takes every colour often enough for colour words to be learnable
while the class label still means something.
"""
from __future__ import annotations

import dataclasses

from mimnet_tf.data.synthbirds.palette import COLOURABLE_PARTS, check_colour

MUTATION_RATE = 0.35


@dataclasses.dataclass(frozen=True)
class Species:
    """One class of bird.

    Args:
        name: CUB-style name (`Scarlet_Tanager`); the class directory is `NNN.<name>`.
        colours: the base colour of each colourable part, in COLOURABLE_PARTS order.
        beak: mean beak length, relative to the head radius.
        tail: mean tail length, in body units.
        bulk: mean body height / length ratio (a sparrow is bulkier than a warbler).
    """

    name: str
    colours: tuple[str, ...]
    beak: float
    tail: float
    bulk: float

    def __post_init__(self):
        if len(self.colours) != len(COLOURABLE_PARTS):
            raise ValueError(f"{self.name}: expected {len(COLOURABLE_PARTS)} colours, got {len(self.colours)}")
        for colour in self.colours:
            check_colour(colour)


# Colours in COLOURABLE_PARTS order: crown, head, belly, wings, tail, beak.
SPECIES: tuple[Species, ...] = (
    Species("Scarlet_Tanager", ("red", "red", "red", "black", "black", "grey"), 0.70, 0.50, 0.66),
    Species("Blue_Jay", ("blue", "blue", "white", "blue", "blue", "black"), 0.80, 0.66, 0.62),
    Species("American_Goldfinch", ("black", "yellow", "yellow", "black", "black", "orange"), 0.62, 0.44, 0.66),
    Species("Northern_Cardinal", ("red", "red", "red", "red", "red", "orange"), 0.66, 0.62, 0.66),
    Species("Black_Capped_Chickadee", ("black", "white", "white", "grey", "grey", "black"), 0.58, 0.50, 0.72),
    Species("Baltimore_Oriole", ("black", "black", "orange", "black", "orange", "grey"), 0.90, 0.52, 0.60),
    Species("Purple_Finch", ("purple", "purple", "pink", "brown", "brown", "grey"), 0.62, 0.46, 0.70),
    Species("Green_Jay", ("blue", "green", "yellow", "green", "green", "black"), 0.78, 0.68, 0.62),
    Species("House_Sparrow", ("grey", "brown", "grey", "brown", "brown", "black"), 0.60, 0.46, 0.74),
    Species("Rose_Breasted_Grosbeak", ("black", "black", "pink", "black", "black", "white"), 0.72, 0.48, 0.72),
    Species("Yellow_Warbler", ("orange", "yellow", "yellow", "green", "yellow", "pink"), 0.64, 0.44, 0.60),
    Species("Indigo_Bunting", ("blue", "blue", "blue", "purple", "blue", "grey"), 0.60, 0.48, 0.68),
    Species("Vermilion_Flycatcher", ("red", "red", "red", "brown", "brown", "black"), 0.74, 0.54, 0.62),
    Species("Gray_Catbird", ("black", "grey", "grey", "grey", "black", "black"), 0.76, 0.64, 0.62),
    Species("Eastern_Bluebird", ("blue", "blue", "orange", "blue", "blue", "black"), 0.66, 0.50, 0.68),
    Species("Painted_Bunting", ("blue", "blue", "red", "green", "red", "grey"), 0.60, 0.48, 0.68),
    Species("Pink_Robin", ("brown", "grey", "pink", "brown", "brown", "black"), 0.64, 0.52, 0.72),
    Species("Snow_Bunting", ("white", "white", "white", "black", "black", "yellow"), 0.60, 0.50, 0.70),
    Species("Green_Kingfisher", ("green", "green", "white", "green", "green", "black"), 1.00, 0.42, 0.64),
    Species("Purple_Martin", ("purple", "purple", "purple", "black", "black", "black"), 0.70, 0.56, 0.60),
)


def class_name(species: int) -> str:
    """CUB-style class directory name, 1-based: `001.Scarlet_Tanager`."""
    if not 0 <= species < len(SPECIES):
        raise ValueError(f"species must be in [0, {len(SPECIES)}), got {species}")
    return f"{species + 1:03d}.{SPECIES[species].name}"
