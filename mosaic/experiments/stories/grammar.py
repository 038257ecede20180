"""The story world and its phrase builders, for :mod:`mosaic.experiments.stories.generator`.

Two kinds of slot fill a template (``str.format_map`` is the template engine):

* *per-story* values, drawn once: the characters (:class:`Character`: name, gender, kind; every
  pronoun comes from here, so "Lily ... her kite ... she" stays consistent), the hero's object
  (:class:`Thing`: its colour never changes within a story), the setting (:class:`Setting`) and a
  few landmarks in it, a snack, a game, the weather, and a small per-story *palette* of synonyms
  (this story says "glad" and "thrilled", another "cheerful") — repeated within the story,
  varied across stories, as in real children's stories;
* *per-use* values (:class:`Pick`, :class:`Gen`): drawn again at every use ("quickly" here,
  "gently" there), and whole phrases built from the word lists (a scenery clause, a weather
  sentence, a simile, a line of dialogue).
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable

from mosaic.experiments.stories import lexicon as lx


class Pick:
    """A slot that draws one of its options at each use (drawing happens in ``__format__``, so
    ``str.format_map`` stays the template engine)."""

    __slots__ = ("options", "rng")

    def __init__(self, options, rng: random.Random):
        self.options, self.rng = tuple(options), rng

    def __format__(self, spec: str) -> str:
        return self.rng.choice(self.options)


class Gen:
    """A slot whose text is built by a function at each use."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], str]):
        self.fn = fn

    def __format__(self, spec: str) -> str:
        return self.fn()


class Character:
    """A named character. ``kind`` is what it is ("girl", "bunny", "mom"); ``desc`` how the story
    first describes it ("curious little bunny"). Pronoun attributes follow ``female``."""

    __slots__ = ("name", "female", "kind", "desc", "role")

    def __init__(self, name: str, female: bool, kind: str, desc: str = "", role: str = ""):
        self.name, self.female, self.kind = name, female, kind
        self.desc, self.role = desc or kind, role

    he = property(lambda s: "she" if s.female else "he")
    him = property(lambda s: "her" if s.female else "him")
    his = property(lambda s: "her" if s.female else "his")
    himself = property(lambda s: "herself" if s.female else "himself")
    He = property(lambda s: "She" if s.female else "He")
    His = property(lambda s: "Her" if s.female else "His")
    poss = property(lambda s: lx.possessive(s.name))
    a_desc = property(lambda s: lx.with_article(s.desc))
    a_kind = property(lambda s: lx.with_article(s.kind))


class Thing:
    """A tracked object: "a shiny red kite with a long tail" at first, "the red kite" after."""

    __slots__ = ("noun", "color", "pattern", "feature")

    def __init__(self, noun: str, color: str, pattern: str, feature: str):
        self.noun, self.color, self.pattern, self.feature = noun, color, pattern, feature

    the = property(lambda s: f"the {s.color} {s.noun}")
    the_cap = property(lambda s: f"The {s.color} {s.noun}")
    a = property(lambda s: lx.with_article(f"{s.color} {s.noun}"))
    a_full = property(lambda s: lx.with_article(f"{s.pattern} {s.color} {s.noun} {s.feature}"))
    a_full_cap = property(lambda s: cap(lx.with_article(f"{s.pattern} {s.color} {s.noun} {s.feature}")))
    plain = property(lambda s: s.noun)


class Setting:
    __slots__ = ("name", "prep", "landmarks", "creatures", "activities", "at_cap", "outdoor")

    def __init__(self, name, prep, landmarks, creatures, activities):
        self.name, self.prep = name, prep
        self.outdoor = name not in INDOOR_SETTINGS
        self.landmarks, self.creatures, self.activities = landmarks, creatures, activities
        self.at_cap = f"{prep.capitalize()} the {name}"

    the = property(lambda s: f"the {s.name}")
    at = property(lambda s: f"{s.prep} the {s.name}")
    to = property(lambda s: f"to the {s.name}")


INDOOR_SETTINGS = {"library", "school", "bakery", "toy shop", "museum", "kitchen", "attic", "train station",
                   "cabin", "swimming pool", "ice rink", "circus"}


class Food:
    """A snack: countable ("apples", "they were") or not ("soup", "it was")."""

    __slots__ = ("pl", "one", "were", "them", "count")

    def __init__(self, name: str, count: bool):
        self.count = count
        self.pl = lx.plural(name) if count else name
        self.one = lx.with_article(name) if count else f"some {name}"
        self.were, self.them = ("were", "them") if count else ("was", "it")


SETTINGS = tuple(Setting(*s) for s in lx.SETTINGS)
SETTING_NAMES = tuple(s.name for s in SETTINGS)
OUTDOOR_SETTINGS = tuple(s for s in SETTINGS if s.outdoor)

_PAST = {}
_ING = {}


def past(verb: str) -> str:
    try:
        return _PAST[verb]
    except KeyError:
        _PAST[verb] = form = lx.past(verb)
        return form


def ing(verb: str) -> str:
    try:
        return _ING[verb]
    except KeyError:
        _ING[verb] = form = lx.ing(verb)
        return form


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def present(verb: str) -> str:
    return lx.third_person(verb)


def with_comma(opener: str) -> str:
    """Multi-word sentence openers take a comma ("After a while, ..."), one-word ones do not."""
    return opener + "," if " " in opener else opener


PREPS_NEAR = lx._phrases("near, by, beside, around, next to, close to, not far from, behind")
COUNTS = lx._phrases("two, three, four, five, a few, some, a pair of, a family of, a group of, six, lots of")
CREATURE_ADJ = lx._words("little tiny fat plump young busy sleepy cheeky noisy fluffy small shy "
                         "curious friendly happy old")
SKY_COLORS = lx._words("blue pale pink orange gray golden clear bright")

SIMILES = {
    "quiet": ("a mouse", "a sleeping cat", "falling snow"),
    "fast": ("the wind", "a rabbit", "a cheetah", "a rocket", "lightning", "a racing car"),
    "busy": ("a bee", "a beaver", "an ant"),
    "light": ("a feather", "a bubble", "a cloud"),
    "happy": ("a lark", "a puppy with a bone", "a clam"),
    "brave": ("a lion", "a knight", "a bear"),
    "soft": ("a cloud", "a kitten", "butter", "a pillow"),
    "cold": ("ice", "snow", "a snowman's nose"),
    "warm": ("toast", "a summer day", "a fresh bun"),
    "tall": ("a tree", "a giraffe", "a lamppost"),
    "small": ("a mouse", "a button", "a pea", "a thimble"),
    "bright": ("the sun", "a star", "a new coin"),
    "slow": ("a snail", "a turtle", "a sleepy sloth"),
    "strong": ("an ox", "a bear", "a tractor"),
    "sweet": ("honey", "sugar", "a ripe peach"),
    "red": ("a tomato", "a cherry", "a fire truck"),
    "white": ("snow", "milk", "a cloud"),
    "green": ("grass", "a frog", "a pea"),
    "round": ("a ball", "a full moon", "a plate"),
    "hungry": ("a bear", "a caterpillar", "a wolf"),
    "proud": ("a peacock", "a king"),
    "wise": ("an owl",),
    "snug": ("a bug in a rug",),
    "merry": ("a robin", "a cricket", "a bell"), "glad": ("a sunflower in June", "a dog with two tails"),
    "cheerful": ("a sunny morning", "a canary"), "joyful": ("a spring lamb", "a skylark"),
    "quick": ("a fox", "a flash", "a squirrel"), "speedy": ("a race car", "a swallow"),
    "swift": ("an arrow", "a deer", "the wind"), "bold": ("a lion", "a pirate"),
    "fearless": ("a tiger", "a firefighter"), "calm": ("a pond", "a sleeping baby"),
    "gentle": ("a lamb", "a summer breeze"), "clever": ("a fox", "an owl"),
    "still": ("a statue", "a stone"),
}


def simile(rng: random.Random, adjectives: tuple[str, ...] | None = None) -> str:
    adj = rng.choice(adjectives or tuple(SIMILES))
    return f"as {adj} as {rng.choice(SIMILES[adj])}"


def scene_clause(rng: random.Random, creatures, landmarks, now: bool = False) -> str:
    """"three robins were hopping about near the bench" / "a sleepy frog was floating by the reeds"
    (``now``: present tense, for dialogue: "three robins are hopping about near the bench")."""
    creature = rng.choice(creatures)
    action = rng.choice(lx.CREATURE_GROUPS[lx.CREATURE_GROUP_OF[creature]][1])
    where = f"{rng.choice(PREPS_NEAR)} the {rng.choice(landmarks)}"
    if rng.random() < 0.55:
        count = rng.choice(COUNTS)
        return f"{count} {lx.plural(creature)} {'are' if now else 'were'} {ing(action)} {where}"
    action = action.replace("their", "its").replace("themselves", "itself")
    return f"{lx.with_article(rng.choice(CREATURE_ADJ) + ' ' + creature)} {'is' if now else 'was'} {ing(action)} {where}"


WEATHER_SENTENCES = {
    "sunny": ("The day was {w} and the sky was {sky}.", "It was a {w}, {w} day, and the grass smelled {fresh}.",
              "The {w} sun warmed {h.poss} {body}.", "Not a single cloud was in the {sky} sky."),
    "windy": ("The wind was {w}, and the leaves danced on the {lm}.", "A {w} breeze tugged at {h.poss} {cloth}.",
              "It was a {w} day, and the clouds raced across the {sky} sky."),
    "rainy": ("It was a {w} day, and big puddles covered the path.", "Rain dripped from the {lm}, and the air smelled {fresh}.",
              "Little drops of rain tapped on {h.poss} {cloth}."),
    "snowy": ("Snow covered the {lm}, and everything was {w} and still.", "It had snowed all night, and the {lm} was {w}.", "Snowflakes landed on {h.poss} {cloth}.",
              "It was a {w} day, and {h.poss} breath made little clouds in the air."),
    "cloudy": ("Gray clouds hung over the {lm}, and the day was {w}.", "It was a {w} day, and the sun hid behind the clouds.",
               "The sky was {w}, but nobody minded."),
}
FRESH = lx._words("fresh sweet clean green earthy lovely")


def weather_sentence(rng: random.Random, slots: dict) -> str:
    kind = slots["weather"]
    template = rng.choice(WEATHER_SENTENCES[kind]).replace("{lm}", rng.choice(slots["landmarks"]))
    return template.format_map({**slots, "w": Pick(lx.WEATHER_ADJ[kind], rng),
                                "sky": Pick(SKY_COLORS, rng), "fresh": Pick(FRESH, rng),
                                "body": Pick(("face", "cheeks", "nose", "arms", "back"), rng),
                                "cloth": Pick(lx.WARM_CLOTHES if kind == "snowy" else ("hat", "coat", "hair", "sleeves", "scarf"), rng)})


_SENTENCE_START = re.compile(r'([.!?] +|\n|, "|: ")("?)([a-z])')
_NEXT_QUOTE = re.compile(r'([.!?]" +)(")([a-z])')  # "Where?" "Here," ... (a new quotation)
_A_BEFORE_VOWEL = re.compile(r'\b([Aa]) (?=[aeiouAEIOU])(?!uni|use|usu|eu|one|once|ukulele)')


def fix_articles(text: str) -> str:
    """"a orange car" -> "an orange car" (slots can put a vowel-initial word after a written "a")."""
    return _A_BEFORE_VOWEL.sub(lambda m: m.group(1) + "n ", text)


def capitalize_sentences(text: str) -> str:
    """Capitalise sentence starts and the first word of a quotation after ``said, "``. A "!"
    or "?" that closes a quotation ("Help!" cried Tom) is followed by lower case: only sentence
    ends outside quotes (followed by a space, not a quote mark) trigger."""
    text = text[:1].upper() + text[1:]
    upper = lambda m: m.group(1) + m.group(2) + m.group(3).upper()  # noqa: E731
    return _NEXT_QUOTE.sub(upper, _SENTENCE_START.sub(upper, text))
