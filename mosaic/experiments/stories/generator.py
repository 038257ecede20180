"""An offline generator of children's stories in the spirit of TinyStories / BabiStories.

The paper trains on BabiStories (Mixtral-written children's stories, section 5). Hub access is
not always possible, so the ``embedded`` corpus source writes its own stories: a small world
(named characters, places, objects, helpers, fears, wishes) and ten plot templates
(:mod:`mosaic.experiments.stories.story_plots`) whose sentences have several wordings and compositional slots.

What makes these stories useful for the paper's question is *context tracking*: the hero's name,
pronouns, friend, parent, place and object are drawn once per story and come back in later
sentences and in the ending ("From that day on, Lily always kept her red kite close."), so a
model can only predict them by reading the story so far — the in-context associative memory
that Memory Mosaics are about.

Determinism: every story stream comes from ``random.Random`` seeded with a string built from
(seed, split) — never global random state or the salted built-in ``hash()`` — so the same
(seed, split) gives the same stories on every machine, and story ``i`` does not depend on how
many stories are requested (the first N stories are a prefix of the first M > N).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from mosaic.experiments.stories import story_plots as plots

# Story length bounds in words (TinyStories-like lengths); a drawn story outside them is redrawn.
MIN_WORDS, MAX_WORDS = 80, 250

# ------------------------------------------------------------------------------------ the cast
GIRL_NAMES = ("Lily Mia Emma Sara Anna Lucy Zoe Ella Amy Rose Kate Ruby Grace Molly Daisy Lena "
              "Nora Ivy Maya Sophie Chloe Hannah Julia Clara Alice Bella Jenny Tina Sue Eva").split()
BOY_NAMES = ("Tom Ben Max Sam Leo Jack Tim Finn Luke Jake Noah Alex Ryan Oscar Henry Owen Adam "
             "Eli Theo Milo Jonah Peter Hugo Liam Dan Kevin Paul Simon Billy Ted").split()
CHILD_ADJECTIVES = "kind happy curious brave shy cheerful clever playful gentle busy friendly".split()
ANIMAL_KINDS = ("bunny puppy kitten bear fox mouse duck squirrel frog owl lamb pig turtle "
                "monkey elephant giraffe deer hedgehog penguin").split()
CHILD_HOMES = ("in a small house near the woods", "in a little yellow house", "in a busy town",
               "on a quiet farm", "in a cozy house by the sea", "in a tiny village",
               "in a house with a red door", "in a big city")
ANIMAL_HOMES = ("in a cozy hole under a big tree", "in a little den near the river",
                "in a warm nest of leaves", "at the edge of a green forest",
                "in a sunny meadow full of flowers", "near a quiet pond")
HOBBIES = ("to sing songs", "to draw pictures", "to run fast", "to read books",
           "to play outside", "to collect shiny stones", "to help others", "to dance",
           "to look at the clouds", "to play games with friends")
PARENTS = (("mom", "Mom", True), ("dad", "Dad", False), ("grandma", "Grandma", True),
           ("grandpa", "Grandpa", False))
COLORS = "red blue green yellow purple pink orange white brown silver".split()
TOYS = ("ball", "kite", "teddy bear", "toy car", "toy boat", "doll", "hat", "scarf", "book", "drum",
        "whistle", "marble", "blanket", "robot", "puzzle", "yo-yo", "toy train", "bucket",
        "umbrella", "balloon")
FOODS = ("apples", "cookies", "sandwiches", "grapes", "crackers", "muffins")
OPENINGS = ("Once upon a time", "One day", "One sunny morning", "Long ago",
            "One bright afternoon", "Not long ago", "One warm summer day", "One cold winter morning")


@dataclass(frozen=True)
class Place:
    """A setting: ``to``/``at`` phrases, hiding spots (3+ distinct ones per story) and sights."""

    name: str
    prep: str
    spots: tuple[str, ...]
    sights: tuple[str, ...]

    @property
    def at(self) -> str:
        return f"{self.prep} {self.name}"

    @property
    def to(self) -> str:
        return f"to {self.name}"


PLACES = (
    Place("the park", "at", ("under the bench", "behind the big tree", "near the swings",
                             "in the tall grass", "under the slide"),
          ("the ducks on the pond", "the big fountain", "the children on the swings")),
    Place("the forest", "in", ("under a pile of leaves", "behind an old log", "near a mossy rock",
                               "inside a hollow tree", "under a bush"),
          ("a family of deer", "tall trees with green leaves", "a little stream")),
    Place("the beach", "at", ("under the soft sand", "near the big rocks", "by the water",
                              "behind a pile of shells", "under a beach chair"),
          ("the blue waves", "a red crab", "white birds over the sea")),
    Place("the garden", "in", ("under the rose bush", "behind the flower pots", "near the little pond",
                               "between the tall sunflowers", "under the old wheelbarrow"),
          ("the bright flowers", "a busy bee", "a fat green caterpillar")),
    Place("the farm", "on", ("in the barn", "behind the hay", "near the duck pond",
                             "under the old cart", "next to the fence"),
          ("the cows and the sheep", "a big red tractor", "the baby chicks")),
    Place("the meadow", "in", ("in the long grass", "under a yellow flower", "behind a round rock",
                               "near the wooden fence", "by the old well"),
          ("hundreds of flowers", "butterflies of every color", "a small rabbit")),
    Place("the playground", "at", ("under the seesaw", "in the sandbox", "behind the climbing frame",
                                   "near the gate", "under the slide"),
          ("the tall slide", "children playing tag", "the red swings")),
    Place("the backyard", "in", ("under the porch", "behind the shed", "in the vegetable patch",
                                 "next to the apple tree", "under the picnic table"),
          ("the apple tree", "the little vegetable patch", "a bird bath")),
    Place("the river", "by", ("under the wooden bridge", "between the smooth stones", "in the reeds",
                              "near the old boat", "behind a willow tree"),
          ("fish jumping in the water", "a wooden bridge", "green frogs on the stones")),
    Place("the library", "at", ("under a table", "behind a tall shelf", "near the big window",
                                "on a soft chair", "next to the desk"),
          ("shelves full of books", "a reading corner with pillows", "a big globe")),
)


@dataclass(frozen=True)
class Character:
    """A named character; pronoun fields keep later sentences consistent with the first."""

    name: str
    female: bool
    kind: str  # "little girl", "bunny", "mom", ...
    adjective: str = ""

    he = property(lambda s: "she" if s.female else "he")
    him = property(lambda s: "her" if s.female else "him")
    his = property(lambda s: "her" if s.female else "his")
    himself = property(lambda s: "herself" if s.female else "himself")
    He = property(lambda s: s.he.capitalize())
    His = property(lambda s: s.his.capitalize())

    @property
    def desc(self) -> str:
        return f"{self.adjective} {self.kind}".strip()

    @property
    def a_desc(self) -> str:
        return with_article(self.desc)


def with_article(phrase: str) -> str:
    """"a red ball" / "an orange kite" (initial vowel letter decides; enough for our lexicon)."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


class _Choice:
    """A slot that draws one of its options at each use: "{sad}" may read "sad" in one sentence
    and "upset" in the next, while per-story slots (names, the object) stay fixed. Drawing in
    ``__format__`` keeps ``str.format_map`` (fast, in C) as the template engine."""

    __slots__ = ("options", "rng")

    def __init__(self, options: tuple[str, ...], rng: random.Random):
        self.options, self.rng = options, rng

    def __format__(self, spec: str) -> str:
        return self.rng.choice(self.options)


_SENTENCE_START = re.compile(r'(^|[.!?]\s+|\n)("?)([a-z])')


def _capitalize_sentences(text: str) -> str:
    """Capitalise sentence starts. A "!" or "?" that closes a quotation ("Help!" cried Tom)
    is followed by lower case, so only sentence ends outside quotes trigger."""

    def fix(m: re.Match) -> str:
        return m.group(1) + m.group(2) + m.group(3).upper()

    return _SENTENCE_START.sub(fix, text)


def _draw_cast(rng: random.Random) -> dict:
    """Draw the per-story slots shared by all plots."""
    animal = rng.random() < 0.4
    names = rng.sample(GIRL_NAMES + BOY_NAMES, 2)
    kinds = rng.sample(ANIMAL_KINDS, 2) if animal else None

    def character(i: int) -> Character:
        female = names[i] in GIRL_NAMES
        kind = kinds[i] if animal else ("little girl" if female else "little boy")
        return Character(names[i], female, kind, rng.choice(CHILD_ADJECTIVES))

    hero, friend = character(0), character(1)
    role, title, female = rng.choice(PARENTS)
    parent = Character(title, female, role)
    place = rng.choice(PLACES)
    spot1, spot2, spot3 = rng.sample(place.spots, 3)
    color, toy = rng.choice(COLORS), rng.choice(TOYS)
    return dict(
        h=hero, f=friend, p=parent, p_rel=f"{hero.his} {role}", place=place,
        spot1=spot1, spot2=spot2, spot3=spot3, sight=rng.choice(place.sights),
        obj=f"{color} {toy}", obj_a=with_article(f"{color} {toy}"), toy=toy, color=color,
        opening=rng.choice(OPENINGS), home=rng.choice(ANIMAL_HOMES if animal else CHILD_HOMES),
        hobby=rng.choice(HOBBIES), food=rng.choice(FOODS),
    )


def generate_story(rng: random.Random) -> str:
    """One story drawn with ``rng``: a plot, a cast, then one wording per beat."""
    choices = {key: _Choice(options, rng) for key, options in plots.SHARED_CHOICES.items()}
    while True:
        plot = rng.choice(plots.PLOTS)
        slots = _draw_cast(rng)
        slots.update(plot.setup(rng, slots))
        slots.update(choices)
        paragraphs, sentences = [], []
        for beat in (plots.INTRO, *plot.beats):
            if beat is plots.PARAGRAPH:
                paragraphs.append(" ".join(sentences))
                sentences = []
                continue
            sentence = rng.choice(beat).format_map(slots)
            if "{" in sentence:  # plot slots (e.g. a fear's sentences) hold slots themselves
                sentence = sentence.format_map(slots)
            sentences.append(sentence)
        paragraphs.append(" ".join(sentences))
        story = _capitalize_sentences("\n\n".join(p for p in paragraphs if p))
        if MIN_WORDS <= len(story.split()) <= MAX_WORDS:
            return story


def _stream_seed(seed: int, split: str) -> str:
    # A string seed: random.Random hashes it with SHA-512, identical on every platform.
    return f"mosaic-embedded-stories/seed={int(seed)}/split={split}"


def generate_stories(n: int, seed: int, split: str = "train") -> list[str]:
    """The first ``n`` stories of the (seed, split) stream (a prefix-stable, deterministic list)."""
    if n < 0:
        raise ValueError(f"number of stories must be >= 0, got {n}")
    rng = random.Random(_stream_seed(seed, split))
    return [generate_story(rng) for _ in range(n)]


def generate_splits(n_train: int, n_val: int, seed: int) -> tuple[list[str], list[str], int]:
    """Train and validation stories from disjoint streams; a validation story identical to a
    training story (possible in principle, never seen in practice) is replaced by the next one
    of the validation stream. Returns (train, val, number of replaced validation stories)."""
    train = generate_stories(n_train, seed, "train")
    seen = set(train)
    rng = random.Random(_stream_seed(seed, "val"))
    val, replaced = [], 0
    while len(val) < n_val:
        story = generate_story(rng)
        if story in seen:
            replaced += 1
            continue
        val.append(story)
    return train, val, replaced
