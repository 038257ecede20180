"""An offline generator of children's stories in the spirit of TinyStories / BabiStories.

The paper trains on BabiStories (Mixtral-written children's stories, section 5). Hub access is
not always possible, so the ``embedded`` corpus source writes its own stories from

* a lexicon of themed English word lists with inflection (:mod:`.lexicon`: a few hundred given
  names, animals, objects, foods, settings with their landmarks and creatures, verbs in past,
  present and ``-ing`` forms, adjectives, adverbs, feelings),
* sentence banks for events that many stories share and themed list slots (:mod:`.events`), and
* plots (:mod:`.story_plots`): a hero with a goal or a problem, dialogue and a resolution, with
  sub-scenes (a snack, a game, a creature met on the way, a song, the weather) inserted until the
  story reaches a length drawn for it.

What makes these stories useful for the paper's question is *context tracking*: the hero's name,
pronouns, friend, elder, object (with its colour), setting and landmarks are drawn once per story
and come back in later sentences and in the ending ("From that day on, Lily always kept the blue
kite close."), so a model can only predict them by reading the story so far — the in-context
associative memory that Memory Mosaics are about. Word choice varies *across* stories (each story
draws its own palette of synonyms, landmarks, creatures, snack and game) but repeats *within*
one, as in real children's stories. :func:`generate_story_with_facts` returns what a story
committed to (every named character with its gender, the tracked object, the setting) so tests can
check that the text keeps to it.

Determinism: every story stream comes from ``random.Random`` seeded with a string built from
(seed, split) — never global random state or the salted built-in ``hash()`` — so the same
(seed, split) gives the same stories on every machine, and story ``i`` does not depend on how
many stories are requested (the first N stories are a prefix of the first M > N).
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable

from mosaic.experiments.stories import events as ev
from mosaic.experiments.stories import grammar as gr
from mosaic.experiments.stories import lexicon as lx
from mosaic.experiments.stories import story_plots as plots
from mosaic.experiments.stories.grammar import Character, Food, Gen, Pick, Thing

# Story length bounds in words (TinyStories-like lengths); a drawn story outside them is redrawn.
MIN_WORDS, MAX_WORDS = 80, 250
# Each story draws a length target in this range and adds sub-scenes until it reaches it.
TARGET_WORDS = (165, 240)
MAX_DRAWS = 200  # a story is redrawn (rarely: too long, or breaking its facts); this many is a bug
SUBSCENE_ROOM = 40  # optional beats are dropped until the plot leaves this many words for sub-scenes

GIRL_NAMES = list(lx.GIRL_NAMES)
BOY_NAMES = list(lx.BOY_NAMES)

ANIMAL_KINDS = tuple(lx.ANIMAL_HERO_HOMES)
CHILD_KIND_PHRASES = {True: ("little girl", "girl", "young girl", "small girl", "girl of {age}", "little girl of {age}"),
                      False: ("little boy", "boy", "young boy", "small boy", "boy of {age}", "little boy of {age}")}
AGES = ("four", "five", "six", "seven", "eight", "nine")
LANDMARK_ADJ = lx._words("big little old tall small shady sunny quiet lovely pretty green wide long low "
                         "crooked dusty muddy leafy grassy far")
FEATURE_SIZES = ("tiny", "little", "big", "bright", "round", "shiny", "small", "painted", "sparkly")
FEATURE_DECOR = lx._words("stars spots stripes bells buttons hearts flowers dots patches moons bows "
                          "diamonds circles squiggles feathers leaves fish birds sequins zigzags")
FEATURE_PARTS = lx._words("handle ribbon bow tassel button string strap lid collar patch bell pocket "
                          "zip stripe tail hood sticker label")
HELPER_ADJ = ("kind", "old", "friendly", "cheerful", "gentle", "jolly")
ALL_ANIMALS = tuple(sorted(set(lx.CREATURE_GROUP_OF) | set(lx.ANIMAL_HERO_HOMES)))
# Words that already describe a landmark ("big oak tree"): such landmarks get no second adjective.
_DESCRIBING = set(LANDMARK_ADJ) | set(lx.COLORS) | set(lx.PATTERNS) | set(lx.DWELLING_ADJ) | set(
    lx._words("mossy lone soft sandy flat rocky round striped wooden fallen hollow tall big old little "
              "smooth stepping muddy snowy frozen dusty broken spinning tire rope"))

# ----------------------------------------------------------------------------- template engine
_ALTERNATIVES = re.compile(r"([\[<])([^\[\]<>]*)[\]>]")
_COMPILED: dict[str, object] = {}


class _Sticky(tuple):
    """``<a|b>``: alternatives chosen once per story (a story's own refrain), not at each use."""


def _compile(template: str):
    """``"a [b|c] <d|e>"`` -> ``("a ", ("b", "c"), " ", _Sticky(("d", "e")))``; a template
    without alternatives stays a str."""
    parts, end = [], 0
    for m in _ALTERNATIVES.finditer(template):
        parts.append(template[end:m.start()])
        options = tuple(m.group(2).split("|"))
        parts.append(_Sticky(options) if m.group(1) == "<" else options)
        end = m.end()
    if not parts:
        return template
    parts.append(template[end:])
    if any(c in p for p in parts[::2] for c in "[]<>"):
        raise ValueError(f"nested or unbalanced alternatives in template {template!r}")
    return tuple(parts)


class _Renderer:
    """Renders templates for one story: alternatives first, then the slots (``str.format_map``)."""

    __slots__ = ("rng", "slots", "sticky")

    def __init__(self, rng: random.Random, slots: dict):
        self.rng, self.slots, self.sticky = rng, slots, {}

    def __call__(self, template: str) -> str:
        compiled = _COMPILED.get(template)
        if compiled is None:
            compiled = _COMPILED[template] = _compile(template)
        if compiled.__class__ is not str:
            choice, sticky, out = self.rng.choice, self.sticky, []
            for p in compiled:
                if p.__class__ is str:
                    out.append(p)
                elif p.__class__ is _Sticky:
                    if p not in sticky:
                        sticky[p] = choice(p)
                    out.append(sticky[p])
                else:
                    out.append(choice(p))
            template = "".join(out)
        return template.format_map(self.slots)


class _Template:
    """A slot whose value is a template or a bank of them, rendered at each use (``options_now``:
    the bank is chosen at use time, e.g. the answer to a question drawn earlier in the sentence)."""

    __slots__ = ("options", "render", "options_now")

    def __init__(self, options, render: _Renderer, options_now=None):
        self.options = (options,) if isinstance(options, str) else tuple(options or ())
        self.render, self.options_now = render, options_now

    def __format__(self, spec: str) -> str:
        options = self.options_now() if self.options_now else self.options
        return self.render(options[0] if len(options) == 1 else self.render.rng.choice(options))


class _Cycle:
    """A slot that takes its options in turn (a second search goes somewhere else)."""

    __slots__ = ("options", "i")

    def __init__(self, options):
        self.options, self.i = tuple(options), -1

    def __format__(self, spec: str) -> str:
        self.i += 1
        return self.options[self.i % len(self.options)]


class _Slots(dict):
    """A story's slots. The per-story entities are set up front; every other slot is built on first
    use from :data:`_FACTORIES` (a palette is drawn only if the story uses it)."""

    story: _Story

    def __missing__(self, key: str):
        try:
            factory = _FACTORIES[key]
        except KeyError:
            raise KeyError(key) from None
        value = self[key] = factory(self.story)
        return value


class _Story:
    """One story's random stream, slots and facts."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.slots = _Slots()
        self.slots.story = self
        self.render = _Renderer(rng, self.slots)
        self.used_names: set[str] = set()
        self.characters: list[dict] = []
        self.bases: dict[str, list[str]] = {}

    def person(self, role: str, female: bool | None = None, kind: str = "") -> Character:
        """A named character with a name not yet used in this story, recorded in the facts."""
        rng = self.rng
        while True:
            is_female = rng.random() < 0.5 if female is None else female
            name = rng.choice(lx.GIRL_NAMES if is_female else lx.BOY_NAMES)
            if name not in self.used_names:
                self.used_names.add(name)
                self.characters.append(dict(name=name, female=is_female, role=role, kind=kind))
                return Character(name, is_female, kind)

    def verb_bases(self, name: str) -> list[str]:
        """The verbs a story uses for a verb list slot (shared by its past and ``-ing`` forms)."""
        if name not in self.bases:
            words, k = ev.LIST_SLOTS[name]
            self.bases[name] = [self.rng.choice(words) for _ in range(k)]
        return self.bases[name]


# ----------------------------------------------------------------------------- lazy slots
def _palette(words, k: int = 2) -> Callable[[_Story], Pick]:
    """A per-story palette: this story uses (up to) ``k`` of the words, another story others."""
    return lambda st: Pick([st.rng.choice(words) for _ in range(k)], st.rng)


def _past_palette(verbs, k: int = 2) -> Callable[[_Story], Pick]:
    return lambda st: Pick([gr.past(st.rng.choice(verbs)) for _ in range(k)], st.rng)


def _per_use(options) -> Callable[[_Story], Pick]:
    return lambda st: Pick(options, st.rng)


def _bank(templates, k: int | None = None) -> Callable[[_Story], _Template]:
    """A bank of sentence templates; with ``k``, the story uses only ``k`` of them (its refrain)."""
    if k is None:
        return lambda st: _Template(templates, st.render)
    return lambda st: _Template([st.rng.choice(templates) for _ in range(k)], st.render)


def _gen(fn: Callable[[_Story], str]) -> Callable[[_Story], Gen]:
    return lambda st: Gen(lambda: fn(st))


def _helper(st: _Story) -> Character:
    helper = st.person("helper")
    helper.kind = st.characters[-1]["kind"] = st.rng.choice(lx.JOBS)
    helper.desc = f"{st.rng.choice(HELPER_ADJ)} {helper.kind}"
    return helper


def _creature_action(st: _Story, creature: str) -> str:
    """Something this creature does, singular ("hop about", "rest on a leaf")."""
    action = st.rng.choice(lx.CREATURE_GROUPS[lx.CREATURE_GROUP_OF[creature]][1])
    return action.replace("their", "its").replace("themselves", "itself")


def _sound_game(st: _Story) -> str:
    """"Moo, moo," and the answer: a cow (the animal-sounds guessing game)."""
    animal = st.rng.choice(tuple(lx.ANIMAL_SOUNDS))
    sound = lx.ANIMAL_SOUNDS[animal][1]
    return f'"{sound}, {sound.lower()}," and {st.slots["h"].name} guessed {lx.with_article(animal)}'


def _favorite_kind(st: _Story) -> str:
    """Draws what "What is your favorite ...?" asks about; {fav_answer} answers the same kind."""
    st.favorite = st.rng.choice(tuple(plots.FAVORITES))
    return st.favorite


def _critter_sound(st: _Story) -> str:
    s, rng = st.slots, st.rng
    critter = rng.choice((s["crit1"], s["crit2"]))
    a_critter = gr.cap(lx.with_article(rng.choice(gr.CREATURE_ADJ) + " " + critter))
    where = rng.choice(s["landmarks"])
    if critter not in lx.ANIMAL_SOUNDS:
        return f"{a_critter} {gr.past(rng.choice(('peek', 'hop', 'wiggle', 'scurry')))} out from behind the {where}."
    verb, sound = lx.ANIMAL_SOUNDS[critter]
    return f'{a_critter} sat on the {where}. "{sound}, {sound.lower()}," it {gr.past(verb)}.'


def _scene(now: bool = False, capital: bool = False) -> Callable[[_Story], Gen]:
    def build(st: _Story) -> str:
        s = st.slots
        text = gr.scene_clause(st.rng, (s["crit1"], s["crit2"]), s["landmarks"], now=now)
        return gr.cap(text) if capital else text
    return _gen(build)


def _similes(*adjectives: str) -> Callable[[_Story], Gen]:
    return _gen(lambda st: gr.simile(st.rng, adjectives or None))


_FACTORIES: dict[str, Callable[[_Story], object]] = dict(
    # palettes of feelings and speech verbs
    happy=_palette(lx.FEELINGS["happy"]), sad=_palette(lx.FEELINGS["sad"]),
    scared=_palette(lx.FEELINGS["scared"]), shy=_palette(("shy", "nervous", "bashful", "timid")),
    proud=_palette(("proud", "pleased")), surprised=_palette(lx.FEELINGS["surprised"]),
    tired=_palette(lx.FEELINGS["tired"]), calm=_palette(lx.FEELINGS["calm"]), angry=_palette(lx.FEELINGS["angry"]),
    good=_palette(lx._words("wonderful great lovely perfect magical splendid happy")),
    adv=_palette(lx.ADVERBS_MANNER, 2),
    then=lambda st: Pick([gr.with_comma(st.rng.choice(lx.THEN)) for _ in range(2)], st.rng),
    said=_past_palette(lx.SPEECH["say"], 1), sobbed=_past_palette(lx.SPEECH["sad"] + ("cry",)),
    shouted=_past_palette(lx.SPEECH["shout"], 3), whispered=_past_palette(lx.SPEECH["whisper"], 1),
    laughed=_past_palette(lx.SPEECH["laugh"], 1), smiled=_past_palette(("smile", "grin", "beam"), 1),
    sighed=_past_palette(lx.SAD_GESTURES), ran=_past_palette(lx.MOTION_VERBS, 2),
    hopped=_past_palette(("hop", "flutter", "scurry", "wander", "creep", "scamper"), 3),
    chirped=_past_palette(("chirp", "squeak", "say", "whisper", "call")),
    hummed=_past_palette(("hum", "sing", "whistle", "make up")),
    searched=_past_palette(("look", "search", "peek", "check", "hunt")),
    crept=_past_palette(("crawl", "creep", "tiptoe", "wander")),
    # per-use draws
    lm=lambda st: Pick(st.slots["landmarks"], st.rng),
    lm_search=lambda st: _Cycle((st.slots["lm2"], st.slots["lm3"])),
    near=_per_use(("near", "by", "beside", "next to", "close to")),
    junk=lambda st: _Cycle(st.rng.sample(ev.JUNK, 2)), search_prep=_per_use(ev.SEARCH_PREPS),
    color=_palette(lx.COLORS, 3), taste=_palette(lx.TASTES, 3),
    tastes=_gen(lambda st: " and ".join(st.rng.sample(lx.TASTES, 2))), n=_per_use(lx.NUMBERS[:6]),
    body=_palette(("hands", "shoulders", "knees", "lip", "chin"), 1),
    tree=_palette(lx.TREES, 1), furniture=_palette(lx.FURNITURE, 2),
    room=_palette(("living room", "bedroom", "hallway", "playroom"), 2),
    song=_palette(lx.SONG_TOPICS, 2), dream=_palette(lx.SONG_TOPICS, 1), instrument=_palette(lx.INSTRUMENTS, 1),
    cloth=_palette(lx.WARM_CLOTHES, 1), clothing=_palette(lx.CLOTHES, 2), season=_palette(lx.SEASONS, 1),
    stick=_palette(("stick", "branch", "board", "rope"), 1), seeds=_palette(("seeds", "crumbs", "worms"), 1),
    cold=_per_use(("cold", "dark", "chilly")),
    monsters=_palette(("monsters", "giants", "dragons", "ghosts")),
    monster=_palette(("monster", "giant", "dragon", "ghost")),
    kid_kind=_palette(("child with red braids", "child with big glasses", "child in a yellow raincoat",
                       "child with a gap in a big smile")),
    sticker=_palette(("star", "lion", "rocket", "heart", "rainbow", "dinosaur")),
    noisy_animal=_palette(("honking goose", "grumpy frog", "sneezing cat", "squeaky door")),
    count_things=_palette(("cows", "red cars", "bridges", "windmills", "sheep", "trees", "clouds", "bicycles"), 1),
    sad_body=_palette(ev.SAD_BODY, 2), happy_body=_palette(ev.HAPPY_BODY, 2), scared_body=_palette(ev.SCARED_BODY, 2),
    eat=_palette(("ate", "shared", "munched on", "nibbled on", "gobbled up", "tasted"), 2),
    song_adj=_palette(plots.SONG_ADJ, 1), a_song_adj=_gen(lambda st: lx.with_article(st.rng.choice(plots.SONG_ADJ))), cute=_palette(plots.CUTE, 2),
    cloud_shape=lambda st: _Cycle([lx.with_article(c) for c in st.rng.sample(plots.CLOUD_SHAPES, 2)]),
    find=lambda st: Pick([st.rng.choice([x for x in plots.FINDS if st.slots["o"].noun not in x]) for _ in range(2)], st.rng),
    flowers=lambda st: Pick([lx.plural(st.rng.choice(lx.FLOWERS))], st.rng),
    flower_pl=lambda st: Pick([lx.plural(st.rng.choice(lx.FLOWERS))], st.rng),
    a_critter=_gen(lambda st: lx.with_article(
        f"{st.rng.choice(gr.CREATURE_ADJ)} {st.rng.choice((st.slots['crit1'], st.slots['crit2']))}")),
    critter=_gen(lambda st: st.rng.choice((st.slots["crit1"], st.slots["crit2"]))),
    critter_pl=_gen(lambda st: st.rng.choice((st.slots["crits1"], st.slots["crits2"]))),
    scene=_scene(), scene_now=_scene(now=True), Scene_cap=_scene(capital=True),
    simile=_similes(), simile_kid=_similes("quiet", "fast", "busy", "happy", "brave", "wise", "proud", "merry", "gentle",
                         "clever", "quick", "calm", "bold", "cheerful"),
    simile_happy=_similes("happy", "merry", "glad", "cheerful", "joyful"),
    simile_fast=_similes("fast", "quick", "speedy", "swift"), simile_tall=_similes("tall"),
    simile_brave=_similes("brave", "bold", "fearless"), simile_snug=_similes("snug", "still", "quiet"),
    weather_s=_gen(lambda st: gr.weather_sentence(st.rng, st.slots)),
    critter_sound=_gen(_critter_sound),
    quickly=_bank(("quickly", "very fast", "as fast as {h.he} could")),
    go_manner=_bank(ev.GO_MANNER),
    gave=lambda st: Pick([f"{v} {st.slots['h'].him}" for v in ("given it to", "made it for", "bought it for",
                                                                "found it for", "sent it to")], st.rng),
    gave_past=lambda st: Pick([f"{v} {st.slots['h'].him}" for v in ("gave it to", "made it for",
                                                                     "bought it for", "found it for")], st.rng),
    crit_home=_palette(("dog", "puppy", "cat", "bird", "goose", "rooster", "parrot"), 1),
    tub=_palette(("bathtub", "big puddle", "paddling pool", "sink", "fish pond"), 1),
    time_phrase_cap=lambda st: _Template([gr.cap(st.rng.choice(ev.LIST_SLOTS["time_phrase"][0]))], st.render),
    bag=_palette(("bag", "backpack", "pocket", "basket", "toy box"), 1),
    trait_sup=_per_use(("kindest", "happiest", "busiest", "bravest", "silliest", "smallest", "cheeriest", "friendliest", "noisiest", "sleepiest", "tidiest", "cleverest")),
    gave_thing=lambda st: Pick([f"{v} {st.slots['h'].him}" for v in ("given", "bought", "made", "sent")], st.rng),
    # sub-scene material
    sound_game=_gen(_sound_game), fav_kind=_gen(_favorite_kind), fav_answer=lambda st: _Template(None, st.render, lambda: plots.FAVORITES[st.favorite]),
    a_job=lambda st: Pick([lx.with_article(st.rng.choice(lx.JOBS)) for _ in range(2)], st.rng),
    two_jobs=_gen(lambda st: ", or maybe ".join(lx.with_article(j) for j in st.rng.sample(lx.JOBS, 2))),
    a_role=_palette(plots.PRETEND_ROLES, 2), a_performer=_per_use(plots.PERFORMERS), smell=_palette(plots.SMELLS, 2),
    shape=_palette(plots.SHAPES, 1), daylight=_palette(plots.DAYLIGHT, 1), whooshed=_past_palette(plots.WHOOSH),
    pet_name=_palette(plots.PET_NAMES, 1), season_thing=_palette(plots.SEASON_THINGS, 1),
    body_small=_per_use(("nose", "whisker", "hair", "toe", "step")),
    things_small=_palette(("pebbles", "leaves", "feathers", "pine cones", "acorns", "twigs", "snail shells",
                           "flower petals", "little stones", "seeds", "shells", "sticks")),
    a_animal_any=lambda st: Pick([lx.with_article(f"{st.rng.choice(gr.CREATURE_ADJ)} {st.rng.choice(ALL_ANIMALS)}")], st.rng),
    animal_any_pl=lambda st: Pick([lx.plural(st.rng.choice(ALL_ANIMALS))], st.rng),
    food_any=lambda st: Pick([lx.plural(st.rng.choice(lx.FOODS_COUNT)) if st.rng.random() < 0.6
                              else st.rng.choice(lx.FOODS_MASS)], st.rng),
    game_any=_palette(lx.GAMES, 1), vehicle=_palette(lx.VEHICLES, 2), flower_any_pl=lambda st: Pick([lx.plural(st.rng.choice(lx.FLOWERS))], st.rng),
    flower_one=_palette(lx.FLOWERS, 2),
    move_base=lambda st: Pick(st.verb_bases("move"), st.rng),
    move_ing=lambda st: Pick([gr.ing(v) for v in st.verb_bases("move")], st.rng),
    make_base=lambda st: Pick(st.verb_bases("make"), st.rng),
    make_ing=lambda st: Pick([gr.ing(v) for v in st.verb_bases("make")], st.rng),
    made_craft=_past_palette(("make", "build", "put together", "create")),
    wondered=_past_palette(("wonder", "think about", "guess", "imagine")),
    crit1_does=_gen(lambda st: gr.present(_creature_action(st, st.slots["crit1"]))),
    crit_doing=_gen(lambda st: gr.ing(_creature_action(st, st.slots["crit1"]))),
    month=lambda st: st.rng.choice(plots.WEATHER_MONTHS[st.slots["weather"]]),
    month_thing=_gen(lambda st: st.rng.choice(plots.MONTH_THINGS[plots.MONTH_SEASON[st.slots["month"]]])),
    n_big=_per_use(lx.NUMBERS), skill_base=_palette(("whistle", "juggle", "skip", "swim", "knit", "skate",
                                                   "do a cartwheel", "tie a bow", "climb a rope", "ride a bike")),
    a_household=lambda st: Pick([lx.with_article(st.rng.choice(lx.HOUSEHOLD)) for _ in range(2)], st.rng),
    household=_palette(lx.HOUSEHOLD, 3), household_pl=lambda st: Pick([lx.plural(st.rng.choice(lx.HOUSEHOLD))], st.rng),
    a_craft=lambda st: Pick([lx.with_article(st.rng.choice(plots.CRAFTS))], st.rng),
    a_craft_cap=_gen(lambda st: gr.cap(lx.with_article(st.rng.choice(plots.CRAFTS)))),
    material=_palette(plots.MATERIALS, 1), o_word=_per_use(("friend", "grandma", "grandpa", "teacher", "little brother", "big sister")),
    # people who appear only in some plots (named, so they join the facts when first used)
    hp=_helper, horse=lambda st: st.person("horse", True, "horse").name,
    **{name: _bank(bank, 1 if name in ev.REFRAINS else 2) for name, bank in ev.BANKS.items()},
)
for _name, (_words, _k) in ev.LIST_SLOTS.items():
    if _name in ev.VERB_SLOTS:
        _FACTORIES[_name] = (lambda n: lambda st: Pick([gr.past(v) for v in st.verb_bases(n)], st.rng))(_name)
        _FACTORIES[_name + "_ing"] = (lambda n: lambda st: Pick([gr.ing(v) for v in st.verb_bases(n)], st.rng))(_name)
    elif any("{" in w for w in _words):  # entries that hold slots ("that {daypart}")
        _FACTORIES[_name] = (lambda w, k: lambda st: _Template([st.rng.choice(w) for _ in range(k)], st.render))(_words, _k)  # noqa: B023 (bound by the outer lambda)
    else:
        _FACTORIES[_name] = _palette(_words, _k)


def _opening(rng: random.Random, weather: str) -> str:
    """The story's first words: a stock opening, or one built from the story's weather."""
    if rng.random() < 0.5:
        return rng.choice(lx.OPENINGS)
    w, part = rng.choice(lx.WEATHER_ADJ[weather]), rng.choice(lx.DAYPARTS)
    return rng.choice((f"One {w} {part}", f"Early one {w} {part}", f"Late one {w} {part}",
                       f"On a {w} {rng.choice(lx.DAYS)} {part}", f"One {w} day in {rng.choice(plots.WEATHER_MONTHS[weather])}"))


def _object_feature(rng: random.Random, noun: str) -> str:
    """What makes the hero's object recognisable ("with tiny gold stars", "with a green handle")."""
    form = rng.random()
    if form < 0.35:
        return f"with {rng.choice(FEATURE_SIZES)} {rng.choice(lx.COLORS)} {rng.choice(FEATURE_DECOR)}"
    if form < 0.6:
        part = rng.choice([p for p in FEATURE_PARTS if p != noun])
        return f"with {lx.with_article(rng.choice(lx.COLORS) + ' ' + part)}"
    if form < 0.75:
        return f"with {rng.choice(FEATURE_DECOR)} painted on it"
    return rng.choice(lx.OBJECT_FEATURES)


# ----------------------------------------------------------------------------- the story
def _draw_story(rng: random.Random, plot: plots.Plot) -> _Story:
    """The per-story entities every plot uses: cast, setting, landmarks, object, snack, home."""
    st = _Story(rng)
    animal = rng.random() < 0.35
    kinds = rng.sample(ANIMAL_KINDS, 2) if animal else ("", "")
    hero, friend = st.person("hero", kind=kinds[0]), st.person("friend", kind=kinds[1])
    for ch, facts in zip((hero, friend), st.characters):
        trait = rng.choice(lx.CHILD_TRAITS)
        if animal:
            ch.desc = f"{trait} little {ch.kind}" if trait not in ("little", "young") else f"little {ch.kind}"
        else:
            ch.kind = facts["kind"] = "girl" if ch.female else "boy"
            phrase = rng.choice(CHILD_KIND_PHRASES[ch.female]).replace("{age}", rng.choice(AGES))
            ch.desc = phrase if trait in ("little", "young") else f"{trait} {phrase}"
    title, role, female = rng.choice(lx.ELDERS)
    if rng.random() < 0.12:
        aunt_or_uncle, female = rng.choice(lx.AUNTS_UNCLES)
        title, role = f"{aunt_or_uncle} {st.person('relative', female).name}", aunt_or_uncle.lower()
    elder = Character(title, female, role, role=role)
    st.characters.append(dict(name=title, female=female, role="elder", kind=role))
    p_rel = f"{hero.his} {role}" if role not in ("aunt", "uncle") else f"{hero.his} {title}"

    setting = rng.choice(gr.OUTDOOR_SETTINGS if plot.outdoor else gr.SETTINGS)
    # Four landmarks, most with an adjective kept for the whole story ("the shady bench").
    st.landmarks = [(rng.choice(LANDMARK_ADJ) if x.split()[0] not in _DESCRIBING and rng.random() < 0.7 else None, x)
                    for x in rng.sample(setting.landmarks, 4)]
    lm = [f"{adj} {x}" if adj else x for adj, x in st.landmarks]
    creatures = [c for c in setting.creatures if c not in (hero.kind, friend.kind)] or ["sparrow"]
    crit1, crit2 = rng.choice(creatures), rng.choice(creatures)
    noun, color = rng.choice(lx.OBJECTS), rng.choice(lx.COLORS)
    thing = Thing(noun, color, rng.choice(lx.PATTERNS), _object_feature(rng, noun))
    count = rng.random() < 0.6
    food = Food(rng.choice(lx.FOODS_COUNT if count else lx.FOODS_MASS), count)
    if animal:
        home = rng.choice(lx.ANIMAL_HOME_PHRASES[lx.ANIMAL_HERO_HOMES[hero.kind]])
    else:
        dwelling = lx.with_article(rng.choice(lx.DWELLING_ADJ) + " " + rng.choice(lx.DWELLINGS))
        near = rng.choice(lx.DWELLING_NEAR)
        home = rng.choice((f"in {dwelling} {near}", f"{near} in {dwelling}", f"in {dwelling} that stood {near}",
                           f"{near}, in {dwelling}"))
    hob1, hob2 = rng.sample(lx.HOBBIES, 2)
    weather = rng.choice(tuple(lx.WEATHER_ADJ))
    giver = rng.choice((f"{hero.poss} {role}", f"{hero.poss} grandma", f"{hero.poss} grandpa",
                        f"{hero.poss} aunt", f"{hero.poss} uncle", f"{hero.poss} big sister",
                        f"{hero.poss} big brother", "A kind neighbor"))
    st.slots.update(
        h=hero, f=friend, p=elder, o=thing, place=setting, food=food,
        lm1=lm[0], lm2=lm[1], lm3=lm[2], lm4=lm[3], landmarks=tuple(lm),
        crit1=crit1, crit2=crit2, crits1=lx.plural(crit1), crits2=lx.plural(crit2),
        p_rel=p_rel, p_rel_cap=gr.cap(p_rel), home=home, home_cap=gr.cap(home), giver_low=giver[:1].lower() + giver[1:] if giver.startswith("A ") else giver,
        hob1=hob1, hob2=hob2, hob1_ing=gr.ing(hob1), hob2_ing=gr.ing(hob2),
        game=rng.choice(lx.GAMES), opening=_opening(rng, weather), day=rng.choice(lx.DAYS),
        weather=weather, daypart=rng.choice(lx.DAYPARTS), giver=giver,
        wday=rng.choice(lx.WEATHER_ADJ[weather]),
        act=rng.choice(setting.activities), act2=rng.choice(setting.activities),
        looks=_Template(ev.LOOKS_ANIMAL if animal else ev.LOOKS_CHILD, st.render),
        help_line=_Template(ev.HELP_LINES[plot.help], st.render),
        occasion=_Template(rng.choice(plots.OCCASIONS), st.render),
    )
    setup = plot.setup(rng, st.slots)
    if "fail" in setup:
        setup["fail_cap"] = gr.cap(setup["fail"])
    if "judge" in setup:
        setup["judge_cap"] = gr.cap(setup["judge"])
    if "skill" in setup:
        setup["skill_cap"] = gr.cap(setup["skill"])
    if "plant_pl" in setup:
        setup["plant_pl_cap"] = gr.cap(setup["plant_pl"])
    if "undo" in setup:
        setup["undo_low"] = setup["undo"] if setup["undo"].startswith("{") else setup["undo"][:1].lower() + setup["undo"][1:]
    for key, value in setup.items():
        st.slots[key] = _Template(value, st.render) if isinstance(value, str) and ("{" in value or "[" in value) else value
    st.slots["c"] = st.slots[plot.companion]
    return st


def generate_story_with_facts(rng: random.Random) -> tuple[str, dict]:
    """One story drawn with ``rng`` and the facts it commits to: ``characters`` (every named
    character: name, female, role, kind), ``objects`` (owner, color, noun: the tracked object keeps
    its colour), ``settings`` (the setting the story names) and ``plot``."""
    for _ in range(MAX_DRAWS):
        plot = rng.choice(plots.PLOTS)
        st = _draw_story(rng, plot)
        story = _assemble(rng, st, plot)
        if MIN_WORDS <= len(story.split()) <= MAX_WORDS and _keeps_its_facts(story, st):
            s = st.slots
            return story, dict(
                characters=st.characters, plot=plot.name, setting=s["place"].name,
                landmarks=[dict(adjective=adj, noun=noun) for adj, noun in st.landmarks],
                objects=[dict(owner=s["h"].name, color=s["o"].color, noun=s["o"].noun)])
    raise RuntimeError(f"no story within {MIN_WORDS}..{MAX_WORDS} words that keeps its facts in {MAX_DRAWS} draws "
                       "(a template or word list is broken)")


_COLOR_SET = frozenset(lx.COLORS)
_LANDMARK_ADJ_SET = frozenset(LANDMARK_ADJ)


def _words_before(text: str, phrase: str):
    """The word just before each whole-word occurrence of ``phrase`` (plain string search: a
    regex per story would be compiled for every story's own object)."""
    needle, start = " " + phrase, 0
    while True:
        i = text.find(needle, start)
        if i < 0:
            return
        end = i + len(needle)
        start = end
        if end < len(text) and (text[end].isalpha() or text[end] == "'"):
            continue
        j = i
        while j > 0 and text[j - 1].isalpha():
            j -= 1
        yield text[j:i]


def _keeps_its_facts(story: str, st: _Story) -> bool:
    """Whether every coloured mention of the hero's object ("the blue kite") has the object's colour
    and every landmark keeps its adjective ("the shady bench", never "the sunny bench"). Slots make
    this true by construction; a plot sentence that names another thing of the same kind with
    another colour ("a blue ball" in a story about a red ball) would break it, and such a story
    is redrawn rather than written."""
    o = st.slots["o"]
    if any(w in _COLOR_SET and w != o.color for w in _words_before(story, o.noun)):
        return False
    return not any(w in _LANDMARK_ADJ_SET and w != adj for adj, noun in st.landmarks if adj
                   for w in _words_before(story, noun))


def _introduce_friend(text: str, name: str, hero: Character) -> str:
    """The friend's first appearance, in narration: "Lily's friend Rex" (or "her friend Rex" after
    the hero is named in the same sentence); a name only inside a quotation is left as it is."""
    narration_only = re.sub(r'"[^"]*"', lambda m: "\0" * len(m.group(0)), text)  # same length, quotes masked
    i = narration_only.find(name)
    if i < 0:
        return text
    sentence = re.split(r"[.!?] ", narration_only[:i])[-1]
    owner = hero.his if hero.name in sentence else hero.poss
    return f"{text[:i]}{owner} friend {text[i:]}"


def _assemble(rng: random.Random, st: _Story, plot: plots.Plot) -> str:
    """Render the plot's beats, drop optional ones (details, not plot steps) until the story fits
    a drawn length target with room to spare, then add sub-scenes up to the target."""
    render = st.render
    target = rng.randint(*TARGET_WORDS)
    beats = [*plots.INTRO, *(plots.OBJECT_INTRO if plot.uses_object else ()), plots.PARAGRAPH, *plot.beats]
    # items: [paragraph, text, words, optional]; a None text marks where a sub-scene may go
    items: list[list] = []
    paragraph = 0
    for beat in beats:
        if beat is plots.PARAGRAPH:
            paragraph += 1
        elif isinstance(beat, plots.Interlude):
            items.append([paragraph, None, 0, False, beat.pool or plot.subscenes])
        elif beat.__class__ is tuple or beat.keep >= 1.0 or rng.random() < beat.keep:
            text = render(rng.choice(beat))
            items.append([paragraph, text, len(text.split()), isinstance(beat, plots.Opt), None])
    n_words = sum(item[2] for item in items)
    optional = [item for item in items if item[3]]
    rng.shuffle(optional)
    budget = target - SUBSCENE_ROOM
    while n_words > budget and optional:
        item = optional.pop()
        n_words -= item[2]
        item[1], item[2] = "", 0
    spots = [i for i, item in enumerate(items) if item[1] is None]
    companion, hero = st.slots["c"], st.slots["h"]
    inserted: dict[int, list[str]] = {}
    used: set[str] = set()  # a story never tells the same sub-scene twice
    for _ in range(8):
        if n_words >= target or not spots:
            break
        spot = rng.choice(spots)
        template = rng.choice(plots.SUBSCENES[items[spot][4]])
        if template in used:
            continue
        text = render(template)
        if companion is st.slots["f"] and not any(companion.name in (item[1] or "") for item in items[:spot]) \
                and not any(companion.name in t for t in inserted.get(spot, ())):
            text = _introduce_friend(text, companion.name, hero)
        words = len(text.split())
        if n_words + words <= MAX_WORDS:
            used.add(template)
            inserted.setdefault(spot, []).append(text)
            n_words += words
    paragraphs: list[list[str]] = [[] for _ in range(paragraph + 1)]
    for i, (p, text, *_) in enumerate(items):
        if text is None:
            paragraphs[p].extend(inserted.get(i, ()))
        elif text:
            paragraphs[p].append(text)
    story = gr.capitalize_sentences(gr.fix_articles("\n\n".join(" ".join(p) for p in paragraphs if p)))
    return re.sub(r" {2,}", " ", story) if "  " in story else story


def generate_story(rng: random.Random) -> str:
    """One story drawn with ``rng``."""
    return generate_story_with_facts(rng)[0]


def _stream_seed(seed: int, split: str) -> str:
    # A string seed: random.Random hashes it with SHA-512, identical on every platform.
    return f"mosaic-embedded-stories-v2/seed={int(seed)}/split={split}"


def generate_stories(n: int, seed: int, split: str = "train") -> list[str]:
    """The first ``n`` stories of the (seed, split) stream (a prefix-stable, deterministic list)."""
    return [story for story, _ in generate_stories_with_facts(n, seed, split)]


def generate_stories_with_facts(n: int, seed: int, split: str = "train") -> list[tuple[str, dict]]:
    """Like :func:`generate_stories` (the same stories), each with its facts."""
    if n < 0:
        raise ValueError(f"number of stories must be >= 0, got {n}")
    rng = random.Random(_stream_seed(seed, split))
    return [generate_story_with_facts(rng) for _ in range(n)]


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
