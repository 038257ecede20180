"""Plots for :mod:`mosaic.experiments.stories.generator`: a hero, a goal or a problem, dialogue,
and a resolution, in the style of TinyStories.

A plot is a sequence of *beats*; a beat is a tuple of alternative wordings (one is drawn per
story). :data:`PARAGRAPH` starts a new paragraph; an :class:`Interlude` marks a place where the
generator may insert short sub-scenes (a snack, a game, a creature met on the way, the weather;
:data:`SUBSCENES`) to reach the story's drawn length; an :class:`Opt` beat is a detail the
generator may drop to fit that length (a :class:`Rare` one is written in only some stories).

Wordings are templates in two layers. ``[a|b|c]`` picks one alternative at each use (``[very |]``
makes a word optional); then ``str.format`` fills the slots that :mod:`.grammar` and
:mod:`.generator` document: per-story entities (``{h}`` the hero, ``{f}`` the friend, ``{p}`` the
elder, ``{o}`` the hero's object, ``{place}`` the setting and its landmarks ``{lm1}``..``{lm4}``),
per-story synonym palettes (``{happy}``, ``{said}``, ``{ran}``, ...) and per-use draws
(``{then}``, ``{adv}``, ``{scene}``, ...). A plot's ``setup`` draws its own slots (the fear, the
project, the animal in trouble, ...); those values may hold slots and alternatives themselves.

Dialogue style, for the corpus statistics as much as for the reader: a quotation that ends in
"!" or "?" has its speaker named before it (``Lily asked, "..."``) or a tag with more to say after
it, so that bare fragments such as "she asked" do not repeat across thousands of stories.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from mosaic.experiments.stories import lexicon as lx

PARAGRAPH = ("\n",)  # beat markers (identity-compared)


class Interlude(tuple):
    """Where a sub-scene may go; ``pool`` overrides the plot's sub-scene pool ("solo": the hero alone)."""

    def __new__(cls, pool: str | None = None):
        self = super().__new__(cls, ("~",))
        self.pool = pool
        return self


INTERLUDE = Interlude()
SOLO_INTERLUDE = Interlude("solo")


class Opt(tuple):
    """A beat the generator may drop to fit the story's drawn length (a detail, not a plot step);
    ``keep`` is the chance that it is written at all."""

    keep = 1.0


class Rare(Opt):
    """An optional beat written in only some stories (a detail every story would make formulaic)."""

    keep = 0.3


@dataclass(frozen=True)
class Plot:
    name: str
    beats: tuple
    setup: Callable[[random.Random, dict], dict] = lambda rng, slots: {}
    uses_object: bool = True  # the intro presents the hero's object
    companion: str = "f"  # the slot of who is with the hero in sub-scenes ({c}): f, p or hp
    subscenes: str = "out"  # "out": sub-scenes at the setting; "home": at home
    help: str = "search"  # which comfort lines fit ({help_line}): search, fix, brave, friend
    outdoor: bool = False  # the plot needs an outdoor setting (a race, a rescue, a lost toy)


def _pick(options):
    """A setup that draws one dict of plot slots."""
    return lambda rng, slots: dict(rng.choice(options))


def _fitting(rng: random.Random, options, setting) -> dict:
    """One of ``options`` whose ``where`` fits the story's setting (None: anywhere; "outdoor"; or
    a tuple of setting names)."""
    fits = [o for o in options if o["where"] is None or (o["where"] == "outdoor" and setting.outdoor)
            or setting.name in o["where"]]
    return {k: v for k, v in rng.choice(fits).items() if k != "where"}


# ----------------------------------------------------------------------------------- intro
INTRO = (
    ("{opening}, there [was|lived] {h.a_desc} [named|called] {h.name}. {h.name} lived {home} with {p_rel}.",
     "{opening}, {h.a_desc} [named|called] {h.name} lived {home} with {p_rel}.",
     "{h.name} was {h.a_desc}. {h.name} and {p_rel} [lived|made their home] {home}.",
     "{opening}, {home}, there [lived|was] {h.a_desc} [named|called] {h.name}.",
     "{opening}, {h.name}, {h.a_desc}, lived {home} with {p_rel}.",
     "{home_cap} lived {h.a_desc} [named|called] {h.name}, [together with|along with|with] {p_rel}.",
     "[This is a story about|Here is a story about|Let me tell you about] {h.a_desc} [named|called] {h.name}, [who lived|who made {h.his} home|who had a home|who was living] {home}.",
     "{h.name} was {h.a_desc}, and {h.name} lived {home} with {p_rel}.",
     "{opening}, {h.a_desc} lived {home}. [{h.His} name was {h.name}|Everyone called {h.him} {h.name}].",
     "{p.name} and {h.name}, {h.a_desc}, [had a home|lived together] {home}.",
     "[One {wday} morning|Early one {day}|On a {wday} {day}|One {month} morning], {h.name} woke up {home}. {h.name} was {h.a_desc}, and {p_rel} was [making breakfast|still asleep|singing a song].",
     "{h.name} was the {trait_sup} {h.kind} [in town|on the street|for miles around]. {h.name} lived {home} with {p_rel}.",
     "{opening}, {home}, {h.name} [lived|grew up] with {p_rel}. {h.name} was {h.a_desc}.",
     "[Everybody|Everyone] [in the village|on the street|in town] knew {h.name}, {h.a_desc} [who lived|who made {h.his} home|who had a home|who was living] {home}.",
     "{opening}, {p.name} [looked out of the window|called up the stairs|opened the door] and [smiled at|waved to|called] {h.name}, {h.a_desc} [who lived|who made {h.his} home|who had a home|who was living] {home}."),
    Rare(("{looks}",)),
    Opt(("{h.name} [loved|liked|adored] to {hob1} and {hob2}.",
         "More than anything, {h.name} [liked|loved|enjoyed] {hob1_ing}, but {h.he} also [loved|liked] {hob2_ing}.",
         "[Every|Each] {day}, {h.name} would {hob1}, and {time_phrase} {h.he} would {hob2}.",
         "{h.name} was always {hob1_ing} or {hob2_ing}. {p_rel_cap} [said|liked to say] {h.name} was {simile_kid}.",
         "{h.name} [spent|passed] {h.his} [days|afternoons|mornings] {hob1_ing} and {hob2_ing}.",
         "[Nothing|No game] made {h.name} [happier|smile more] than {hob1_ing}, [except|apart from|unless it was] {hob2_ing}.",
         "{h.name} [was good at|was great at|was getting better at] {hob1_ing}, and {p_rel} [was teaching {h.him}|was showing {h.him}] how to {hob2}.")),
)
OBJECT_INTRO = (
    ("{h.poss} [favorite thing|most special thing|best treasure|dearest thing][ in the world| of all|] was {o.a_full}. {giver} had {gave} {occasion}.",
     "{h.name} had {o.a_full}. {giver} {gave_past} {occasion}, and {h.name} [took|carried|brought] it [everywhere|to every place|along every day].",
     "Of all {h.his} [things|treasures|toys], {h.name} [loved|liked] {o.a_full} the most.",
     "{giver} had {gave_thing} {o.a_full} {occasion}.",
     "{h.name} [owned|had] {o.a_full}, [a present|a gift] from {giver_low} {occasion}.",
     "[Wherever|Everywhere] {h.name} went, {o.a_full} went too.",
     "{h.name} [never went|did not go|would not go] [anywhere|to bed|out to play] without {o.a_full}.",
     "[On {h.poss} shelf|By {h.poss} bed|In {h.poss} room|In {h.poss} {bag}] [sat|was|lived] {o.a_full}, and {h.name} [loved|adored|treasured] it.",
     "{h.name} [took good care of|looked after|was proud of] {o.a_full}.",
     "{o.a_full_cap} was {h.poss} [favorite|most special|dearest] [thing|treasure|toy] [in the world|of all].",
     "{h.name} [had been given|got] {o.a_full} {occasion}."),
)

OCCASIONS = lx._phrases("""
for {h.poss} birthday, when {h.name} was very little, on the last day of school, after a trip to the city,
when the first snow fell, at the summer fair, for being brave at the doctor's, on a rainy {day},
when {h.name} learned to count to a hundred, as a surprise one {daypart}, when {h.name} turned {n},
after a long trip to the seaside, for helping with the [garden|dishes|baby|washing], last {season},
on a snowy morning in {month}, for learning to [swim|read|whistle|skip], after {h.poss} first day at school,
when {h.name} lost a tooth, at the end of a long {season}, one {wday} {day}, at a birthday party,
for tidying up the {room}, for being kind to a [new|little|shy] neighbor, when the [cherry trees|apple trees|roses] were in bloom
""")

# ----------------------------------------------------------------------------------- plots
LOST = Plot("lost", (
    ("One {wday} {daypart}, {h.name} and {f.name} {walked} {place.to} to {act}. {h.name} [brought|took|carried] {o.the} along.",
     "On {day}, {p_rel} took {h.name} and {f.name} {place.to}. [Of course|As always|Like every time], {h.name} brought {o.the}.",
     "{h.name} wanted to show {o.the} to {f.name}, so the two friends met {place.at} {time_phrase}."),
    Opt(("{arrive}", "{look_around}", "{weather_s}")),
    INTERLUDE,
    ("{h.name} put {o.the} down {near} the {lm1} and {ran} off to {act2} with {f.name}.",
     "While {h.name} and {f.name} played {game}, {o.the} sat [all alone|forgotten|in the sun] by the {lm1}.",
     "{h.name} set {o.the} [on the grass|on the ground|in a safe spot] {near} the {lm1}. Then {h.name} and {f.name} {ran} [away|off] to {act2}."),
    ("When {h.name} {ran} back to the {lm1} {time_phrase}, {o.the} was gone!",
     "[Later|After a while|Some time later], {h.name} {walked} back to the {lm1}, but {o.the} was [not there|gone|nowhere to be seen].",
     "[After a while|Soon|Later], {h.name} {looked} [around|about] for {o.the}. The [spot|place|grass] {near} the {lm1} was empty!"),
    Opt(('"Where is my {o.noun}?" {h.name} {sobbed}, {looked_ing} [all around|everywhere|under] the {lm1}.',
     '{h.name} {sobbed}, "Oh no, [I lost my|where is my|someone took my] {o.noun}!" {h.His} {sad_body}.',
     '{h.name} felt so {sad} that {h.his} {own_part} shook. "{o.the_cap} is gone," {h.name} {whispered}.')),
    Opt(("{h_sad}",)),
    PARAGRAPH,
    Opt(("{f_comforts}",)),
    ("{search}",),
    ("{search}",),
    ('{then} a {adj_small} {crit1} {hopped} over to {h.name}. "I saw something {o.color} by the {lm4}," the {crit1} {chirped}.',
     '{then} {f.name} pointed at the {lm4} and {shouted}, "Look, {h.name}, something {o.color} is [lying|sitting|hiding] over there!"',
     "{h_idea} {h.name} remembered {walked_ing} past the {lm4} {time_phrase}."),
    ("{h.name} {ran} to the {lm4}, and there it was! {o.the_cap} was lying [in the grass|in a little hollow|under some leaves], [safe and sound|not hurt at all|just a bit dusty].",
     "[Behind|Under|Beside] the {lm4}, [half hidden|tucked away] under [some leaves|a pile of twigs|an old newspaper], was {o.the}!"),
    ("{h_thanks_f}", "{h_happy} {h_thanks_f}"),
    PARAGRAPH,
    ("From that day on, {h.name} always kept {o.the} [close|in {h.his} pocket|in {h.his} bag]. {h.name} had learned to take {adj_kind} care of {h.his} things.",
     "That night, {h.name} put {o.the} right next to {h.his} [bed|pillow]. {h.name} was {happy} to have the {o.noun} back, and {happy} to have a friend like {f.name}.",
     "{h.name} never forgot that {wday} day {place.at}. After that, whenever {h.name} played with {o.the}, the {o.noun} stayed where {h.name} could see it.",
     "{night_end}"),
), outdoor=True)

SHARING = Plot("sharing", (
    ("One {wday} {daypart}, {h.name} was playing with {o.the} {place.at} when {f.name} {walked} by.",
     "On {day}, {f.name} came to play {place.at}. {f.name} saw {o.the}, and {f.his} eyes grew [wide|big|round]."),
    Opt(("{look_around}", "{weather_s}")),
    ('{f.name} asked, "What a {adj_nice} {o.noun}! May I [try it|hold it|play with it], {h.name}?"',
     '{f.name} asked {adv}, "{h.name}, can I play with your {o.color} {o.noun} for a [little while|minute|bit]?"',
     '{f.name} asked, "{h.name}, may I borrow your {o.noun}? I will [give it back|be careful with it], I promise."'),
    ('"No, {o.the} is mine," {h.name} {said}, and {h.he} held the {o.noun} behind {h.his} back.',
     '{h.name} shook {h.his} head. "No, you [might|will] [break|lose|drop] my {o.noun}," {h.name} {said}.'),
    ("{f.name} {looked} down at {f.his} [shoes|feet|hands], and then {f.name} went to sit by the {lm1} all alone.",
     "{f.name} did not say a word. {f.name} {walked} [away|off] and sat {near} the {lm1} by {f.himself}."),
    PARAGRAPH,
    Opt(("{h.name} played with {o.the}, but it was not [fun|much fun] anymore. {h.name} kept {looked_ing} over at {f.name} by the {lm1}.",
     "Soon {h.name} felt [bad|sorry|funny] inside. Playing alone [by the {lm2}|{place.at}] was not {adj_fun}, even with {o.the}.")),
    SOLO_INTERLUDE,
    Opt(('{p_rel_cap} [saw|had seen] what happened. "How would you feel if {f.name} did not share with you, {h.name}?" {p.name} asked {adv}.',
     "{h.name} thought about how {f.name} felt. {h.name} remembered a day when nobody shared with {h.him}, and {h.he} had felt {sad} too.")),
    ('{h.name} {walked} over to the {lm1}. "I am sorry, {f.name}," {h.name} {said}. "Do you want to play with my {o.noun} [together|with me]?"',
     '{h.name} took a [deep|big|long] breath and {walked} to the {lm1}. "Here, {f.name}, you can have a turn with {o.the}," {h.name} {said}.'),
    ('{f.name} {smiled} a {adj_smile} smile. "Thank you, {h.name}, you are a {adj_kind} friend," {f.name} {said}.',
     '{f.name} jumped up {adv_glad} and {shouted}, "Really? Thank you, {h.name}!"'),
    PARAGRAPH,
    ("{h.name} and {f.name} played with {o.the} all {daypart}. They took turns {near} the {lm2}, and they {laughed} until their tummies hurt.",
     "The two friends played {game} {place.at} until the sun went down [behind the {lm3}|over the {lm2}]. {o.the_cap} was more {adj_fun} with two."),
    INTERLUDE,
    ("{h.name} learned that sharing makes everyone {happy}. From then on, {h.name} always shared {o.the} with {f.name}.",
     'That night, {h.name} told {p_rel}, "Sharing my {o.noun} with {f.name} was the best part of the day." {p.name} {smiled} {adv_glad}.',
     "{night_end}"),
), help="friend")

FEARS = (
    dict(fear="the dark", where=None,
         show="Every night, when {p.name} [turned off|switched off] the light, {h.name} hid under the {color} blanket. The shadows on the {room} wall looked like {monsters} [with long arms|with big teeth|with pointy ears].",
         talk='"[There is nothing|Nothing is] in the dark that is not there in the day, {h.name}," {p.name} {said} {adv_soft}. "[Let us|Let\'s] [look|check] together."',
         attempt="{p.name} [turned off|switched off] the light and held {h.poss} hand. {h.name} {looked} around the {room}. The {monster} on the wall was only the shadow of {o.the}!",
         after="{h.name} {laughed} {adv_glad}. That night, {h.name} [slept|snuggled up] with {o.the} and dreamed of {dream}."),
    dict(fear="the tall slide {place.at}", where=("playground", "park", "swimming pool"),
         show="All the other children [whooshed|slid|zoomed] down the slide and {laughed}. But {h.name} [stayed|waited|stood] at the bottom, {held_ing} {o.the}. The slide looked {simile_tall}!",
         talk='"{h.name}, you can go down with me the first time," {h.poss} friend {f.name} {said} {adv_soft}. "I will be right [next to|behind] you."',
         attempt="{h.name} climbed the [steps|ladder] one by one. At the top, {h.name} [closed {h.his} eyes|held {f.poss} hand|counted to {n}], and then, whoosh, down {h.he} went!",
         after='At the bottom, {h.name} {shouted}, "That was {adj_fun}, {f.name}!" and {ran} back to the [steps|ladder] [to do it again|for another turn].'),
    dict(fear="deep water", where=("swimming pool", "lake", "beach", "river", "pond", "seaside town", "island"),
         show="When the other children [swam|splashed] {place.at}, {h.name} sat [on the edge|by the {lm1}] with {o.the}. The water looked [so deep|very deep] and {cold}.",
         talk='"We can start where the water is [not deep|shallow], {h.name}," {p.name} {said} {adv_soft}. "I will [hold you|be next to you] the whole time."',
         attempt="{h.name} put one foot in the water, then the other. {p.name} held {h.name} {adv_soft}, and soon {h.name} was [kicking|paddling] and splashing.",
         after='{h.name} {shouted}, "Look at me, {f.name}, I am swimming!" {f.name} {cheered} from the {lm2}.'),
    dict(fear="thunder", where=None,
         show="One [stormy|windy|dark] night, a big storm [came|rolled in]. The thunder went boom, and {h.name} {ran} to {p_rel} with {o.the}.",
         talk='"Thunder is [just|only] the sound the sky makes after the lightning, {h.name}," {p.name} {said} {adv_soft}. "It is loud, but it cannot hurt you [inside|in here]."',
         attempt="{h.name} and {p.name} sat by the [window|fire] and counted after every flash. One, two, {n}, boom! Each time, the thunder [was|sounded] farther away.",
         after="[Soon|Before long] the storm was over. {h.name} fell asleep [holding|hugging] {o.the}, and {h.name} was not {scared} of thunder anymore."),
    dict(fear="the big dog next door", where=None,
         show="Every time {h.name} {walked} past the house next door, the big [brown|black|spotted|shaggy] dog barked. {h.name} {walked} by {adv_fast} and did not look.",
         talk='"That dog is {adj_kind}, {h.name}," {h.poss} friend {f.name} {said}. "It barks because it wants [someone|a friend] to play with."',
         attempt="The next {daypart}, {h.name} stopped at the fence. The dog came over and wagged its tail. {h.name} held out a hand, and the dog licked it {adv_soft}.",
         after="{h.name} {laughed}. Now {h.name} and the big dog were friends, and every {day} {h.name} brought {o.the} to show it."),
    dict(fear="climbing the old {tree} tree", where="outdoor",
         show="{h.poss} friend {f.name} could climb all the way up the old {tree} tree by the {lm1}. {h.name} always stayed on the ground, {held_ing} {o.the}.",
         talk='"Put your feet where I put mine, {h.name}," {f.name} {said} {adv_soft}. "Go slowly, and [do not|don\'t] look down."',
         attempt="{h.name} climbed one branch, then another, and then another. Soon {h.name} was sitting next to {f.name} high in the {tree} tree.",
         after="From up there, {h.name} could see [the whole town|the {lm2} and the {lm3}|all of the {place.name}]. {h.name} could even see {p_rel} waving from the {lm2}."),
    dict(fear="the noisy vacuum cleaner", where=None,
         show="Whenever {p.name} turned on the vacuum cleaner, {h.name} covered {h.his} ears and hid behind the {furniture} with {o.the}.",
         talk='"It only eats dust and crumbs, {h.name}," {p.name} {said} with a wink. "[Do you want|Would you like] to push it with me?"',
         attempt="{h.name} put {h.his} hands next to {p.poss} hands on the handle. Together they pushed the vacuum across the {room} floor.",
         after="{h.name} {laughed}. The vacuum was loud, but it was not scary at all. Now {h.name} helped clean [every {day}|every week|after dinner]."),
    dict(fear="the first day at a new school", where=None,
         show="{h.name} did not want to go to the new school. What if nobody liked {h.name}? What if {h.name} got lost on the way to the [classroom|lunch hall|gym]?",
         talk='"Everyone feels {shy} on the first day, {h.name}," {p.name} {said} {adv_soft}. "Take {o.the} with you, and think of me."',
         attempt="At school, {h.name} held {o.the} tight. A {adj_kind} teacher showed {h.name} where to hang {h.his} {cloth}, and a {kid_kind} {smiled} at {h.him}.",
         after="By lunchtime, {h.name} had two new friends. {h.name} could not wait to go back the next {daypart}."),
    dict(fear="the doctor", where=None,
         show="{h.name} had to go to the doctor for a checkup on {day}. {h.name} {held} {o.the} and did not want to go in.",
         talk='"The doctor helps us stay healthy and strong, {h.name}," {p.name} {said}. "I will be with you the whole time."',
         attempt="The doctor was {adj_kind}. {h.name} listened to {h.his} own heart, thump, thump, thump, and the doctor even [checked|listened to] {o.the}.",
         after="At the end, the doctor gave {h.name} a [sticker|badge] shaped like a {sticker}. {h.name} wore it all {daypart}."),
    dict(fear="riding a big horse", where=("farm", "meadow", "hill", "field", "fair"),
         show="{place.at_cap}, there was a big [brown|gray|white|spotted] horse named {horse}. {h.name} thought {horse} was {simile_tall} and much too big.",
         talk='"{horse} is very gentle, {h.name}," {p.name} {said} {adv_soft}. "Just stroke her nose and say hello."',
         attempt="{h.name} stroked {horse}'s soft nose. Then {p.name} lifted {h.name} up, and {horse} walked slowly around the {lm1}.",
         after='{h.name} {shouted}, "I am riding a horse, {p.name}!" Then {h.name} gave {horse} a [carrot|apple] to say thank you.'),
    dict(fear="the big snowy hill", where=("snowy field", "hill", "mountain"),
         show="All the children were sledding down the big hill {place.at}. {h.name} stood at the top with {o.the} and would not move.",
         talk='"We can ride down together on my sled, {h.name}," {h.poss} friend {f.name} {said}. "I will steer, and you hold on."',
         attempt="{h.name} sat behind {f.name} and held on tight. Whoosh! The sled flew down past the {lm1}, and snow sprayed everywhere.",
         after="{h.name} {laughed} so hard that {h.name} fell into the snow. {h.name} and {f.name} pulled the sled back up and went again and again."),
    dict(fear="the spider in the corner", where=None,
         show="A little spider lived in the corner of {h.poss} {room}. Every time {h.name} saw it, {h.name} [squealed|jumped|hid behind {o.the}].",
         talk='"That spider catches flies for us, {h.name}," {p.name} {said} {adv_soft}. "It is more scared of you than you are of it."',
         attempt="{h.name} [crept|tiptoed] closer and {looked}. The spider was busy spinning a web that shone like [silver|glass|a tiny net] in the {daylight}.",
         after="{h.name} named the spider {pet_name} and said good morning to it every day. {h.name} was not {scared} anymore."),
)

FEAR = Plot("fear", (
    ("{h.name} was brave about [many|lots of] things, but {h.name} was {scared} of {fear}.",
     "There was one thing {h.name} did not like at all, and that was {fear}. It made {h.name} feel {scared}."),
    ("{show}",),
    Opt(("{h_scared}",)),
    PARAGRAPH,
    Opt(('"I [can\'t|cannot] do it," {h.name} {whispered} in a {adj_voice} voice. "I am too {scared}, {p.name}."',
     '{h.name} told {p_rel} all about it and asked, "What if something bad happens to me and {o.the}?"')),
    ("{talk}",),
    INTERLUDE,
    PARAGRAPH,
    Opt(("{h.name} took a [deep|big|long] breath and {held} {o.the}. {h.name} wanted to be {simile_brave}.",
     "{h.name} thought about it for a [long time|while|moment]. Then {h.name} nodded {adv}.")),
    ("{attempt}",),
    PARAGRAPH,
    ("{after}",),
    ("From that day on, {h.name} knew that being brave means trying even when you feel {scared}.",
     "{h.name} learned that {fear} only looks scary until you try[, one small step at a time|].",
     "{p_praises}", "{night_end}"),
), lambda rng, slots: _fitting(rng, FEARS, slots["place"]), companion="p", subscenes="home", help="brave")

TROUBLES = (
    ("bird", "had a hurt wing and could not fly",
     "{h.name} made a soft bed for the {animal} in a shoe box. {h.name} gave it water and {seeds} every day until its wing was better."),
    ("any", "was stuck in a thorny bush and could not get out",
     "{h.name} held the branches apart {adv_soft}, and {f.name} lifted the {animal} out. Not a single thorn touched it."),
    ("waterbird", "was lost and could not find its mother",
     "{h.name} and {f.name} {walked} with the little {animal} along the water until they found its mother by the {lm2}."),
    ("pondlife", "was lying on its back in the sun and could not turn over",
     "{h.name} knelt down and {adv_soft} turned the {animal} over. Then {h.name} carried it to the cool water."),
    ("any", "had fallen into a deep hole and could not climb out",
     "{h.name} and {f.name} found a long {stick} and put it into the hole. The {animal} climbed up the {stick} and out!"),
    ("insect", "was caught in a sticky spider web",
     "{h.name} used a little twig to pull the web away, very slowly and very {adv_soft}, until the {animal} was free."),
    ("any", "was very hungry and very thin",
     "{h.name} {ran} home and came back with some {animal_food}. The {animal} ate every last bit."),
    ("any", "had its foot caught in an old net",
     "{f.name} held the {animal} still while {h.name} untied the knots of the net one by one."),
    ("woodland", "was stuck high up in a tree and could not get down",
     "{h.name} {ran} to get {p_rel}. {p.name} brought a long ladder, climbed up and carried the {animal} down."),
    ("any", "was cold and wet from the rain",
     "{h.name} wrapped the {animal} in {h.his} {cloth} and held it close until it was warm and dry."),
)
ANIMAL_FOOD = {"bird": "seeds and crumbs", "waterbird": "bread crumbs", "seabird": "bits of fish",
               "insect": "drops of sugar water", "crawler": "fresh green leaves", "pondlife": "tiny bugs",
               "sealife": "small fish", "farm": "hay and carrots", "woodland": "nuts and berries",
               "zoo": "fruit", "pet": "milk and biscuits", "polar": "fish", "raptor": "bits of meat",
               "mountain": "grass and flowers", "jungle": "ripe fruit", "reptile": "tiny bugs"}


def _rescue_setup(rng: random.Random, slots: dict) -> dict:
    animal = slots["crit1"]
    group = lx.CREATURE_GROUP_OF[animal]
    while True:
        need, problem, fix = rng.choice(TROUBLES)
        if need in ("any", group):
            break
    sound = lx.ANIMAL_SOUNDS.get(animal, (None, "Help"))[1]
    return dict(animal=animal, problem=problem, fix=fix, sound=sound, sound_low=sound.lower(),
                animal_food=ANIMAL_FOOD[group], a_animal=lx.with_article(animal))


RESCUE = Plot("rescue", (
    ("One {wday} {daypart}, {h.name} and {f.name} went for a [walk|stroll] {place.at}.",
     "{h.name} was playing with {o.the} {place.at} when {h.name} heard a {adj_sound} sound near the {lm1}.",
     "{h.name} and {f.name} were {walked_ing} past the {lm1} {time_phrase} when they heard a {adj_sound} [cry|squeak|noise]."),
    Opt(("{arrive}", "{look_around}", "{weather_s}")),
    INTERLUDE,
    ('"{sound}, {sound_low}," came a {adj_voice} voice from the {lm1}. {h.name} {looked} and saw {a_animal}. The {animal} {problem}.',
     "[Suddenly|All at once|Just then], {h.name} {found} {a_animal} near the {lm1}. The poor {animal} {problem}.",
     "{f.name} pointed at the {lm1}. There sat {a_animal}, and the little {animal} {problem}."),
    ('{h.name} {shouted}, "Poor little {animal}! We have to help it, {f.name}!"',
     '{h.name} felt {sad} for the {animal}. "Don\'t be {scared}, little {animal}. We will help you," {h.name} {whispered}.',
     '"We must [help|save] the {animal}, {f.name}," {h.name} {said} {adv}, and {f.name} nodded.'),
    PARAGRAPH,
    ("{fix}",),
    Opt(("It was not easy, and it took a [long time|while|lot of patience]. But {h.name} and {f.name} did not give up.",
         "{h.name} was very [careful|gentle] and very patient, and {f.name} helped as much as {f.he} could.")),
    PARAGRAPH,
    ("The {animal} was safe at last. It {looked} at {h.name} with its [bright|shiny|little] eyes, as if to say thank you.",
     "At last the {animal} was safe. {h.name} felt warm and {happy} inside, {simile_happy}.",
     "The little {animal} [hopped|ran|flew|wriggled] [off|away] to the {lm2}, and {h.name} and {f.name} waved goodbye."),
    INTERLUDE,
    ('That night, {h.name} told {p_rel} all about the {animal}. "You were very {adj_kind} today, {h.name}," {p.name} {said}.',
     "{h.name} learned that helping others is the best way to make a friend. Every day after that, the {animal} came to visit {h.name} by the {lm1}.",
     "{night_end}"),
), _rescue_setup, help="brave", outdoor=True)

PROJECTS = (
    dict(thing="a big sandcastle", the="sandcastle", needs="a {color} bucket, a spade and lots of wet sand",
         work="{h.name} [dug|scooped] and patted the sand {adv} for [a long time|ages|the whole {daypart}]. Soon the sandcastle had {n} towers, a moat and a little {color} flag.",
         fail="a big wave rolled up [the sand|the shore] and washed {h.poss} sandcastle away.", fix="build it far from the water",
         redo="{h.name} and {f.name} built the new sandcastle high up on the dry sand, where the waves could not reach it."),
    dict(thing="a chocolate cake", the="cake", needs="flour, eggs, sugar, milk and a big {color} bowl",
         work="{h.name} [mixed|stirred] everything in the bowl {adv} and [poured|spooned] it into a {color} pan. {p.name} helped {h.name} put the cake in the oven.",
         fail="{h.name} forgot the cake in the oven, and it came out black and hard as a {thing_small}.", fix="set a timer",
         redo="{h.name} and {f.name} made a new cake. This time {h.name} set a timer, and the cake came out soft and {taste}."),
    dict(thing="a birthday card", the="card", needs="paper, glue, {color} glitter and crayons",
         work="{h.name} drew {flowers} and a big {color} sun on the front. Inside, {h.name} wrote a {adj_kind} message for {p.name}.",
         fail="a puppy ran in with muddy paws and stepped all over {h.poss} card.", fix="work up on the table",
         redo="{h.name} and {f.name} made a new card up on the table, and this time {h.name} added a {color} heart made of glitter."),
    dict(thing="the tallest tower of blocks", the="tower", needs="all of {h.his} wooden blocks",
         work="{h.name} [put|stacked|set] one block on top of another, [higher and higher|up and up], until the tower was taller than the {furniture}.",
         fail="{h.poss} tower wobbled and fell down with a loud crash.", fix="put the big blocks at the bottom",
         redo="{h.name} and {f.name} put the biggest blocks at the bottom and the small ones at the top. The new tower stood {simile_tall}."),
    dict(thing="a little house for the birds", the="bird house", needs="some wood, nails and {color} paint",
         work="{h.name} [hammered|nailed] the wood together {adv} and [painted|colored] the bird house {color}.",
         fail="the roof fell off when {h.name} tried to hang the bird house in the {tree} tree.", fix="use more nails",
         redo="{h.name} and {f.name} used more nails, and the roof stayed on. They hung the bird house high in the {tree} tree."),
    dict(thing="a paper boat", the="paper boat", needs="a big sheet of {color} paper and some wax crayons",
         work="{h.name} folded the paper [this way and that way|again and again|very carefully] until it looked just like a [boat|little ship].",
         fail="the paper boat got soggy and sank as soon as it touched the water in the {tub}.", fix="rub wax all over the paper",
         redo="{h.name} and {f.name} colored the whole boat with wax crayons, and this time it floated across the {tub}."),
    dict(thing="a snowman", the="snowman", needs="lots of snow, two stones, a carrot and an old {color} scarf",
         work="{h.name} rolled a [big|huge|fat] snowball for the body and a [smaller|little] one for the head.",
         fail="the head was too heavy, and it rolled right off the body.", fix="pat the snow flat on top first",
         redo="{h.name} and {f.name} patted the body flat on top, and the head stayed on. The snowman had a carrot nose and a {color} scarf."),
    dict(thing="a puppet show", the="show", needs="some old socks, buttons, yarn and a big box",
         work="{h.name} sewed {color} buttons on the socks for eyes and cut a window in the box for a stage.",
         fail="the box tipped over in the middle of the show, and all the puppets fell out.", fix="tape the box to a chair",
         redo="{h.name} and {f.name} taped the box to a chair, and the show went on. The sock puppets sang about {song}."),
    dict(thing="a garden of {flower_pl}", the="flower bed", needs="a packet of seeds, a little spade and a {color} watering can",
         work="{h.name} dug {n} small holes by the {lm1}, dropped in the seeds and [covered|patted] them with soil.",
         fail="a hungry {crit1} came and pecked up half of {h.poss} seeds.", fix="cover the seeds with a net",
         redo="{h.name} and {f.name} planted new seeds and covered them with a net. A few weeks later, the garden was full of {flower_pl}."),
    dict(thing="a necklace of beads", the="necklace", needs="a long string and a jar of {color} beads",
         work="{h.name} put the beads on the string one by one, {color}, {color}, {color}, {color}.",
         fail="the string slipped, and all the beads bounced across the {room} floor.", fix="tie a knot at the end first",
         redo="{h.name} and {f.name} tied a knot at the end of the string first, and not one bead fell off."),
    dict(thing="a fort made of pillows", the="fort", needs="every pillow, cushion and blanket in the house",
         work="{h.name} [stacked|piled] the cushions into walls and [put|threw|draped] a {color} blanket on top for a roof.",
         fail="the cat jumped on the roof, and {h.poss} whole fort fell down.", fix="hold the roof up with two chairs",
         redo="{h.name} and {f.name} put two chairs inside to hold up the roof. The new fort was big enough for {h.name}, {f.name} and {o.the}."),
)

MAKING = Plot("making", (
    ("{h.name} wanted to make {thing} to surprise {p_rel}.",
     "One {wday} {daypart}, {h.name} had a [wonderful|great|clever] idea. {h.name} would make {thing} for {p_rel}!",
     "[{p.poss} birthday was coming|It was a {wday} {day}], and {h.name} [decided|wanted] to make {thing} for {p_rel}."),
    Opt(("First, {h.name} [found|gathered|collected] {needs}.", "{h.name} [got|fetched] {needs} and set to work {adv}.")),
    ("{work}",),
    PARAGRAPH,
    ("But then {fail}", "Just when it was almost finished, {fail}", "[Oh dear|Oh no]! {fail_cap}"),
    Opt(('{h.name} sat down by the {furniture}. "All my work is [gone|ruined|spoiled]," {h.name} {sobbed}.',
         '{h.name} {sobbed}, "Oh no, now I have to start all over again!" and rubbed {h.his} eyes.')),
    Opt(("{h_sad}",)),
    PARAGRAPH,
    ('{f.name} came over to help. "Let\'s do it together, {h.name}," {f.name} {said}. "This time we can {fix}."',
     '{f.name} sat down next to {h.name}. "Don\'t give up, {h.name}," {f.name} {said} {adv_soft}. "We can {fix}, and it will work."',
     '{f.name} [knocked on the door|came to visit] and saw {h.poss} {sad} face. "I know! We can {fix}," {f.name} {said}.'),
    ("So {h.name} and {f.name} tried again. {redo}", "{h.name} wiped {h.his} eyes and {smiled} at {f.name}. {redo}"),
    INTERLUDE,
    PARAGRAPH,
    Opt(('When it was finished, {h.name} showed the {the} to {p_rel}. {p.name} {shouted}, "It is {adj_nice}, {h.name}!" and gave {h.name} a {adj_hug} hug.',
         '{h.name} {ran} to get {p_rel} and {shouted}, "Look what we made, {p.name}!" {p.name} {cheered} {adv_glad}.')),
    ("{h.name} learned that when something goes wrong, you can always try again, and that [work|everything] is easier with a friend like {f.name}.",
     "That night, {h.name} put {o.the} next to the {the}. {h.name} was {happy} that {h.he} had not given up.",
     "{p_praises}"),
), _pick(PROJECTS), subscenes="home", help="fix")


def _trip_setup(rng: random.Random, slots: dict) -> dict:
    """A trip goes to the story's setting: the landmarks are what they see there."""
    return dict(vehicle=rng.choice(("bus", "car", "train", "boat", "tram", "van", "ferry", "taxi")),
                shelter=rng.choice(("a little shop", "a wooden hut", "a big tent", "a bus shelter", "a small cafe",
                                    "an old barn", "a tall tree", "a bandstand")))


TRIP = Plot("trip", (
    ('{p.name} {said}, "Today we are going on a trip to the {place.name}, {h.name}!" {h.name} jumped up and down with joy.',
     "{h.name} was very excited. Today {h.name} and {p_rel} were going {place.to}.",
     "On {day}, {p_rel} [woke|called] {h.name} early. They were going {place.to} for the whole {daypart}!"),
    Opt(("{h.name} packed {o.the} and some {food.pl} in a little [bag|basket|backpack].",
         "{h.name} did not want to go anywhere without {o.the}, so the {o.noun} came too, with some {food.pl} for lunch.")),
    ("They went by {vehicle}. The trip was long, but {h.name} {looked} out of the window and sang songs about {song}.",
     "They went by {vehicle}. On the way, {h.name} counted {count_things} and waved at [everyone|the people] they passed.",
     "The {vehicle} [rattled|rolled|bumped] along, and {h.name} {held} {o.the} and [watched|counted] the {count_things}."),
    PARAGRAPH,
    ("{place.at_cap}, {h.name} saw the {lm1}, the {lm2} and lots of {crits1}. {h.name} liked the {lm3} best of all.",
     "There was so much to see {place.at}: the {lm1}, the {lm2} and the {lm3}. But {h.name} liked the {crits1} the most.",
     "{h.name} {ran} from the {lm1} to the {lm2} and back, {simile_fast}, and {p.name} {laughed}."),
    ('{h.name} tugged {p.poss} sleeve and asked, "Can we {act}?" {p.name} {said}, "Of course we can, {h.name}."',
     '{h.name} {shouted}, "Look at the {crits1}!" and pointed at the {lm2}. {p.name} {laughed}.',
     '"{p.name}, I want to {act}," {h.name} {said}, and so they did, right by the {lm3}.'),
    INTERLUDE,
    PARAGRAPH,
    ("Then dark clouds covered the sun over the {lm2}, and big drops of rain began to fall.",
     "Suddenly the wind began to blow, and it started to rain on the {lm1}.",
     "[Plip|Drip|Plop]! A raindrop landed on {h.poss} nose, and then the rain came down on the {lm3}."),
    ("{p.name} took {h.poss} hand, and they {ran} to {shelter}. {h.name} and {p.name} waited there and ate the {food.pl}.",
     "{h.name} and {p.name} hurried to {shelter} and stayed dry. {h.name} shared the {food.pl} with {p_rel}.",
     "{h.name} {held} {o.the} under {h.his} {cloth}, and they {ran} [all the way|together] to {shelter}."),
    Opt(("Soon the rain stopped, and a big rainbow came out over the {lm3}.",
         "After a while the sun came back, and the {lm3} was shining and wet.")),
    PARAGRAPH,
    ("When they got home, {h.name} was tired but {happy}. {h.name} hugged {o.the} and told {f.name} all about the {lm3}.",
     "That night, {h.name} drew a picture of the {crits1} by the {lm1} and put it on the wall next to {h.his} bed.",
     "On the {vehicle} home, {h.name} fell asleep with {o.the}, dreaming of the {crits1} and the {lm2}."),
    ('{h.name} asked, "Can we go to the {place.name} again [soon|next {day}]?" {p.name} {said}, "Yes, we can, {h.name}."',
     "It was the best day {h.name} could remember.", "{night_end}"),
), _trip_setup, companion="p")

RACE = Plot("race", (
    ("{h.name} and {f.name} were best friends. They liked to play {game} {place.at}.",
     "{h.name} had a best friend named {f.name}. They did everything together, even {hob1_ing}.",
     "Every {day}, {h.name} and {f.name} met by the {lm2} to play {game}."),
    INTERLUDE,
    ('One day, {f.name} said, "Let\'s have a race to the {lm1}, {h.name}! The winner gets to hold {o.the}."',
     'One {daypart}, {h.name} had an idea. "Let\'s race to the {lm1}," {h.name} {said}. "Whoever wins can choose the next game."',
     '"I bet I can beat you to the {lm1}, {h.name}," {f.name} {said} with a {adj_smile} grin.'),
    ('{f.name} {shouted}, "Ready, set, go!" and the two friends {ran} across the {place.name}.',
     '{h.name} {shouted}, "One, two, three, go!" and off they went, {simile_fast}.',
     "[Whoosh|Zoom]! {h.name} and {f.name} {ran} past the {lm2}, {simile_fast}."),
    PARAGRAPH,
    ("{h.name} was in front. {h.name} was sure of winning. But then {h.name} heard a cry near the {lm2}.",
     "{h.name} {ran} faster and faster. The {lm1} was very close now. Then {h.name} heard a {adj_sound} cry.",
     "{h.name} could already [touch|see] the {lm1} when a {adj_sound} cry came from behind."),
    ("{f.name} had tripped over a {stone} and fallen down. {f.poss} {hurt_part} was scraped, and {adj_tear} tears ran down {f.his} {face_part}.",
     "{f.name} was sitting [in the grass|on the path|by the {lm3}], {held_ing} {f.his} {hurt_part}. A {stone} had tripped {f.him}.",
     "Poor {f.name} had fallen over a {stone}, and {f.poss} {hurt_part} was [sore|bleeding a little|red and scraped]."),
    PARAGRAPH,
    Opt(("{h.name} {looked} at the {lm1}. It was so close! Then {h.name} {looked} back at {f.name}.",
         "{h.name} stopped. {h.name} could still win, but {f.name} needed help.")),
    ('{h.name} turned around, {ran} back and asked {adv}, "Are you okay, {f.name}?"',
     '{h.name} {ran} back, knelt next to {f.name} and asked, "Does your {hurt_part} hurt a lot, {f.name}?"',
     '"I am coming, {f.name}!" {h.name} {shouted}, and {ran} back past the {lm2}.'),
    Opt(("{h.name} helped {f.name} stand up. Slowly, the two friends {walked} to the {lm1} together, side by side.",
         "{h.name} [blew on|looked at] {f.poss} {hurt_part} and helped {f.him} hop all the way to the {lm1}.")),
    PARAGRAPH,
    ('{p_rel_cap} had seen everything. "You did not win the race, {h.name}, but you did something better," {p.name} {said}. "You were a good friend."',
     "When they got to the {lm1}, {h.name} and {f.name} sat down on the grass and {laughed}.",
     '{f.name} {smiled} and gave {o.the} to {h.name}. "You are the real winner, {h.name}," {f.name} {said}.'),
    ("{h.name} learned that being a good friend is more important than winning.", "{p_praises}", "{night_end}"),
), lambda rng, slots: dict(stone=rng.choice(("stone", "root", "log", "rock", "stick", "bump"))), outdoor=True)

WISHES = (
    dict(wish="I could fly like a {crit1}", result="Suddenly, {h.name} was floating up into the air, over the {lm1}!",
         good="{h.name} flew over the houses and the {tree} trees. {p_rel_cap} looked as small as an ant down by the {lm2}.",
         problem="It got very windy and {cold} up high, and {h.name} could not find a way to come down.",
         undo="{h.poss} feet were back on the soft ground by the {lm1}.", lesson="it is good to be just who you are"),
    dict(wish="I had a mountain of {food.pl}", result="Pop! A huge mountain of {food.pl} appeared next to the {lm1}.",
         good="{h.name} ate and ate. The {food.pl} {food.were} {tastes}.",
         problem="{h.poss} tummy began to hurt, and the mountain of {food.pl} was so big that nobody could get past the {lm1}.",
         undo="The mountain was gone, and {h.poss} tummy felt better.", lesson="too much of a good thing is not good at all"),
    dict(wish="I was as big as a tree", result="{h.name} grew and grew until {h.he} was taller than the {tree} trees!",
         good="{h.name} could see the whole town, the {lm1} and even the {lm2} from up there.",
         problem="{h.name} was too big to go home, and too big to play with {o.the}.",
         undo="{h.name} was small again, just the right size for {o.the}.", lesson="being small is not so bad"),
    dict(wish="my toys could talk", result='Right away, {o.the} opened its eyes and said, "Hello, {h.name}!"',
         good="{o.the_cap} and all of {h.poss} other toys sang songs and told funny jokes about {song}.",
         problem="The toys talked all day and all night. {o.the_cap} was so loud that {h.name} could not sleep.",
         undo="{o.the_cap} and the other toys were quiet again.", lesson="some wishes are better when they stay wishes"),
    dict(wish="it was my birthday every day", result="The next {daypart}, there was a {taste} cake and a pile of presents by the {furniture}.",
         good="There were {color} balloons, songs about {song} and games of {game} all day long.",
         problem="Soon the presents were boring, the cake tasted like nothing special, and {p_rel} was very {tired}.",
         undo="It was a normal {day} again, and {h.name} was glad.", lesson="special days are special because they do not come every day"),
    dict(wish="I could talk to animals", result='A {crit1} {looked} up at {h.name} and said, "Good {daypart} to you, {h.name}!"',
         good="{h.name} talked with the {crits1} and the {crits2}, and learned all about their homes by the {lm2}.",
         problem="Soon every {crit1} and every {crit2} wanted to talk at once, and the noise made {h.poss} head spin.",
         undo="The {crits1} and the {crits2} chirped and squeaked the way they always did.", lesson="a little quiet can be a gift too"),
    dict(wish="it would snow in summer", result="Snowflakes began to fall on the {lm1} from the bright summer sky!",
         good="{h.name} built a snowman by the {lm2} and made snow angels in {h.his} {clothing}.",
         problem="The flowers froze, the {crits1} shivered, and the {food.pl} turned to ice.",
         undo="The snow melted, and the warm sun came back to the {lm1}.", lesson="every season has its own good things"),
    dict(wish="{o.the} could grow as big as a house", result="{o.the_cap} grew and grew until it was bigger than the {lm1}!",
         good="{h.name} and {f.name} climbed all over {o.the} and {laughed} and {laughed}.",
         problem="But now {o.the} would not fit through any door, and {h.name} could not take it home.",
         undo="{o.the_cap} was its own size again, small enough to hold.", lesson="things are often just right the way they are"),
)

MAGIC = Plot("wish", (
    ("One {wday} {daypart}, {h.name} was {walked_ing} {place.at} when {h.name} saw something shining by the {lm1}.",
     "While {h.name} was playing with {o.the} {place.at}, {h.name} found something strange by the {lm1}.",
     "{h.name} was {hob1_ing} {place.at} when something [glittered|sparkled|twinkled] [behind|under|beside] the {lm1}."),
    ('It was {magic_a}. When {h.name} picked it up, it [began to glow|grew warm|hummed softly], and a {adj_voice} voice said, "You may make one wish, {h.name}."',
     '{h.name} [found|picked up] {magic_a}. "[I am a wishing {magic_noun}|Make a wish, and I will grant it]," it said in a {adj_voice} voice.',
     '{h.name} [rubbed|held|shook] the {magic} {adv}, and [a {adj_voice} voice|a tiny {crit1} with a crown] said, "{h.name}, you may have one wish."'),
    PARAGRAPH,
    ('{h.name} thought and thought. Then {h.name} {said}, "I wish {wish}!"',
     '{h.name} did not have to think for long. "I wish {wish}," {h.name} {whispered}.',
     '{h.name} {looked} at {o.the} and then at the {lm2}, and {shouted} {adv_glad}, "I wish {wish}!"'),
    ("{result}",),
    ("At first it was {adj_fun}. {good}", "{good} {h.name} {laughed} and {laughed}.", "{good} It was {adj_fun}!"),
    PARAGRAPH,
    ("But soon there was a problem. {problem}", "But then things went wrong. {problem}", "{problem}"),
    ('{h.name} felt {sad}. {h.name} {held} the {magic} and {whispered}, "I wish everything was like before."',
     '{h.name} [squeezed|held] the {magic} tight. "Please make it go back, please," {h.name} {whispered}.'),
    ("With a soft flash of {color} light, everything changed back. {undo}",
     "[Poof|Whoosh|Pop]! A {color} cloud [filled|covered] the {lm1}, and when it was gone, {undo_low}"),
    INTERLUDE,
    PARAGRAPH,
    Opt(("{h.name} {ran} home to {p_rel} and gave {p.name} a {adj_hug} hug. {h.name} put the {magic} on a shelf next to {o.the}.",
         "{h.name} told {f.name} the whole story. {f.name} {laughed} and said it was the best story {f.he} had ever heard.")),
    ("{h.name} learned that {lesson}.", "From then on, {h.name} knew that {lesson}.", "{night_end}"),
), lambda rng, slots: dict(rng.choice(WISHES), **_magic_item(rng, slots)), subscenes="solo")


def _magic_item(rng: random.Random, slots: dict) -> dict:
    noun = rng.choice([n for n in ("stone", "feather", "bell", "key", "shell", "acorn", "button", "spoon", "leaf", "star")
                       if n != slots["o"].noun])
    item = f"{rng.choice(('shiny', 'tiny', 'old', 'little', 'glowing', 'smooth', 'sparkly'))} " \
           f"{rng.choice(('golden', 'silver', 'blue', 'purple', 'green', 'white', 'rosy'))} {noun}"
    return dict(magic=item, magic_a=lx.with_article(item), magic_noun=item.split()[-1])


RULES = (
    dict(rule="never to play ball inside the house",
         tempt="It was raining outside, and {h.name} was {tired} of waiting. {h.name} bounced a {color} ball in the {room}, just a little.",
         accident="The ball [flew|bounced|shot] up and hit {p.poss} [favorite|best|old] vase on the {furniture}. Crash! The vase broke into {n} pieces.",
         fix="{h.name} and {p.name} picked up the pieces of the vase and glued them back together, one by one."),
    dict(rule="not to eat the cookies before dinner",
         tempt="The cookies in the {color} jar smelled [so good|of {smell}|warm and sweet]. {h.name} took one, and then another, and then [another|{n} more].",
         accident="[Soon|Before long] the {color} jar was empty, and at dinner {h.poss} tummy hurt too much to eat the {food.pl}.",
         fix="The next {daypart}, {h.name} and {p.name} baked new cookies together and shared them with {f.name}."),
    dict(rule="never to go near the water alone",
         tempt="{h.name} saw a {crit1} by the water and wanted to catch it. {h.name} went a little closer, and then a little closer.",
         accident="{h.poss} foot slipped on the wet grass, and {h.name} fell into the muddy water. Splash!",
         fix="{p.name} washed the mud off {h.name} and gave {h.him} a warm bath with {color} bubbles."),
    dict(rule="not to touch the paint in the shed",
         tempt="{h.name} wanted to paint a picture of {song}. {h.name} opened a big can of {color} paint.",
         accident="The can tipped over, and the paint spilled all over the floor and onto {o.the}.",
         fix="{h.name} and {p.name} cleaned the floor, and they washed {o.the} until it was as good as new."),
    dict(rule="not to pick the flowers by the front door",
         tempt="The {flower_pl} were so pretty. {h.name} picked one, then two, then a whole bunch.",
         accident="Soon there were no flowers left by the door, only green stems.",
         fix="{h.name} and {p.name} planted new {flower_one} seeds, and {h.name} watered them every {daypart}."),
    dict(rule="to stay close in the busy crowd",
         tempt="{h.name} saw a stall full of {color} balloons and wandered over to look, then a little farther.",
         accident="When {h.name} {looked} up, {p.name} was nowhere to be seen. All the faces were strange faces.",
         fix="A {adj_kind} [baker|shopkeeper|lady with a dog] helped {h.name} stand on a box and call out, and {p.name} came running."),
    dict(rule="not to feed the {crits1} any {food.pl}",
         tempt="A {crit1} {looked} at {h.name} with big hungry eyes. {h.name} gave it one tiny piece, and then another.",
         accident="Soon the {crit1} had a tummy ache, and it sat very still by the {lm1}.",
         fix="{p.name} and {h.name} gave the {crit1} some water and let it rest until it felt better."),
)

PROMISE = Plot("promise", (
    ('{p_rel_cap} told {h.name} {rule}. "Do you promise me, {h.name}?" {p.name} asked, and {h.name} {said}, "I promise."',
     '"{h.name}, please remember {rule}," {p.name} {said} {adv}. {h.name} nodded and {said}, "I promise, {p.name}."',
     '{p.name} had one rule for {h.name}: {rule}. {h.name} [had promised|promised] to [remember|keep] it.'),
    ("But one {daypart}, {p.name} was busy [cooking dinner|on the phone|with the washing].",
     "Later that {daypart}, {p.name} went outside to [work in the yard|hang up the washing|talk to a neighbor].",
     "One {wday} {day}, {p.name} [was very busy|had a lot to do|fell asleep on the {furniture}]."),
    PARAGRAPH,
    ("{tempt}",),
    ("{accident}",),
    PARAGRAPH,
    Opt(("{h.name} felt {scared}. {h.name} did not want anyone to know and thought about hiding under the {furniture}.",
         "{h.name} did not know what to do. Maybe nobody would find out about the [mess|accident] in the {room}?")),
    Opt(("{h_scared}",)),
    ("But {h.name} remembered the promise. {h.name} went to {p.name} and told {p.him} the truth.",
     "Then {h.name} took a {adj_big} breath, {held} {o.the} and went to find {p_rel}.",
     "{h.name} [tiptoed|walked] to {p.name} with {o.the} and [told|explained] everything."),
    Opt(('"I am sorry, {p.name}," {h.name} {whispered}, {looked_ing} at the floor. "I did not listen to you."',
         '"I broke my promise, {p.name}," {h.name} {said} in a {adj_voice} voice. "I am very sorry."')),
    PARAGRAPH,
    ('{p.name} was quiet for a moment. Then {p.name} hugged {h.name}. "Thank you for telling me the truth, {h.name}," {p.name} {said}.',
     '{p.name} {looked} at {h.name} for a long time. "I am not happy about what you did, {h.name}," {p.name} {said}, "but I am proud that you told me."',
     '{p.name} knelt down and gave {h.name} a {adj_hug} hug. "Telling the truth was {adj_kind} and brave, {h.name}," {p.name} {said}.'),
    ("{fix}",),
    INTERLUDE,
    ("{h.name} learned that rules keep us safe, and that telling the truth is always the right thing to do.",
     "From that day on, {h.name} always kept {h.his} promises, big and small.", "{night_end}"),
), _pick(RULES), companion="p", subscenes="home", help="fix")

NEW_FRIEND = Plot("new friend", (
    ("{h.name} and {p_rel} had just moved to a new town. {h.name} did not know anyone there.",
     "It was {h.poss} first day at a new school. {h.name} felt {shy} and a little {scared}.",
     "{h.name} had [just come|moved] to a new [street|town|village] in {month}, and {h.name} missed {h.his} old friends."),
    ("{h.name} {held} {o.the} and stood alone {place.at}, next to the {lm2}.",
     "{h.name} took {o.the} and went {place.to}, but {h.name} did not know what to do there.",
     "{p.name} took {h.name} {place.to}, and {h.name} sat {near} the {lm2} with {o.the}."),
    Opt(("{arrive}", "{look_around}")),
    Opt(("Everyone was playing in groups by the {lm3}. Nobody asked {h.name} to play.",
         "The other children {laughed} and played {game}, but nobody {looked} at {h.name}.")),
    PARAGRAPH,
    ("Then {h.name} saw {f.a_desc} sitting {near} the {lm1} all alone. The {f.desc} looked lonely too.",
     "By the {lm1} sat {f.a_desc}, {looked_ing} at the {crits1}, all by {f.himself}."),
    ('{h.name} {walked} over {adv}. "Hello, my name is {h.name}," {h.he} {said}. "What is your name?"',
     '{h.name} was {shy}, but {h.he} {walked} over. "Hi, I am {h.name}, and this is my {o.noun}," {h.name} {said}. "Who are you?"',
     '{h.name} {walked} to the {lm1} with {o.the} and {said} {adv}, "Hello! Do you like {crits1} too?"'),
    ('"I am {f.name}," said the {f.kind}. "I like your {o.color} {o.noun}, {h.name}."',
     '"My name is {f.name}," the {f.kind} {said} with a {adj_smile} smile. "Is that {o.noun} yours?"'),
    PARAGRAPH,
    ('{h.name} asked, "Do you want to play with my {o.noun}, {f.name}?" {f.name} nodded, and {f.his} face lit up.',
     '"Let\'s play with {o.the} together, {f.name}," {h.name} {said}, and {f.name} jumped up {adv_glad}.'),
    Opt(("{h.name} and {f.name} took turns with {o.the}, and then they played {game} together. They {laughed} and {ran} until they were out of breath.",
         "{h.name} and {f.name} played with {o.the} by the {lm2}, and {f.name} showed {h.name} all the best places {place.at}.")),
    INTERLUDE,
    ('When it was time to go home, {f.name} asked, "Will you play with me again tomorrow, {h.name}?" {h.name} {shouted}, "Yes, I will!"',
     'As the sun went down behind the {lm3}, {h.name} and {f.name} promised to meet again {place.at} on {day}.',
     '"See you tomorrow by the {lm1}, {f.name}!" {h.name} {shouted}, waving {o.the}.'),
    PARAGRAPH,
    ("That night, {h.name} told {p_rel} about {f.name}, the new friend from the {place.name}. {h.name} was not {shy} anymore.",
     "{h.name} and {f.name} played together every day after that, and {o.the} went with them everywhere."),
    ("{h.name} learned that one {adj_kind} word can turn a stranger into a friend.",
     "{h.name} learned that someone else may feel just as {shy} as you, and that saying hello can change everything.",
     "{night_end}"),
), help="friend")

SKILLS = (
    dict(skill="ride a bike", where="outdoor", try1="{h.name} pushed the pedals, but the [{color} bike|bike] [wobbled|tipped|swerved] and {h.name} fell onto the grass by the {lm2}.",
         try2="{h.name} tried again, and this time {h.name} went {n} whole meters before the bike tipped over.",
         tip="Look ahead, not down at your feet, and keep pedaling", win="{h.name} looked ahead and pedaled hard. The bike rolled straight past the {lm2}!"),
    dict(skill="whistle", where=None, try1="{h.name} puckered {h.his} lips and blew, but only [air|a puff of air|a little hiss] came out.",
         try2="{h.name} tried again and again. Once, a tiny squeak came out, and then nothing.",
         tip="Wet your lips and blow very softly", win="{h.name} wet {h.his} lips and blew softly. A clear, bright whistle came out, and a {crit1} whistled back!"),
    dict(skill="swim", where=("swimming pool", "lake", "beach", "river", "pond", "island", "seaside town"),
         try1="{h.name} kicked {h.his} legs, but {h.name} sank and got water up {h.his} nose.",
         try2="{h.name} tried floating on {h.his} back, but {h.name} was too stiff and kept sinking.",
         tip="Stretch out like a starfish and breathe slowly", win="{h.name} stretched out like a starfish and kicked. {h.name} was swimming!"),
    dict(skill="jump rope", where=None, try1="{h.name} swung the {color} rope up high, but it caught on {h.his} feet.",
         try2="{h.name} jumped too early, then too late, and the rope tangled around {h.his} legs.",
         tip="Jump when the rope hits the ground, not before", win="{h.name} waited for the rope to hit the ground, and jumped. One, two, three, {n_big} jumps!"),
    dict(skill="tie shoelaces", where=None, try1="{h.name} made a loop with the {color} lace, but it slipped out of {h.his} fingers.",
         try2="{h.name} made two loops, but they fell apart as soon as {h.name} pulled.",
         tip="Make bunny ears, cross them over and tuck one under", win="{h.name} made bunny ears, crossed them and tucked one under. A perfect bow!"),
    dict(skill="read a whole book", where=None, try1="{h.name} opened a big book about {song}, but the words were long and hard.",
         try2="{h.name} tried a smaller book about {a_animal_any}, but {h.name} got stuck on the third page.",
         tip="Sound out each word slowly, one letter at a time", win="{h.name} sounded out each word, slowly and carefully. By bedtime, {h.name} had read the whole book!"),
    dict(skill="skate on the ice", where=("ice rink", "snowy field", "pond", "lake"),
         try1="{h.name} stepped onto the ice, and {h.his} feet slid out from under {h.him}. Bump!",
         try2="{h.name} held on to the {lm2} and shuffled, but every time {h.name} let go, down {h.he} went.",
         tip="Bend your knees and push with one foot, then the other", win="{h.name} bent {h.his} knees and pushed, one foot and then the other. {h.name} glided across the ice!"),
    dict(skill="juggle three balls", where=None, try1="{h.name} threw all three {color} balls up at once, and they bounced all over the place.",
         try2="{h.name} tried two balls first, but one always rolled under the {lm2}.",
         tip="Throw one ball, then the next, in a little rainbow shape", win="{h.name} threw the balls in a little rainbow shape. Up, up, up, and around they went!"),
    dict(skill="play the {instrument}", where=None, try1="{h.name} played a few notes, but they sounded like a {noisy_animal}.",
         try2="{h.name} practiced a simple song about {song}, but {h.his} fingers kept getting mixed up.",
         tip="Play it slowly first, and then a little faster each day", win="{h.name} played slowly, then a little faster. At last the song about {song} sounded just right!"),
    dict(skill="do a cartwheel", where=None, try1="{h.name} put {h.his} hands down and kicked, but {h.name} landed on {h.his} bottom.",
         try2="{h.name} kicked a little higher, but {h.his} legs bent, and {h.name} tumbled over.",
         tip="Keep your arms straight and kick your legs up high", win="{h.name} kept {h.his} arms straight and kicked high. Over {h.he} went, and landed on {h.his} feet!"),
    dict(skill="fly a kite", where="outdoor", try1="{h.name} ran with the {color} kite, but it dragged along the ground behind {h.him}.",
         try2="{h.name} threw the kite into the air, but it spun around and crashed by the {lm2}.",
         tip="Stand with your back to the wind and let the string out slowly", win="{h.name} stood with {h.his} back to the wind. The kite rose up over the {lm2}, higher and higher!"),
    dict(skill="skip stones", where=("lake", "river", "pond", "beach", "harbor", "island"),
         try1="{h.name} threw a stone at the water, but it went plop and sank at once.",
         try2="{h.name} threw another one harder, but it splashed [loudly|noisily] and sank again.",
         tip="Find a flat stone and throw it low and sideways", win="{h.name} found a flat stone and threw it low. Skip, skip, skip, {n} skips!"),
)

LEARN = Plot("learn", (
    ("{h.name} really wanted to learn to {skill}. {f.name} could already do it, and it looked like so much fun.",
     "More than anything, {h.name} wanted to {skill}. Every {day}, {h.name} watched the big kids do it {place.at}.",
     "{place.at_cap}, {f.name} showed {h.name} how to {skill}, and {h.name} wanted to try [too|right away]."),
    ("{try1}",),
    ('{h.name} {sobbed}, "I will never learn to {skill}!" and sat down by the {lm1}.',
     '{h.name} felt {sad}. "Maybe I am just too little to {skill}," {h.name} {whispered}.',
     '{h.name} [kicked|threw] a {thing_small} and {sighed}, "Learning to {skill} is too hard for me."'),
    Opt(("{h_sad}",)),
    PARAGRAPH,
    ("{try2}",),
    INTERLUDE,
    ('{f.name} came and sat next to {h.name} by the {lm1}. "{tip}, {h.name}," {f.name} {said}. "That is how I learned."',
     '{p_rel_cap} knelt down beside {h.name}. "{tip}," {p.name} {said} {adv}. "Everybody falls at first, {h.name}."',
     '"{h.name}, try this," {f.name} {said} {adv_soft}. "{tip}."'),
    PARAGRAPH,
    Opt(("{h.name} took a deep breath and tried one more time {near} the {lm2}.",
         "The next {daypart}, {h.name} tried again {place.at}.")),
    ("{win}",),
    ('{h.name} {shouted}, "I did it, {f.name}, I really did it!" {f.name} {cheered}, and {p.name} {cheered} too.',
     '{h.name} {shouted}, "Look at me, {p.name}!" {h.name} felt {simile_happy}, and everyone {place.at} {cheered}.',
     "{f.name} {cheered} and {p.name} {cheered}, and {h.name} did it again, [and again|and again and again|just to be sure]."),
    PARAGRAPH,
    ("{h.name} learned that if you keep trying, you can do hard things.",
     "After that, {h.name} practiced every {day}. Soon {h.name} was helping other children learn to {skill} too.",
     "{p_praises}"),
), lambda rng, slots: _fitting(rng, SKILLS, slots["place"]), uses_object=False, help="brave")

GROW_PLANTS = (("sunflower", "sunflowers", "were"), ("tomato", "tomatoes", "were"), ("pumpkin", "pumpkins", "were"),
               ("bean", "beans", "were"), ("carrot", "carrots", "were"), ("strawberry", "strawberries", "were"),
               ("pea", "peas", "were"), ("tulip", "tulips", "were"), ("marigold", "marigolds", "were"),
               ("lettuce", "lettuce", "was"), ("corn", "corn", "was"), ("poppy", "poppies", "were"),
               ("radish", "radishes", "were"), ("zucchini", "zucchinis", "were"), ("cucumber", "cucumbers", "were"),
               ("melon", "melons", "were"), ("daffodil", "daffodils", "were"), ("cornflower", "cornflowers", "were"))
GROW_PROBLEMS = (
    ("But the next {daypart}, a hungry {pest} came and nibbled on the little {plant_kind} leaves.",
     "{h.name} and {f.name} built a little fence of sticks around the {plant_pl}, and the {pest} went away to find other food."),
    ("But then it did not rain for a whole week, and the {plant_kind} leaves began to droop.",
     "{h.name} carried water in a {color} bucket every morning and every evening, and soon the {plant_pl} stood up again."),
    ("But a strong wind came in the night and bent the little {plant_kind} stems.",
     "{p.name} showed {h.name} how to tie the stems to thin sticks with {color} string. Soon the {plant_pl} stood up straight."),
    ("But weeds grew up all around the little {plant_pl} and took their sun.",
     "{h.name} pulled out the weeds by the {lm1}, one by one, until the {plant_pl} had room to grow."),
    ("But a {pest} kept digging in the soft soil by the {lm1}.",
     "{h.name} and {f.name} put {things_small} all around the {plant_pl}, and the {pest} went to dig somewhere else."),
)


def _grow_setup(rng: random.Random, slots: dict) -> dict:
    one, many, were = rng.choice(GROW_PLANTS)
    problem, fix = rng.choice(GROW_PROBLEMS)
    return dict(plant_kind=one, plant_pl=many, plant_were=were, growth_problem=problem, growth_fix=fix,
                pest=rng.choice(("rabbit", "snail", "caterpillar", "slug", "goat", "mouse", "deer", "beetle")),
                shed=rng.choice(("tool shed", "drawer by the sink", "old toy box", "garage", "cupboard", "old trunk")),
                neighbor=rng.choice(("neighbors", "old lady next door", "mail carrier", "baker down the street",
                                     "teacher", "bus driver")))


GROW = Plot("grow", (
    ("One spring {daypart}, {p_rel} gave {h.name} a little packet of {plant_kind} seeds.",
     "{h.name} found a packet of {plant_kind} seeds in the {shed}. {h.name} wanted to grow {h.his} very own {plant_pl}.",
     "[At school|At the market|In a shop window], {h.name} saw a packet of {plant_kind} seeds with a {color} picture on it, and {p.name} bought it."),
    ("{h.name} dug a hole in the soft soil {near} the {lm1}, dropped in the seeds and covered them up.",
     "Together with {f.name}, {h.name} planted the {plant_kind} seeds in a sunny spot next to the {lm1}.",
     "{h.name} and {f.name} [pushed|poked] the seeds into the ground by the {lm1}, {n} seeds in a row."),
    Opt(("Every {daypart}, {h.name} watered the {plant_kind} seeds with a [little|tiny|big] {color} watering can and [waited|hoped|watched].",
         "{h.name} [gave|poured] the seeds water every {daypart}, and [sang|whistled] to them about {song}.")),
    PARAGRAPH,
    ('But nothing happened, and {h.name} asked {p_rel}, "Why won\'t my {plant_kind} seeds grow?"',
     'Days went by, and the soil by the {lm1} stayed brown. "Maybe the seeds are broken, {p.name}," {h.name} {sighed}.',
     "{h.name} [checked|looked at] the soil by the {lm1} every {daypart}, but nothing [came up|grew]."),
    Opt(('"Seeds need time, and sun, and water," {p.name} {said} {adv_soft}. "Be patient, {h.name}, and you will see."',
         '"{plant_pl_cap} are slow, {h.name}," {f.name} {said}. "[Let\'s|We can] wait together."')),
    INTERLUDE,
    PARAGRAPH,
    ("Then, one {wday} morning, {h.name} saw a tiny green shoot poking out of the ground by the {lm1}!",
     "[At last|Finally|One day], {n} little green [shoots|leaves] [came up|peeked out] next to the {lm1}, and {h.name} {shouted} for {p.name}.",
     "{h.name} {ran} to the {lm1} {time_phrase} and {found} a tiny {plant_kind} sprout!"),
    ("{growth_problem}",),
    ("{growth_fix}",),
    PARAGRAPH,
    ("By the end of summer, the {plant_pl} {plant_were} tall and strong. {h.name} picked the best ones and shared them with {f.name}.",
     "Soon there {plant_were} {plant_pl} everywhere. {h.name} gave some to {p_rel}, some to {f.name}, and some to the {neighbor}.",
     "In {month}, the {plant_pl} by the {lm1} {plant_were} ready, and {h.name} {shouted} for {f.name} to come and see."),
    ("{h.name} learned that good things take time, and a little care every day.",
     "Every time {h.name} {looked} at the {plant_pl} by the {lm1}, {h.name} felt {proud} and {happy}.", "{night_end}"),
), _grow_setup, uses_object=False, outdoor=True)

SURPRISE = Plot("surprise", (
    ("It was almost {p.poss} birthday. {h.name} wanted to give {p.name} the best surprise ever.",
     "{h.name} knew that {p_rel} had a birthday on {day}. {h.name} and {f.name} made a secret plan.",
     "{p.poss} birthday was in {n} days, and {h.name} [whispered|told] a secret plan to {f.name}."),
    ("First, {h.name} and {f.name} made a big card with {flowers} and {n} {color} hearts on it.",
     "{h.name} and {f.name} made a big card, and {h.name} drew a picture of {p_rel} holding {food.one}.",
     "{h.name} cut out {n} {color} paper stars, and {f.name} glued them on a card for {p.name}."),
    ("Then they [made|bought|wrapped up] some {food.pl} and hid them in the {furniture}.",
     "Then {h.name} and {f.name} filled {n} {color} balloons and hid them behind the {furniture}.",
     "{f.name} brought {food.pl}, and {h.name} hid them under the {furniture} in the {room}."),
    PARAGRAPH,
    ('Just then, {p.name} walked in and asked, "What are you two doing in the {room}?"',
     "Suddenly, {h.name} heard footsteps in the hall. {p.name} was coming!",
     "[Creak|Thump|Click]! The door opened, and {p.name} [peeked|looked|walked] into the {room}."),
    ('"Nothing, {p.name}," {h.name} {said} {adv_fast}, standing in front of the {furniture}. {f.name} tried not to giggle.',
     '{h.name} and {f.name} jumped in front of the {furniture}. "We are just playing {game}, {p.name}," {h.name} {said}.',
     '{f.name} hid the card behind {f.his} back, and {h.name} {said}, "[Nothing to see here|Just playing], {p.name}!"'),
    Opt(("{p.name} raised an eyebrow at {h.name}, but then {p.name} went back out of the {room}.",
         "{p.name} {smiled} {adv}, [said nothing|shook {p.his} head] and [went away|closed the door]." )),
    INTERLUDE,
    PARAGRAPH,
    ('On {p.poss} birthday, {h.name} and {f.name} {shouted}, "Surprise!" and held up the card.',
     'When {p.name} came down for breakfast, {h.name} and {f.name} {shouted}, "Happy birthday, {p.name}!"',
     'On {day} {daypart}, {h.name} [led|pulled] {p.name} into the {room}, where {f.name} was waiting with the {food.pl}.'),
    ("{p.name} gasped. {p.poss} eyes were shining. {p.name} hugged {h.name} and {f.name} and read the card twice.",
     "{p.name} {laughed} {adv_glad} and gave {h.name} and {f.name} a {adj_hug} hug.",
     "{p.poss} [face lit up|eyes filled with happy tears|mouth fell open]. It was the most {adj_nice} card {p.name} had ever seen."),
    Opt(('"This is the best birthday ever," {p.name} {said}, and they all shared the {food.pl}.',
         '{h.name}, {f.name} and {p.name} ate the {food.pl} and sang a song about {song}.')),
    PARAGRAPH,
    ("{h.name} learned that making someone else {happy} is the best feeling of all.",
     "That night, {h.name} fell asleep smiling. Giving a surprise to {p_rel} was even better than getting one.",
     "{night_end}"),
), uses_object=False, subscenes="home", help="fix")

HELPING = Plot("helping", (
    ("Next door to {h.name} lived an old {job} named {hp.name}. {hp.name} was very kind, but {hp.he} walked with a cane.",
     "Down the lane from {h.poss} house lived {hp.a_desc} named {hp.name}. {hp.name} always waved at {h.name} from the window.",
     "{h.poss} neighbor was {hp.name}, an old {job} with a {color} hat and a {adj_smile} smile."),
    ("One {wday} {daypart}, {h.name} saw {hp.name} trying to {chore}. {hp.name} looked very {tired}.",
     "One day, {h.name} noticed that {hp.name} could not {chore} alone.",
     "{time_phrase_cap}, {hp.name} was trying to {chore}, and {hp.poss} back was aching."),
    ('{h.name} asked, "Can I help you, {hp.name}?"',
     '{h.name} {shouted}, "Let me help you with that, {hp.name}!" and {ran} over to the gate.',
     '{h.name} [put down {o.the}|stopped {hob1_ing}] and {ran} over. "I can help, {hp.name}," {h.name} {said}.'),
    Opt(('{hp.name} {smiled}. "That would be very {adj_kind} of you, {h.name}," {hp.name} {said}.',
         '"Oh, thank you, {h.name}," {hp.name} {said} {adv_glad}. "My old [knees|hands|back] are not what they used to be."')),
    PARAGRAPH,
    ("{h.name} worked hard. {h.name} helped {hp.name} {chore}, and then {h.name} helped {hp.name} {chore2} too.",
     "It took all {daypart}, but {h.name} did not stop until the work was done. Then {h.name} helped {hp.name} {chore2}.",
     "{h.name} and {hp.name} worked side by side. First they managed to {chore}, and then they {chore2_past}."),
    INTERLUDE,
    ("When they were finished, {hp.name} brought out a plate of {food.pl}. {h.name} and {hp.name} sat together and ate {food.them} on the porch.",
     "Afterwards, {hp.name} made {h.name} a cup of cocoa and some {food.pl}.",
     "{hp.name} gave {h.name} some {food.pl} wrapped in a {color} napkin to say thank you."),
    Opt(('"When I was young, I was a {job}," {hp.name} {said}, and {hp.name} told {h.name} stories about {song}.',
         '{hp.name} asked, "Did you know I used to be a {job}, {h.name}?" and told {h.name} all about it.')),
    PARAGRAPH,
    ("From then on, {h.name} visited {hp.name} every {day}. {h.name} and {hp.name} became the best of friends.",
     "{h.name} learned that helping someone can make two people {happy} at once.", "{night_end}"),
), lambda rng, slots: _helping_setup(rng), uses_object=False, companion="hp", subscenes="home", help="fix")


def _helping_setup(rng: random.Random) -> dict:
    chore, chore2 = rng.sample(lx.HELP_ACTS, 2)
    return dict(chore=chore, chore2=chore2, chore2_past=lx.past(chore2), job=rng.choice(lx.JOBS))

TREASURE = Plot("treasure hunt", (
    ("One {wday} {daypart}, {p_rel} gave {h.name} and {f.name} a [treasure map|secret note|paper with a clue] drawn in {color} crayon.",
     "{h.name} found an old map {place.at}. An X was drawn [next to|beside|under] the {lm3}, and there was a clue: look by the {lm1}!",
     '"Let\'s have a treasure hunt {place.at}," {f.name} {said} {adv_glad}, and {h.name} brought {o.the} along for luck.'),
    Opt(("{arrive}", "{look_around}", "{weather_s}")),
    ("The first clue said: go to the {lm1}. {h.name} and {f.name} {ran} there, {simile_fast}.",
     "{h.name} read the first clue {adv}: look by the {lm1}. Off went {h.name} and {f.name}, {go_manner}.",
     '"The {lm1} first!" {h.name} {shouted}, and the two friends {ran} past the {lm4}.'),
    ("By the {lm1} they {found} a {color} envelope. Inside, a note said: now go to the {lm2}.",
     "Under the {lm1} was a little {color} box, and in it a second clue: the {lm2}!",
     "{f.name} {found} a {color} ribbon tied to the {lm1}, with a note that said: the {lm2} is next."),
    INTERLUDE,
    PARAGRAPH,
    ("At the {lm2}, they {searched} and {searched}, but they only {found} {junk}.",
     "{h.name} and {f.name} {searched} {search_prep} the {lm2}, but there was nothing there but {junk}.",
     "The {lm2} was [tricky|a puzzle]. {h.name} {searched} {search_prep} it and {f.name} {searched} {search_prep} it, but they {found} only {junk}."),
    Opt(("{h_sad}", '"Maybe there is no treasure at all," {f.name} {sighed}, and sat down by the {lm2}.')),
    ("{h_idea} The map showed the X by the {lm3}, not the {lm2}!",
     '{then} {a_critter} {hopped} toward the {lm3}, and {h.name} {shouted}, "Follow it, {f.name}!"',
     "{h.name} turned the map around. [Of course|Oh]! The X was next to the {lm3}."),
    PARAGRAPH,
    ("Under the {lm3} was a {color} tin box. Inside it were {n} {taste} {food.pl} and a note: for two brave explorers.",
     "{h.name} and {f.name} dug by the {lm3} and {found} a {adj_old} chest full of {food.pl} and {color} stickers.",
     "Behind the {lm3} sat a basket with {food.pl}, {n} shiny coins made of chocolate, and a note from {p.name}."),
    ('{h.name} {shouted}, "We found the treasure, {f.name}!" and the two friends {laughed} and {laughed}.',
     "{h_happy} {f.name} did a little dance by the {lm3}.",
     '"You were {adj_kind} to share the hunt with me, {h.name}," {f.name} {said}, and they shared the {food.pl}.'),
    PARAGRAPH,
    ("{h.name} learned that the best part of a treasure hunt is the friend who hunts with you.",
     "That night, {h.name} put the map next to {o.the} and dreamed of new treasure hunts {place.at}.",
     "{night_end}"),
), outdoor=True)

PETS = ("puppy", "kitten", "dog", "cat", "hamster", "bunny", "tortoise", "guinea pig", "parrot", "goat", "duckling")

MISSING_PET = Plot("missing pet", (
    ("{h.name} had a {adj_small} {pet} named {pet_name}, with [soft|fluffy|shiny|spotted] {color} fur and a {adj_sound} voice.",
     "{h.poss} best friend at home was {pet_name}, a {adj_kind} little {pet} who loved {food.pl}.",
     "{pet_name} was {h.poss} {pet}. Every {daypart}, {pet_name} [waited|sat] by the door for {h.name}."),
    ("One {wday} {daypart}, {h.name} took {pet_name} {place.to}. {pet_name} {hopped} around the {lm1} {adv_glad}.",
     "On {day}, {h.name} and {f.name} brought {pet_name} {place.to} to {act}.",
     "{h.name} and {pet_name} went {place.to} {time_phrase}, and {f.name} came too."),
    INTERLUDE,
    ("But when {h.name} {looked} around, {pet_name} was gone!",
     "Suddenly the {pet} [ran|dashed|scampered] off past the {lm1}, and {h.name} could not see {pet_name} anywhere.",
     "{h.name} turned around to pat {pet_name}, but the spot by the {lm1} was empty!"),
    ('"{pet_name}! Where are you, {pet_name}?" {h.name} {shouted}, {looked_ing} everywhere.',
     '{h.name} {sobbed}, "Oh no, {f.name}, my {pet} is lost!" {h.His} {sad_body}.',
     "{h_sad}"),
    PARAGRAPH,
    ("{f_comforts}",),
    ("{h.name} and {f.name} {searched} {search_prep} the {lm2}, calling {pet_name}, but they only {found} {junk}.",
     "First they {searched} by the {lm2}. There was no {pet} there, only {junk}.",
     "{f.name} {crept} {search_prep} the {lm2}, and {h.name} {looked} {search_prep} the {lm3}, but no {pet_name}."),
    ('Then {h.name} heard a {adj_sound} sound from the {lm4}. "{pet_sound}!" [It was|That was] {pet_name}!',
     "{then} {a_critter} {hopped} past, and {h.name} saw a {color} tail poking out from behind the {lm4}.",
     "{h_idea} {pet_name} loved {food.pl}! {h.name} held one up by the {lm4}, and out came {pet_name}."),
    ("{pet_name} was [sitting|hiding|curled up] behind the {lm4}, [covered in leaves|chewing a {thing_small}|fast asleep]. {h.name} scooped the {pet} up and hugged it tight.",
     "{h.name} {ran} to the {lm4}, and there was {pet_name}, wagging and wiggling, safe and sound."),
    PARAGRAPH,
    ("{h_thanks_f}", "{h_happy}"),
    ("From that day on, {h.name} always kept a {color} leash on {pet_name} {place.at}.",
     "That night, {pet_name} slept at the end of {h.poss} bed, and {h.name} slept with one hand on the {pet}.",
     "{night_end}"),
), lambda rng, slots: _pet_setup(rng), uses_object=False, outdoor=True, help="pet")


def _pet_setup(rng: random.Random) -> dict:
    pet = rng.choice(PETS)
    sound = lx.ANIMAL_SOUNDS.get(pet, (None, "Squeak"))[1]
    return dict(pet=pet, pet_sound=f"{sound}, {sound.lower()}")


PICNIC = Plot("picnic", (
    ('{p.name} {said}, "It is a {wday} day, {h.name}. Let\'s have a picnic {place.at}!"',
     "{h.name} and {p_rel} packed a basket with {food.pl}, {food2} and a {color} blanket for a picnic {place.at}.",
     "On {day}, {h.name}, {f.name} and {p.name} [carried|took] a big picnic basket {place.to}."),
    Opt(("{h.name} [carried|held] the basket, and {f.name} carried {o.the}.",
         "{h.name} packed {o.the} too, [of course|just in case|for good luck].")),
    ("They spread the {color} blanket by the {lm1} and put out the {food.pl} and the {food2}.",
     "[Next to|Under|Beside] the {lm1}, {p.name} spread out the blanket, and {h.name} [set out|unpacked] the {food.pl}."),
    Opt(("{arrive}", "{look_around}", "{weather_s}")),
    PARAGRAPH,
    ("But just then, a line of {critters_picnic} marched right across the blanket toward the {food.pl}!",
     "But a {adj_big} {crit1} came out from the {lm2} and [grabbed|sniffed|nibbled] the {food2}!",
     "Suddenly the wind [blew|whooshed], and the {color} napkins flew away toward the {lm2}!"),
    ('{h.name} {shouted}, "Hey, that is our picnic!" and {f.name} {laughed} so hard {f.he} fell over.',
     '"Oh no, {p.name}, our lunch!" {h.name} {sobbed}, {looked_ing} at the mess.'),
    PARAGRAPH,
    ("{h_idea} {h.name} put a few crumbs of {food2} [by the {lm3}|under the {lm3}|far away by the {lm3}] for the visitors.",
     '{p.name} {laughed} {adv_glad}. "There is enough for everyone, {h.name}," {p.name} {said}, and moved the blanket to the {lm3}.',
     "{f.name} and {h.name} {ran} after everything and brought it back, {simile_fast}."),
    ("So the little visitors had their own picnic, and {h.name}, {f.name} and {p.name} had theirs.",
     "[Soon|Before long] everyone was eating: {h.name} and {f.name} on the blanket, and the little visitors by the {lm3}."),
    ("The {food.pl} {food.were} {tastes}, and the {food2} was the best {h.name} had ever had.",
     "{h.name} ate {food.pl} until {h.his} tummy was round, {simile_happy}."),
    INTERLUDE,
    PARAGRAPH,
    ("{h.name} learned that sharing a picnic makes it even better.", "{night_end}",
     "On the way home, {h.name} [held|swung] the empty basket and sang a song about {song}."),
), lambda rng, slots: dict(food2=rng.choice(lx.FOODS_MASS),
                           critters_picnic=rng.choice(("ants", "ladybugs", "beetles", "snails"))),
   companion="f", outdoor=True)

SHOWS = (
    dict(show="show-and-tell day at school", place_word="in front of the class", judge="the teacher"),
    dict(show="the big pet and toy parade", place_word="in the parade", judge="the mayor"),
    dict(show="the town fair contest", place_word="on the stage", judge="the judge"),
    dict(show="the neighborhood talent show", place_word="on the little stage", judge="everyone"),
)

SHOW = Plot("show", (
    ("{h.name} was getting ready for {show}. {h.name} wanted to show {o.the}.",
     "It was almost time for {show}, and {h.name} {held} {o.the} and practiced what to say.",
     '"For {show}, I will bring {o.the}," {h.name} told {p_rel}.'),
    ('{p.name} helped {h.name} [brush|polish|clean] {o.the} until it [shone|looked like new]. "You will do {adj_fun}, {h.name}," {p.name} {said}.',
     "{h.name} [wrapped|packed] {o.the} in a {color} cloth and put it in {h.his} {bag}."),
    INTERLUDE,
    PARAGRAPH,
    ("When it was {h.poss} turn {place_word}, {h.poss} {scared_body}.",
     "{h.name} stood up {place_word}, and suddenly {h.name} felt very {shy}.",
     "Everyone {looked} at {h.name}. {h.poss} {scared_body}, and {h.poss} voice went {adj_voice}."),
    ('{h.name} {whispered}, "This is my {o.noun}," and then {h.name} could not think of anything else to say.',
     "{h.name} opened {h.his} mouth, but no words came out."),
    ("Then {h.name} saw {f.name} in the front row, [giving a thumbs up|smiling {adv_glad}|waving a {color} ribbon].",
     "{h.name} {looked} at {p_rel}, who nodded {adv_soft}."),
    ('{h.name} took a {adj_big} breath and {said}, "This is {o.the}. {giver} gave it to me, and I take it everywhere."',
     '{h.name} held up {o.the} and told everyone how it had come {occasion}, and how it once got lost by the {lm1}.'),
    PARAGRAPH,
    ("Everyone {cheered}, and {judge} gave {h.name} a {color} ribbon that said Best Story.",
     "When {h.name} finished, everyone {cheered} {adv_glad}, and {f.name} {cheered} the loudest.",
     "{judge_cap} {smiled} and said it was the most {adj_nice} {o.noun} in the whole town."),
    ("{h.name} learned that being {shy} is okay, and that a friendly face can help you be brave.",
     "That night, {h.name} put the ribbon next to {o.the}. {h.name} felt {proud} and {happy}.",
     "{p_praises}", "{night_end}"),
), lambda rng, slots: dict(rng.choice(SHOWS)), companion="f", subscenes="home", help="brave")

# ----------------------------------------------------------------------------------- sub-scenes
# Sub-scenes at the setting; {c} is whoever is with the hero in this plot (friend, elder, helper).
SUBSCENES_OUT = (
    "{then} {h.name} and {c.name} sat down {near} the {lm} and {snack_verb} {food.pl}. The {food.pl} {food.were} {tastes}.",
    '{h.name} and {c.name} [sat|rested] [on|under|by] the {lm} and {snack_verb} some {food.pl}. {c.name} {said}, "[Mmm|Yum|Oh], [I love|there is nothing like|nothing beats] {food.pl}, {h.name}."',
    "{then} {h.name} and {c.name} played {game} around the {lm}. {c.name} was {simile_fast}, but {h.name} was [good at hiding|even faster|very clever].",
    "{h.name} and {c.name} {ran} along the path, past the {lm}. {Scene_cap}.",
    '{c.name} pointed at the {lm} and {whispered}, "Look, {h.name}, {scene_now}."',
    "{weather_s} {h.name} and {c.name} {smiled} at each other.",
    '"Let\'s {act2}, {h.name}," {c.name} {said}. So they did, and they {laughed} until {h.name} was out of breath.',
    '[On the way|Just then|Nearby], {h.name} {found} that {scene}. "How {cute}," {c.name} {whispered}.',
    "{then} {h.name} {hummed} {a_song_adj} song about {song}, and {c.name} [clapped along|tapped {c.his} feet|joined in].",
    "{critter_sound} {h.name} and {c.name} {laughed}.",
    "{h.name} and {c.name} played a guessing game with animal sounds by the {lm}. {c.name} {said} {sound_game}.",
    "{h.name} and {c.name} both {laughed} when {a_critter} [hopped|waddled|scurried] past the {lm}.",
    '"We should {act2} [next|now|after lunch], {h.name}," {c.name} {said}, and they both {ran} to the {lm}.',
    "{h.name} and {c.name} lay [on their backs|in the grass] {near} the {lm}. [One|A fluffy|A big] cloud [looked like|was shaped like] {cloud_shape}, and [the next|another one|a small one] [looked like|was just like] {cloud_shape}.",
    "{c.name} {found} {find} [under|near|behind] the {lm} and [gave|handed|showed] it to {h.name}, who [put it in a pocket|{held} it {adv_soft}|{smiled} at it].",
    "{h.name} [pulled on|buttoned up|zipped up] {h.his} {color} {cloth}, because the wind by the {lm} was [cold|chilly|sharp]. {Scene_cap}.",
    "{then} {h.name} counted {n} {critter_pl} {near} the {lm}, and {c.name} counted [one more|two more|the same].",
    '{c.name} asked, "[What is your favorite|Which is your best|Tell me your favorite] {fav_kind}, {h.name}?" {h.name} [thought for a moment|scratched {h.his} head|{looked} at the {lm}] and {said}, "{fav_answer}."',
    '{h.name} asked, "{c.name}, [what do you want to be|what will you be] when you [grow up|are big]?" "{two_jobs}," {c.name} {said}.',
    '{c.name} {said}, "When I grow up, I will be {a_job} and [live|work] by the {lm}." {h.name} wanted to be {a_job} too.',
    "{h.name} and {c.name} pretended to be {a_role} and {a_role}, and the {lm} was their [castle|ship|secret base|island|mountain].",
    '{c.name} {said}, "I spy with my little eye something {color}." {h.name} guessed the {lm}, and then {scene}.',
    "A {color} {vehicle} [rumbled|rolled|zoomed|rattled] past {place.the}, and {h.name} and {c.name} waved at the driver.",
    "The air {place.at} smelled of {smell}, and {h.name} took a {adj_big} breath.",
    "{h.name} drew a {shape} in the dirt with a {thing_small}, and {c.name} drew {a_animal_any} next to it.",
    "{h.name} picked up {n} {things_small} and lined them up on the {lm}. {c.name} {found} one more.",
    "Somewhere {near} the {lm}, {scene}. The wind {whooshed} through the {tree} trees.",
    "{c.name} told {h.name} a riddle about {a_animal_any}, and {h.name} {laughed} so hard that {h.his} {own_part} hurt.",
    '"I wish I had {a_animal_any} as a pet," {h.name} {said}. "I would call it {pet_name}." {c.name} {laughed}.',
    "A {adj_big} {tree} tree stood by the {lm}, and {flower_pl} grew all around it. {h.name} picked a {flower_one} for {c.name}.",
    "{h.name} balanced on one foot next to the {lm}, [arms out wide|wobbling a little|very slowly], like {a_performer}.",
    "{c.name} taught {h.name} a [silly|funny|clapping] song about {a_animal_any} who loved {food.pl}, and they sang it {adv_glad}.",
    "{h.name} and {c.name} [raced|hopped|skipped] from the {lm} to the {lm}, and {c.name} won by a {body_small}.",
    "The {place.name} was full of [sounds|colors|smells]: {scene}, and the {lm} [glowed|shone|sparkled] in the {daylight}.",
    '"Let\'s {move_base} to the {lm}, {h.name}!" {c.name} {shouted}, and off they went, {move_ing} all the way.',
    "{h.name} came {move_ing} back from the {lm} with {find} in {h.his} hand.",
    '{c.name} pointed and {whispered}, "Look, {h.name}, the {crit1} {crit1_does} by the {lm}!"',
    "{h.name} {wondered} what the {crits1} ate for breakfast, and {c.name} guessed {food_any}.",
    "It was {month}, and the {lm} was [covered in|dotted with|full of] {month_thing}.",
    "{h.name} and {c.name} counted {n_big} {critter_pl} and {n_big} {things_small} {near} the {lm}.",
    '{c.name} asked, "Do you know how to {skill_base}, {h.name}?" "Not yet, but I want to learn," {h.name} {said}.',
    "{h.name} was {surprised} to see {a_critter} {crit_doing} on top of the {lm}.",
    '"I can {move_base} faster than {a_critter}," {c.name} {said}, and {h.name} {laughed} and {laughed}.',
)
SUBSCENES_HOME = (
    "{weather_s} {h.name} [watched|{looked}|peeked out] [from|through] the [window|glass door|little window][ with {h.his} nose on the glass|, thinking about {hob1_ing}|].",
    "{then} {h.name} {hummed} {a_song_adj} song about {song}[ to {h.himself}| very softly|].",
    "{h.name} {snack_verb} {food.pl} [at the table|on the sofa|by the window]. The {food.pl} {food.were} {tastes}.",
    "[Outside|Far away|Down the street], a {crit_home} [barked|called|squeaked|chirped], and a {color} {vehicle} [rumbled|rolled|zoomed] by {h.poss} window.",
    "{h.name} {looked} [out at|up at|through the window at] the [sky|clouds]. [One|A fluffy|A big] cloud [looked like|was shaped like] {cloud_shape}, and [the next|another one] [looked like|was just like] {cloud_shape}.",
    "{h.name} [put on|pulled on] {h.his} {color} {clothing} and [twirled|spun|danced] around the {room}.",
    '{c.name} asked, "What is your favorite {fav_kind}, {h.name}?" {h.name} thought for a moment and {said}, "{fav_answer}."',
    "{h.name} read a [book|story|comic] about {a_animal_any} who wanted to be {a_job}, and {h.name} {laughed} at the [pictures|ending|funny parts].",
    "{h.name} [drew|painted|colored] {a_animal_any} with {color} and {color} [crayons|paint|pencils] and [hung|stuck|pinned] it [on|by|above] the {furniture}.",
    "{h.name} helped {c.name} [set the table|fold the towels|sort the socks|water the plants|feed the goldfish] in the {room}.",
    "{h.name} [built|stacked|made] a tower of {n_big} [blocks|books|cups|cushions|spoons] on the {furniture}, and [it did not fall down|{c.name} {cheered}|it wobbled but stayed up].",
    "The {room} smelled of {smell}. {c.name} was [getting|bringing|setting out] {food.pl} for everyone.",
    "{h.name} did a puzzle with a picture of {a_animal_any} on it. The last piece was under the {furniture}!",
    "[A song|A tune|Music] about {song} [came on the radio|played on the radio|floated in from next door], and {h.name} [danced|hopped|twirled] around the {room} {adv_glad}.",
    '{h.name} asked, "{c.name}, [what did you want to be|what was your dream job] when you were [little|my age]?" "{a_job}," {c.name} {said} with a {adj_smile} smile.',
    "{h.name} played {instrument} music for {c.name}, who clapped {adv_glad} at the end.",
    "{h.name} found {a_household} under the {furniture} and gave it to {c.name}.",
    "{c.name} and {h.name} played the animal sounds game in the {room}. {c.name} {said} {sound_game}.",
    "{c.name} and {h.name} [mixed|stirred|whisked] [flour, eggs, milk and sugar|sugar, butter and flour|eggs, sugar and a pinch of salt] in a [big|deep|round] {color} bowl, and [soon|before long|after a while] the {room} smelled of {smell}.",
    "{c.name} [washed|dried|polished] the {household} while {h.name} [held|carried|fetched] {a_household}.",
    "{h.name} {made_craft} {a_craft} out of {material}, and {c.name} [said it was {adj_nice}|hung it on the {furniture}|{smiled} {adv_glad}].",
    '{h.name} {said}, "I want to make {a_craft} for {p.name}," and {c.name} [found|fetched] {material}.',
    "It was {month}, and [the window|the garden|the street] was [full of|bright with] {month_thing}. {h.name} {hummed} a song about {song}.",
    "{h.name} counted {n_big} {household_pl} on the {furniture}, and then {n_big} more in the {room}.",
    '"What are you {make_ing}, {h.name}?" {c.name} asked. "{a_craft_cap} for my {o_word}," {h.name} {said}.',
)
SONG_ADJ = lx._words("happy silly little sleepy cheerful funny quiet old bouncy")
CUTE = lx._words("cute sweet funny lovely pretty amazing wonderful")
CLOUD_SHAPES = lx._phrases("""
rabbit, dragon, sheep, ship, castle, teapot, elephant, whale, giant hat, big shoe, horse, fish,
bear, flower, sleeping cat, running dog, bird, turtle, crown, boot, kite, train, dinosaur, snail
""")
FINDS = lx._phrases("""
a smooth pebble, a striped feather, a tiny pine cone, an acorn with a little cap, a snail shell,
a four-leaf clover, a shiny beetle wing, a heart-shaped stone, a curly leaf, a robin's feather,
a round seed pod, a twig shaped like a letter, a speckled egg shell, a bright berry
""")
CRAFTS = lx._phrases("""
paper hat, paper chain, clay pot, bead bracelet, cardboard castle, sock puppet, paper lantern,
pine cone owl, button necklace, bottle-top robot, egg-box caterpillar, leaf picture, pasta necklace,
paper windmill, string telephone, shoebox house, kite tail, crown of leaves, tin-can drum, salt-dough star,
paper snowflake, finger painting, feather headband, spoon puppet, yarn pom pom
""")
MATERIALS = lx._phrases("""
old newspapers, string and buttons, a lump of clay, cardboard boxes, egg boxes, pine cones and glue,
colored paper, bottle tops, dry pasta, scraps of cloth, an old shoebox, tin cans, felt and ribbon,
popsicle sticks, paper plates, wool and beads
""")
MONTH_THINGS = {
    "winter": lx._phrases("snow, frost, icicles, snowflakes, white footprints"),
    "spring": lx._phrases("blossoms, new leaves, little buds, puddles, daffodils"),
    "summer": lx._phrases("sunshine, buzzing bees, tall grass, ripe berries, wildflowers"),
    "autumn": lx._phrases("red leaves, fallen apples, conkers, golden leaves, mushrooms"),
}
MONTH_SEASON = dict(December="winter", January="winter", February="winter", March="spring", April="spring",
                    May="spring", June="summer", July="summer", August="summer", September="autumn",
                    October="autumn", November="autumn")
WEATHER_MONTHS = dict(sunny=("May", "June", "July", "August"), windy=("March", "October", "November"),
                      rainy=("April", "September", "October", "November"), snowy=("December", "January", "February"),
                      cloudy=("March", "April", "September", "October", "November", "February"))
PRETEND_ROLES = lx._phrases("""
pirates, knights, astronauts, explorers, dragons, kings, queens, wizards, superheroes, detectives,
mermaids, dinosaurs, firefighters, racing drivers, zookeepers, sailors, robots, giants, fairies,
cowboys, circus clowns, deep sea divers, mountain climbers, train drivers
""")
PERFORMERS = lx._phrases("a tightrope walker, a ballet dancer, a circus acrobat, a flamingo, a cat on a fence, a gymnast")
SMELLS = lx._phrases("""
fresh bread, rain, pine needles, cut grass, roses, the sea, wood smoke, honey, warm cookies, oranges,
wet leaves, mint, cinnamon, lemons, hot soup, sun cream, damp earth, lavender, toast, popcorn
""")
SHAPES = lx._phrases("circle, square, triangle, star, heart, smiling face, house, rocket, flower, spiral, big letter A, tiny boat")
DAYLIGHT = lx._phrases("sunshine, morning light, golden light, soft light, afternoon sun, evening light")
WHOOSH = lx._words("whoosh rustle whistle sigh rush hum")
PET_NAMES = lx._words("Buttons Pickle Muffin Biscuit Noodle Pebbles Sprout Bubbles Peanut Waffles Nugget Jellybean Pumpkin Sunny")
FAVORITES = dict(
    color=("{color}",), food=("{food_any}",), animal=("{animal_any_pl}, because they are so {cute}",),
    game=("{game_any}",), season=("{season}, because of the {season_thing}",), flower=("{flower_any_pl}",),
    song=("the one about {song}",), tree=("the {tree} tree",),
    job=("being {a_job}",),
)
SEASON_THINGS = lx._phrases("snow, flowers, warm sun, falling leaves, long days, pumpkins, puddles, picnics")
SUBSCENES_SOLO = (
    "{weather_s} {h.name} {smiled} and {walked} on past the {lm}.",
    "{then} {h.name} {found} that {scene}.",
    "{h.name} stopped to watch. {Scene_cap}.",
    "{then} {h.name} {hummed} {a_song_adj} song about {song} and {walked} along {adv_glad}.",
    "{h.name} sat down {near} the {lm} and {snack_verb} {food.pl}. The {food.pl} {food.were} {tastes}.",
    "{critter_sound} {h.name} {laughed}.",
    "{h.name} [looked|gazed] up at the sky. [One|A fluffy|A big] cloud [looked like|was shaped like] {cloud_shape}.",
    "{h.name} {found} {find} [under|near|behind] the {lm} and put it in {h.his} pocket.",
    "The air {place.at} smelled of {smell}, and {h.name} took a {adj_big} breath.",
    "A {adj_big} {tree} tree stood by the {lm}, and {flower_pl} grew all around it.",
    "{h.name} counted {n_big} {critter_pl} {near} the {lm} and waved at every one of them.",
    "It was {month}, and the {lm} was [covered in|dotted with|full of] {month_thing}.",
)
SUBSCENES = dict(out=SUBSCENES_OUT, home=SUBSCENES_HOME, solo=SUBSCENES_SOLO)

PLOTS = (LOST, SHARING, FEAR, RESCUE, MAKING, TRIP, RACE, MAGIC, PROMISE, NEW_FRIEND, LEARN, GROW,
         SURPRISE, HELPING, TREASURE, MISSING_PET, PICNIC, SHOW)
