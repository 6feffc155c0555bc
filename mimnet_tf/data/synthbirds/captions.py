"""CUB-like captions of SynthBirds scenes, the requests people type to an editor, and their parser.

Real CUB captions name a few parts in many forms; so do these (the grammar is documented in
`docs/synthbirds_language.md`). A caption is made from *items*, (part, colour) pairs, by a
*form*:
- colour before part: "this bird has a red crown, blue wings and a white belly", "give it a
  yellow beak", fragments without "bird" ("small with a short orange bill"), and the colour with
  where it is ("a bird with grey across its back");
- part before colour: "the crown is red", "wings that are blue", "its belly is white", "a bird
  whose tail is black", "the bill is short and black", "this bird's wings are brown";
- several clauses or sentences: "this is a small bird. it has a grey head and the wings are
  black.";
- whole-bird forms: "the bird is mostly yellow with black wings", "this is a blue bird";
- requests: "make the wings blue", "change its beak to yellow", "turn the crown red".
Words vary: part synonyms (crest, breast, chest, bill, wing), colour spellings (gray, violet)
and intensity words (bright, deep, vivid) that do not change which palette colour is meant.

`TRAINING_FORMS` are the forms of the training captions (`captions_for`). The held-out phrasing
families of the benchmark live in `phrasings.py`, apart from these, and never reach training.

`named_parts` reads every form of this module and of `phrasings.py` back to {part: colour}:
a colour right before a part word names it; "<colour> <place> the / its <part>" names it (place:
across, along, around, covering, on, for); any other part
word takes the first unused colour word after it (before the next part word); "mostly <colour>"
and "<colour> bird" name every part of that colour (the whole-bird forms, used only when they
name exactly the parts of that colour).
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import numpy as np

from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS, check_colour
from mimnet_tf.data.synthbirds.seeding import generator
from mimnet_tf.data.text import split_words

# The template form (`describe`) keeps to the project's historical max_words; the other training
# captions to CAPTION_MAX_WORDS (the SynthBirds recipe's --max_words), so no part is lost to
# truncation.
MAX_WORDS = 18
CAPTION_MAX_WORDS = 24

PART_WORDS: dict[str, tuple[str, ...]] = {
    "crown": ("crown", "crest"),
    "head": ("head",),
    "belly": ("belly", "breast", "chest"),
    "wings": ("wings", "wing"),
    "tail": ("tail",),
    "beak": ("beak", "bill"),
}
# The first word of each part is the common one; synonyms are drawn with these odds.
_SYNONYM_P = 0.3
COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    **{c: (c,) for c in COLOUR_NAMES},
    "grey": ("grey", "gray"),
    "purple": ("purple", "violet"),
}
# Words before a colour word that say how intense it is, not which colour (the palette's shading).
INTENSITY_WORDS = ("bright", "deep", "vivid")
# How often CUB-like captions mention each part (wings most, beak and tail least); also the
# weights with which edit cases pick the parts they change.
MENTION_WEIGHTS: dict[str, float] = {
    "crown": 0.16, "head": 0.15, "belly": 0.2, "wings": 0.27, "tail": 0.11, "beak": 0.11
}
WHOLE_BIRD_MIN_PARTS = 3

WORD_TO_PART = {word: part for part, words in PART_WORDS.items() for word in words}
WORD_TO_COLOUR = {word: colour for colour, words in COLOUR_WORDS.items() for word in words}
_PLURAL = {"wings"}

Item = tuple[str, str]  # (part, colour)


# ---------------------------------------------------------------- words
def part_word(part: str, rng: np.random.Generator, synonyms: bool = True) -> str:
    words = PART_WORDS[part]
    if synonyms and len(words) > 1 and rng.random() < _SYNONYM_P:
        return words[1 + int(rng.integers(len(words) - 1))]
    return words[0]


def colour_word(colour: str, rng: np.random.Generator, intensity: float = 0.0) -> str:
    words = COLOUR_WORDS[colour]
    word = words[int(rng.integers(len(words)))] if len(words) > 1 and rng.random() < 0.3 else words[0]
    if intensity and rng.random() < intensity:
        word = f"{INTENSITY_WORDS[int(rng.integers(len(INTENSITY_WORDS)))]} {word}"
    return word


def is_plural(word: str) -> bool:
    return word in _PLURAL


def article(phrase: str) -> str:
    return "an" if phrase[0] in "aeiou" else "a"


def join(phrases: Sequence[str], conjunction: str = "and") -> str:
    """"x", "x and y", "x, y and z".

    A phrase that starts with a bare part word after one that ends with a colour word is joined
    by the conjunction, not a comma: the tokenizer drops commas, and "a head that is purple,
    wings that are black" would read as "purple wings"."""
    phrases = list(phrases)
    if len(phrases) == 1:
        return phrases[0]
    text = phrases[0]
    for i, phrase in enumerate(phrases[1:], start=1):
        last = i == len(phrases) - 1
        ambiguous = phrase.split()[0] in WORD_TO_PART and text.split()[-1] in WORD_TO_COLOUR
        text += f" {conjunction} " if last or ambiguous else ", "
        text += phrase
    return text


class Context:
    """What a form may say beyond the items: shape words that are true of the bird, and odds."""

    def __init__(self, rng: np.random.Generator, adjectives: Mapping[str, str] | None = None,
                 adjective_p: float = 0.3, intensity: float = 0.08, synonyms: bool = True):
        self.rng = rng
        self.adjectives = dict(adjectives or {})
        self.adjective_p = adjective_p
        self.intensity = intensity
        self.synonyms = synonyms

    def choice(self, options: Sequence):
        return options[int(self.rng.integers(len(options)))]

    def adjective(self, part: str) -> str | None:
        if part in self.adjectives and self.rng.random() < self.adjective_p:
            return self.adjectives[part]
        return None

    def part(self, part: str) -> str:
        return part_word(part, self.rng, self.synonyms)

    def colour(self, colour: str) -> str:
        return colour_word(colour, self.rng, self.intensity)


# ---------------------------------------------------------------- part phrases
def colour_first(item: Item, ctx: Context, articles: bool = True, adjectives: bool = True) -> str:
    """"a short black beak", "blue wings"."""
    part, colour = item
    noun = ctx.part(part)
    words = [ctx.colour(colour), noun]
    adjective = ctx.adjective(part) if adjectives else None
    if adjective:
        words.insert(0, adjective)
    phrase = " ".join(words)
    if articles and not is_plural(noun):
        phrase = f"{article(phrase)} {phrase}"
    return phrase


def copula(noun: str) -> str:
    return "are" if is_plural(noun) else "is"


def predicate(item: Item, ctx: Context) -> str:
    """"red", "short and black" (a shape word first, when one is true of the part)."""
    part, colour = item
    adjective = ctx.adjective(part)
    return f"{adjective} and {ctx.colour(colour)}" if adjective else ctx.colour(colour)


def part_first(item: Item, ctx: Context, determiner: str = "the") -> str:
    """"the crown is red", "its wings are blue", "the bill is short and black"."""
    noun = ctx.part(item[0])
    return f"{determiner} {noun} {copula(noun)} {predicate(item, ctx)}"


def relative(item: Item, ctx: Context) -> str:
    """"wings that are blue", "a crown that is red"."""
    noun = ctx.part(item[0])
    head = noun if is_plural(noun) else f"{article(noun)} {noun}"
    return f"{head} that {copula(noun)} {ctx.colour(item[1])}"


# ---------------------------------------------------------------- caption forms
_HAS_INTROS = ("this bird has", "a small bird with", "the bird has", "this is a bird with", "a bird with",
               "this small bird has", "this bird is small and has", "the small bird has")
_FRAGMENT_INTROS = ("", "small with", "has", "it has", "with", "small, with")


def form_colour_first_list(items: Sequence[Item], ctx: Context) -> str:
    """"this bird has a red crown, blue wings and a white belly"."""
    return f"{ctx.choice(_HAS_INTROS)} {join([colour_first(i, ctx) for i in items])}"


def form_has_relative(items: Sequence[Item], ctx: Context) -> str:
    """"this bird has wings that are brown and a yellow belly": some parts as relative clauses."""
    phrases = [relative(i, ctx) if ctx.rng.random() < 0.5 else colour_first(i, ctx) for i in items]
    return f"{ctx.choice(('this bird has', 'the bird has', 'it has', 'a bird with'))} {join(phrases)}"


def form_clauses(items: Sequence[Item], ctx: Context) -> str:
    """"the crown is red, the wings are blue and its belly is white" (no "bird")."""
    return join([part_first(i, ctx, ctx.choice(("the", "the", "its"))) for i in items])


def form_sentences(items: Sequence[Item], ctx: Context) -> str:
    """"this is a small bird. it has a grey head and the wings are black."."""
    opening = ctx.choice(("this is a small bird.", "a small bird.", "this bird is small.", "a tiny bird.", ""))
    split = int(ctx.rng.integers(0, len(items) + 1))
    sentences = [opening] if opening else []
    if split:
        sentences.append(f"it has {join([colour_first(i, ctx) for i in items[:split]])}.")
    if split < len(items):
        sentences.append(join([part_first(i, ctx, ctx.choice(('the', 'its'))) for i in items[split:]]) + ".")
    return " ".join(sentences)


def form_whose(items: Sequence[Item], ctx: Context) -> str:
    """"a bird whose tail is black and whose wings are blue"."""
    clauses = []
    for item in items:
        noun = ctx.part(item[0])
        clauses.append(f"whose {noun} {copula(noun)} {predicate(item, ctx)}")
    return f"{ctx.choice(('a bird', 'this is a bird', 'a small bird'))} {join(clauses)}"


def form_possessive(items: Sequence[Item], ctx: Context) -> str:
    """"this bird's crown is red and its wings are blue"."""
    first = part_first(items[0], ctx, ctx.choice(("this bird's", "the bird's")))
    return join([first] + [part_first(i, ctx, "its") for i in items[1:]])


def form_fragment(items: Sequence[Item], ctx: Context) -> str:
    """"small with a short orange bill", "red crown and blue wings" (no "bird")."""
    intro = ctx.choice(_FRAGMENT_INTROS)
    body = join([colour_first(i, ctx, articles=ctx.rng.random() < 0.5) for i in items])
    return f"{intro} {body}".strip()


# Words between a colour and the part it covers in "<colour> <place> the <part>" (CUB's "grey across
# its back"); "on" and "for" are kept for the held-out families (phrasings.py).
PLACE_WORDS = ("across", "along", "around", "covering")


def form_colour_place(items: Sequence[Item], ctx: Context) -> str:
    """"a bird with blue across its wings and red around the crown": the colour first, then the
    part it covers (some parts colour-first)."""
    phrases = [f"{ctx.colour(c)} {ctx.choice(PLACE_WORDS)} {ctx.choice(('the', 'its'))} {ctx.part(p)}"
               if ctx.rng.random() < 0.75 else colour_first((p, c), ctx) for p, c in items]
    return f"{ctx.choice(('this bird has', 'a bird with', 'it has', 'a small bird with', 'with', ''))} {join(phrases)}".strip()


def form_make(items: Sequence[Item], ctx: Context) -> str:
    """"make the wings blue and the crown red"."""
    det = ctx.choice(("the", "its"))
    return "make " + join([f"{det} {ctx.part(p)} {ctx.colour(c)}" for p, c in items])


def form_change(items: Sequence[Item], ctx: Context) -> str:
    """"change its beak to yellow and the tail to red"."""
    verb = ctx.choice(("change", "turn"))
    phrases = [f"{ctx.choice(('the', 'its'))} {ctx.part(p)} to {ctx.colour(c)}" for p, c in items]
    return f"{verb} " + join(phrases)


def form_turn(items: Sequence[Item], ctx: Context) -> str:
    """"turn the crown red"."""
    det = ctx.choice(("the", "its"))
    return "turn " + join([f"{det} {ctx.part(p)} {ctx.colour(c)}" for p, c in items])


def form_give(items: Sequence[Item], ctx: Context) -> str:
    """"give it a red crown and blue wings"."""
    return f"{ctx.choice(('give it', 'give the bird'))} " + join([colour_first(i, ctx) for i in items])


Form = Callable[[Sequence[Item], Context], str]
# The forms of training captions, with the share of captions each makes. Descriptions first, then
# the requests an editing user types (they name only a few parts).
DESCRIPTION_FORMS: dict[str, tuple[Form, float]] = {
    "colour_first_list": (form_colour_first_list, 0.14),
    "colour_place": (form_colour_place, 0.08),
    "has_relative": (form_has_relative, 0.12),
    "clauses": (form_clauses, 0.12),
    "sentences": (form_sentences, 0.12),
    "whose": (form_whose, 0.06),
    "possessive": (form_possessive, 0.06),
    "fragment": (form_fragment, 0.10),
}
REQUEST_FORMS: dict[str, tuple[Form, float]] = {
    "make": (form_make, 0.07),
    "change": (form_change, 0.06),
    "turn": (form_turn, 0.03),
    "give": (form_give, 0.04),
}
TRAINING_FORMS: dict[str, tuple[Form, float]] = {**DESCRIPTION_FORMS, **REQUEST_FORMS}


# ---------------------------------------------------------------- the template form
_LIST_TEMPLATES = _HAS_INTROS
_COMPACT_TEMPLATE = "a bird with {}"  # the shortest intro, used when a caption runs long
_WHOLE_TEMPLATES = ("the bird is mostly {}", "this bird is mostly {}", "this is a {} bird", "a {} bird")


def whole_bird_colour(colours: Mapping[str, str], parts: Sequence[str]) -> str | None:
    """The colour X a whole-bird form may use for `parts`, or None.

    X qualifies when at least WHOLE_BIRD_MIN_PARTS parts have colour X and all of them are in
    `parts` (so "mostly X" names exactly the listed parts of that colour).
    """
    for colour in COLOUR_NAMES:
        sharing = [p for p in COLOURABLE_PARTS if colours.get(p) == colour]
        if len(sharing) >= WHOLE_BIRD_MIN_PARTS and set(sharing) <= set(parts):
            return colour
    return None


def _check_items(colours: Mapping[str, str], parts: Sequence[str]) -> None:
    if not parts:
        raise ValueError("a caption needs at least one part to name")
    for part in parts:
        if part not in PART_WORDS:
            raise ValueError(f"Unknown part {part!r}; expected one of {COLOURABLE_PARTS}")
        if part not in colours:
            raise ValueError(f"No colour given for part {part!r}")
        check_colour(colours[part])
    if len(set(parts)) != len(parts):
        raise ValueError(f"Parts must be distinct, got {list(parts)}")


def describe(
    colours: Mapping[str, str],
    parts: Sequence[str],
    rng: np.random.Generator,
    adjectives: Mapping[str, str] | None = None,
    whole_bird: float = 0.5,
) -> str:
    """The template caption: colour before part in a list ("this bird has a red crown, blue wings").

    The benchmark's own captions (its "template" phrasing) and one of the training forms. Names
    exactly `parts` (in that order), each with its colour in `colours`; the part word is the
    common one or a synonym of the first release (breast, bill).

    Args:
        colours: {part: colour name}; must contain every part in `parts`.
        parts: the colourable parts to name, in the order they should appear.
        rng: numpy Generator (templates, synonyms, adjectives).
        adjectives: optional shape words per part ({"beak": "short", "tail": "long"}); each is
            used now and then, always before the colour word.
        whole_bird: probability of a whole-bird form ("mostly X", "a X bird") when one applies.

    Returns:
        A lower-case caption of at most MAX_WORDS words.
    """
    parts = list(parts)
    _check_items(colours, parts)
    adjectives = dict(adjectives or {})
    chosen = {p: adjectives[p] for p in parts if p in adjectives and rng.random() < 0.4}

    def phrase(part, adjective, articles):
        synonyms = {"belly": ("belly", "breast"), "beak": ("beak", "bill")}.get(part, (PART_WORDS[part][0],))
        words = [colours[part], synonyms[int(rng.integers(len(synonyms)))]]
        if adjective:
            words.insert(0, adjective)
        if articles and part not in _PLURAL:
            words.insert(0, article(words[0]))
        return " ".join(words)

    whole = whole_bird_colour(colours, parts)
    if whole is not None and rng.random() < whole_bird:
        template = _WHOLE_TEMPLATES[int(rng.integers(len(_WHOLE_TEMPLATES)))]
        rest = [p for p in parts if colours[p] != whole]
        if not rest and template.startswith("a "):
            template = "this is a {} bird"  # "a red bird" alone reads as a fragment
        head = template.format(whole)
        for articles, adjective_map in ((True, chosen), (True, {}), (False, {})):
            phrases = [phrase(p, adjective_map.get(p), articles) for p in rest]
            caption = head + (" with " + join(phrases) if phrases else "")
            if len(caption.split()) <= MAX_WORDS:
                return caption
        return caption

    template = _LIST_TEMPLATES[int(rng.integers(len(_LIST_TEMPLATES)))] + " {}"
    # Long lists fall back to fewer words: no adjectives, then the compact intro, then no articles.
    attempts = (
        (template, chosen, True), (template, {}, True), (_COMPACT_TEMPLATE, {}, True), (_COMPACT_TEMPLATE, {}, False)
    )
    for template, adjective_map, articles in attempts:
        caption = template.format(join([phrase(p, adjective_map.get(p), articles) for p in parts]))
        if len(caption.split()) <= MAX_WORDS:
            return caption
    return caption


def realise(form: Form, items: Sequence[Item], ctx: Context, max_words: int = CAPTION_MAX_WORDS) -> str:
    """`form(items)` in at most `max_words` words: redrawn without shape and intensity words, then
    with the last items left out, until it fits (every form fits one item)."""
    items = list(items)
    while True:
        for attempt in range(4):
            caption = form(items, ctx)
            if len(split_words(caption)) <= max_words:
                return caption
            ctx.adjective_p, ctx.intensity = 0.0, 0.0
        if len(items) == 1:
            raise ValueError(f"form {form.__name__} does not fit {max_words} words: {caption!r}")
        items = items[:-1]


# ---------------------------------------------------------------- reading captions back
_PLACES = (*PLACE_WORDS, "on", "for")  # the training forms' and the held-out families'


def named_parts(caption: str, colours: Mapping[str, str] | None = None) -> dict[str, str]:
    """Reads a caption of this module or of `phrasings.py` back to {part: colour}, in
    COLOURABLE_PARTS order (rules in the module docstring).

    Args:
        caption: the caption.
        colours: the bird's colours; needed only to expand a whole-bird form ("mostly X",
            "a X bird") into the parts that have colour X.
    """
    words = split_words(caption)
    colour_at = {i: WORD_TO_COLOUR[w] for i, w in enumerate(words) if w in WORD_TO_COLOUR}
    part_at = [i for i, w in enumerate(words) if w in WORD_TO_PART]
    used: set[int] = set()
    found: dict[str, str] = {}
    whole = None
    for i, colour in colour_at.items():  # whole-bird forms: "mostly X", "X bird"
        following = words[i + 1] if i + 1 < len(words) else ""
        if following == "bird" or (i > 0 and words[i - 1] == "mostly"):
            whole = colour
            used.add(i)
    unpaired = []
    for i in part_at:
        before = i - 1
        if before in colour_at and before not in used:  # "<colour> <part>"
            found[WORD_TO_PART[words[i]]] = colour_at[before]
            used.add(before)
        elif i >= 3 and words[i - 2] in _PLACES and words[i - 1] in ("the", "its") and i - 3 in colour_at \
                and i - 3 not in used:
            found[WORD_TO_PART[words[i]]] = colour_at[i - 3]  # "<colour> <place> the / its <part>"
            used.add(i - 3)
        else:
            unpaired.append(i)
    for n, i in enumerate(unpaired):  # the first unused colour after the part, before the next part
        limit = min([j for j in part_at if j > i], default=len(words))
        after = [j for j in colour_at if i < j < limit and j not in used]
        if after:
            found[WORD_TO_PART[words[i]]] = colour_at[after[0]]
            used.add(after[0])
    if whole is not None:
        if colours is None:
            raise ValueError(f"Caption {caption!r} says the bird is {whole} overall; pass `colours` to expand it")
        for part in COLOURABLE_PARTS:
            if colours.get(part) == whole and part not in found:
                found[part] = whole
    return {p: found[p] for p in COLOURABLE_PARTS if p in found}


# ---------------------------------------------------------------- captions of a scene
def shape_adjectives(bird) -> dict[str, str]:
    """Shape words that are true of `bird`: its beak and tail, short or long."""
    return {
        "beak": "long" if bird.beak_length >= 0.75 else "short",
        "tail": "long" if bird.tail_length >= 0.55 else "short",
    }


def sample_mentioned_parts(rng: np.random.Generator, count: int, exclude: Sequence[str] = ()) -> list[str]:
    """`count` distinct parts drawn with CUB-like mention weights (wings most often).

    Weighted sampling without replacement by exponential keys (Efraimidis-Spirakis): the same
    distribution as drawing one part at a time, at a fraction of the cost of `rng.choice`.
    """
    candidates = [p for p in COLOURABLE_PARTS if p not in exclude]
    if count > len(candidates):
        raise ValueError(f"Cannot pick {count} parts out of {candidates}")
    uniforms = rng.random(len(candidates))
    keys = [math.log(u) / MENTION_WEIGHTS[p] if u > 0 else -math.inf for u, p in zip(uniforms, candidates)]
    order = sorted(range(len(candidates)), key=lambda i: -keys[i])
    return [candidates[i] for i in order[:count]]


# Parts a training caption names: descriptions 1-6 (CUB's are 2-4, longer ones cover the bird, so
# a part colour swap repainted is named more often), requests 1-3.
_DESCRIPTION_PARTS = ((1, 2, 3, 4, 5, 6), (0.06, 0.2, 0.27, 0.24, 0.15, 0.08))
_REQUEST_PARTS = ((1, 2, 3), (0.55, 0.35, 0.1))
# The template form keeps its own share (the first release's captions, with its whole-bird forms).
_TEMPLATE_SHARE = 0.15


def _draw_form(rng: np.random.Generator) -> str:
    names = list(TRAINING_FORMS)
    weights = np.array([TRAINING_FORMS[n][1] for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def training_caption(colours: Mapping[str, str], rng: np.random.Generator,
                     adjectives: Mapping[str, str] | None = None) -> str:
    """One training caption of a bird with `colours`: a template caption now and then (with its
    whole-bird forms), otherwise a form of TRAINING_FORMS naming parts drawn by mention weight."""
    if rng.random() < _TEMPLATE_SHARE:
        majority = next((c for c in COLOUR_NAMES if sum(v == c for v in colours.values()) >= WHOLE_BIRD_MIN_PARTS),
                        None)
        if majority is not None and rng.random() < 0.5:  # "mostly X" with one or two other parts
            parts = [p for p in COLOURABLE_PARTS if colours[p] == majority]
            others = [p for p in COLOURABLE_PARTS if colours[p] != majority]
            if others:
                parts += sample_mentioned_parts(rng, min(len(others), int(rng.integers(1, 3))), exclude=parts)
            return describe(colours, [parts[int(i)] for i in rng.permutation(len(parts))], rng, adjectives, 1.0)
        parts = sample_mentioned_parts(rng, int(rng.choice([2, 3, 4], p=[0.4, 0.4, 0.2])))
        return describe(colours, parts, rng, adjectives, 0.3)
    name = _draw_form(rng)
    counts, odds = _REQUEST_PARTS if name in REQUEST_FORMS else _DESCRIPTION_PARTS
    parts = sample_mentioned_parts(rng, int(rng.choice(counts, p=odds)))
    items = [(p, colours[p]) for p in parts]
    return realise(TRAINING_FORMS[name][0], items, Context(rng, adjectives))


def template_captions_for(scene, num: int = 10) -> list[str]:
    """`num` deterministic template captions of `scene` (the first release's captions, each naming
    2-4 parts, or "mostly X" and one or two other parts): the benchmark's identity cases use them."""
    colours = scene.bird.as_dict()
    adjectives = shape_adjectives(scene.bird)
    rng = generator("captions", scene.seed, scene.split, scene.index)
    majority = next(
        (c for c in COLOUR_NAMES if sum(v == c for v in colours.values()) >= WHOLE_BIRD_MIN_PARTS), None
    )
    texts = []
    for _ in range(num):
        if majority is not None and rng.random() < 0.3:
            parts = [p for p in COLOURABLE_PARTS if colours[p] == majority]
            others = [p for p in COLOURABLE_PARTS if colours[p] != majority]
            if others:
                extra = ["wings"] if "wings" in others else []
                if not extra or rng.random() < 0.4:
                    extra += sample_mentioned_parts(rng, 1, exclude=parts + extra) if len(others) > len(extra) else []
                parts = parts + extra
            whole_bird = 1.0
        else:
            parts = sample_mentioned_parts(rng, int(rng.choice([2, 3, 4], p=[0.4, 0.4, 0.2])))
            whole_bird = 0.3
        order = rng.permutation(len(parts))
        texts.append(describe(colours, [parts[int(i)] for i in order], rng, adjectives, whole_bird))
    return texts


def captions_for(scene, num: int = 10) -> list[str]:
    """`num` deterministic training captions of `scene` (10 like CUB's text_c10)."""
    colours = scene.bird.as_dict()
    adjectives = shape_adjectives(scene.bird)
    rng = generator("captions", scene.seed, scene.split, scene.index)
    return [training_caption(colours, rng, adjectives) for _ in range(num)]
