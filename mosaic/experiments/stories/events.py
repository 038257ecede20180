"""Sentence banks for story events that many plots share (feeling sad, comforting a friend,
saying thank you, setting off, arriving, praise, bedtime), for :mod:`.generator`.

Each bank is a tuple of templates in the syntax of :mod:`.story_plots` (``[a|b]`` alternatives,
then ``{slot}`` fields); a plot beat names a bank as a slot (``{h_sad}``) and the generator renders
one of the bank's templates there, with the story's slots. Banks may use other banks. The banks
are where most of the corpus's surface variety comes from: every sentence frame has several
interchangeable pieces, each filled from a word list, so two stories rarely share a sentence
while each story keeps its own characters, objects and places.
"""
from __future__ import annotations

from mosaic.experiments.stories import lexicon as lx

SAD_BODY = lx._phrases("""
lip trembled, eyes filled with tears, shoulders drooped, heart sank, chin wobbled, nose turned pink,
ears drooped, voice went very small, tummy felt heavy, eyes stung
""")
HAPPY_BODY = lx._phrases("""
face lit up, eyes sparkled, heart jumped, cheeks turned pink, heart felt light, feet danced,
eyes shone, whole face glowed
""")
SCARED_BODY = lx._phrases("""
knees shook, heart pounded, tummy did a flip, hands felt cold, legs wobbled, teeth chattered,
heart went thump thump thump
""")
GO_MANNER = lx._phrases("""
swinging their arms, singing a song about {song}, holding hands, talking about {song},
kicking a little stone, counting the {count_things} they passed, racing each other, skipping over
the cracks, playing a guessing game, humming a tune, jumping over every puddle, waving at the {critter_pl}
""")

LOOKS_CHILD = (
    "{h.name} [always|often|usually] wore {h.his} [favorite|old|new|lucky] {color} {clothing}.",
    "{h.He} had [curly|straight|wavy|messy|long|short] [brown|black|red|golden|dark|sandy] hair and [a big|a bright|a shy|a cheeky|a happy] smile.",
    "{h.name} had [freckles on {h.his} nose|rosy cheeks|a gap between {h.his} front teeth|big brown eyes|bright blue eyes|green eyes] and [a loud laugh|a quiet voice|quick feet|a kind heart].",
    "{h.name} was [small|tall|the smallest in {h.his} class|the tallest of {h.his} friends], and {h.he} [always|often] wore {h.his} [favorite|old|new] {color} {clothing}.",
)
LOOKS_ANIMAL = (
    "{h.name} had [bright|big|round|little|shiny] eyes and [a kind heart|a loud laugh|quick feet|a very curious nose].",
    "{h.name} was the [smallest|youngest|fastest|noisiest|sleepiest] {h.kind} in {h.his} [family|neighborhood|whole family].",
    "{h.name} was [small|little|tiny|quick] but [brave|clever|strong|kind], and everyone knew {h.him}.",
)

BANKS = dict(
    h_sad=(
        "{h.poss} {sad_body}, and the {lm} [suddenly|all at once] did not look {adj_nice} anymore.",
        "{h.name} [kicked|poked] a {thing_small} and {sighed}. Nothing felt {adj_fun} now.",
        "{h.name} felt {sad}, and {h.his} {sad_body}.",
        "{h.His} {sad_body}, and {h.he} [sat|flopped|sank] down [by|next to|near] the {lm}.",
        "A [big|fat|single|little] tear rolled down {h.poss} [cheek|nose|face].",
        "{h.name} was so {sad} that {h.he} [did not want to play anymore|could not say a word|just wanted to go home|hid {h.his} face in {h.his} hands].",
        "{h.name} [sat|stood] very still. {h.His} {sad_body}.",
    ),
    h_happy=(
        "{h.name} {cheered} and [spun|twirled|jumped] [around|in a circle] by the {lm}.",
        "[Hooray|Yippee|Yay]! {h.name} [hugged|squeezed] {o.the} and {laughed} {adv_glad}.",
        "{h.name} [jumped|danced|spun|hopped] [up and down|around|in a circle] with joy.",
        "{h.poss} {happy_body}, and {h.he} felt {simile_happy}.",
        "{h.name} {smiled} [from ear to ear|a big smile|so wide that {h.his} cheeks hurt].",
        "{h.name} felt {happy}[, {simile_happy}| all over| from {h.his} head to {h.his} toes].",
    ),
    h_scared=(
        "{h.poss} {scared_body}.",
        "{h.name} felt {scared}, and {h.his} {scared_body}.",
        "{h.name} [held|hugged|squeezed] {h.his} [knees|hands|ears] and felt very {scared}.",
    ),
    f_comforts=(
        '{f.name} [put an arm around|hugged|patted] {h.name}. "[Don\'t worry|Don\'t be {sad}|It will be okay|Cheer up], {h.name}," {f.he} {said}. "{help_line}."',
        '"{help_line}," {f.name} {said} {adv}, and {f.he} [squeezed|held] {h.poss} hand.',
        '{f.name} sat down next to {h.name} and {said}, "[Don\'t worry|It\'s okay|Chin up|Don\'t cry], {h.name}. {help_line}."',
    ),
    h_thanks_f=(
        '{h.name} [hugged|thanked] {f.name} and {said}, "Thank you, {f.name}! [You are the best friend ever|I could not have done it without you|You are so kind to me|You are a true friend]."',
        '"Thank you [so much|very much|a million times], {f.name}," {h.name} {said}[ with a big smile|, hugging {f.name} tight|].',
        '{h.name} gave {f.name} a [big|warm|tight|long] hug. "You are the [best|kindest|bravest] friend in the [whole world|whole {place.name}]," {h.he} {said}.',
    ),
    go_there=(
        "{then} {h.name} and {f.name} {ran} {place.to}, {go_manner}.",
        "{h.name} and {f.name} set off {place.to}[ together| side by side|], {go_manner}.",
        "{then} the two friends {ran} [all the way|along the path|down the lane] {place.to}.",
    ),
    arrive=(
        "When they got {place.to}, {scene}.",
        "{place.at_cap}, {scene}.",
        "[It was|The {place.name} was] [busy|quiet|lovely|full of life] that {daypart}. {Scene_cap}.",
    ),
    p_praises=(
        '"[I am so proud of you|You did a {good} job|That was very kind of you|You were so brave today], {h.name}," {p.name} {said}[ with a smile|, giving {h.name} a hug|].',
        '{p.name} [hugged|kissed|held] {h.name} and {said}, "[I am so proud of you|What a {good} thing you did|You make me so happy], {h.name}."',
    ),
    night_end=(
        "That night, {h.name} [fell asleep|snuggled into bed|closed {h.his} eyes] with a smile, dreaming of {dream}.",
        "When the [sun went down|stars came out|moon rose over the {lm1}], {h.name} was {tired} but {happy}. It had been a {good} day.",
        "{h.name} [hugged|kissed] {p_rel} good night and [went to bed|climbed into bed] feeling warm and {happy} inside.",
        "And every time {h.name} [walked past|saw|thought about] the {lm1} after that, {h.name} remembered this {good} {day}.",
        "[At bedtime|That evening|Later that night], {p.name} tucked {h.name} in, and {h.name} [whispered|said] that it had been the best {day} ever.",
        "{h.name} [yawned|stretched] a {adj_big} yawn. [Soon|Before long], {h.name} was fast asleep, with {dream} dancing in {h.his} dreams.",
        "The stars came out over the {lm2}, and {h.name} [counted|watched] them from the window until {h.his} eyes closed.",
        "{h.name} went home {adv_glad}, humming a song about {song}, and told {p_rel} all about the {lm2}.",
        "Outside, the {crits1} were quiet, and inside, {h.name} slept {simile_snug}.",
        "[It was|That was] a {good} {day}, and {h.name} [would never forget it|remembered it for a long, long time].",
        "When {p.name} [turned out the light|said good night], {h.name} was already dreaming of the {lm3} and {dream}.",
        "{h.name} [drew|painted] a picture of the {lm1} [before bed|after supper] and [hung|pinned] it [by|above] {h.his} bed.",
        "That evening, {h.name} and {p_rel} ate {food.pl} and talked about the {crits1} by the {lm2}.",
        "[In|Under] {h.poss} {color} blanket, {h.name} {whispered} good night to the moon, to the {crits1} and to {p_rel}.",
        "{p.name} read {h.name} a story about {dream}, but {h.name} fell asleep before the end, {simile_happy}.",
        "[Then|And then] {h.name} went home {adv_glad}, [skipping|humming|whistling] all the way past the {lm4}.",
    ),
    h_idea=(
        "Then {h.name} had [an idea|a clever idea|a good idea|a great idea|a wonderful idea].",
        "[Suddenly|Just then|All at once], {h.poss} eyes [lit up|went wide]. {h.He} had an idea!",
        "{h.name} [tapped|scratched] {h.his} [chin|head] and thought. Then {h.he} [smiled|grinned|nodded].",
    ),
    look_around=(
        "{h.name} looked around. {Scene_cap}.",
        "{then} {h.name} [noticed|saw|spotted] that {scene}.",
        "[Nearby|Not far away|Over by the {lm}], {scene}.",
    ),
)

# Lines of dialogue offered as comfort (the plot decides which fits; "{help_line}" in the banks).
HELP_LINES = {
    "search": ('We will find your {o.noun} [together|in no time|before dinner]', "We should look by the {lm}, one place at a time",
               "I will help you look [everywhere|in every corner|under every {lm}]",
               "[Two pairs of eyes are better than one|Let's look one place at a time]"),
    "pet": ("We will find {pet_name} [together|in no time|before dark]", "I will help you call {pet_name}",
            "{pet_name} cannot be far away"),
    "fix": ("We can [fix|mend] it [together|in no time]", "Let's try again, and I will help",
            "Everybody makes mistakes, [even grown-ups|even {p.name}]"),
    "brave": ("You can do it, I know you can", "I will be right [here|next to you] the whole time",
              "[Everyone|Everybody] feels {scared} sometimes"),
    "friend": ("I will be your friend", "You can play with me [and {o.the}|]", "Come and play {game} with us"),
}

# ----------------------------------------------------------------------------- list slots
# Themed word lists that templates use as slots ({adj_big}, {looked}, ...). Each story draws a
# small palette (``k`` entries) from each list and uses only those, so a story keeps its own
# voice ("huge" and "giant" here, "enormous" there) while the corpus uses the whole list.
# Verb lists are given as base forms and used in the past tense.
LIST_SLOTS = dict(
    adj_big=(lx._words("big huge giant enormous large tall great mighty"), 2),
    adj_small=(lx._words("little small tiny"), 2),
    adj_nice=(lx._words("lovely pretty beautiful fine nice wonderful splendid shiny bright colorful "
                        "fancy special marvelous"), 2),
    adj_old=(lx._words("old dusty rusty crooked worn creaky faded wobbly"), 2),
    adj_sound=(lx._words("loud soft tiny squeaky funny strange little sharp high low"), 2),
    adj_voice=(lx._words("small tiny shaky quiet soft wobbly thin"), 2),
    adj_smile=(lx._words("big wide bright warm happy sunny huge shy"), 2),
    adj_hug=(lx._phrases("big, warm, tight, long, gentle, bear, quick, squishy"), 2),
    adj_tear=(lx._words("big hot fat salty little"), 2),
    adj_kind=(lx._words("kind gentle friendly good caring thoughtful sweet helpful"), 2),
    adj_fun=(lx._words("fun exciting amazing great wonderful super brilliant"), 2),
    adv_fast=(lx._phrases("quickly, swiftly, briskly, in a hurry, at once, right away, as fast as they could"), 2),
    adv_soft=(lx._words("softly gently quietly tenderly lightly carefully"), 2),
    adv_glad=(lx._words("happily gladly cheerfully merrily joyfully gleefully brightly"), 2),
    adv_sad=(lx._words("sadly quietly glumly softly slowly"), 2),
    looked=(lx._words("look peek peer glance gaze stare squint"), 2),
    found=(lx._words("find spot notice discover spy"), 2),
    grabbed=(lx._phrases("grab, pick up, snatch up, scoop up, lift"), 2),
    held=(lx._words("hold hug clutch squeeze cuddle"), 2),
    walked=(lx._words("walk wander stroll amble trot tiptoe march"), 2),
    hurt_part=(lx._words("knee elbow hand ankle chin shin wrist toe thumb"), 1),
    face_part=(lx._words("cheeks face nose chin"), 1),
    own_part=(lx._words("hands knees nose ears toes fingers elbows shoulders cheeks chin"), 2),
    snack_verb=(lx._phrases("eat, share, munch on, nibble on, gobble up, taste, enjoy"), 2),
    thing_small=(lx._phrases("pebble, leaf, feather, pine cone, acorn, twig, snail shell, button, bottle cap, "
                             "flower petal, blade of grass, ladybug"), 2),
    cheered=(lx._words("cheer clap whoop laugh shout"), 2),
    move=(lx.MOTION_VERBS, 2),
    make=(lx._words("make build paint draw sew knit bake fold glue decorate"), 1),
    time_phrase=(lx._phrases("that {daypart}, after lunch, before dinner, all {daypart} long, later that day, "
                             "the next {daypart}, on {day}, right after breakfast"), 3),
)

VERB_SLOTS = {"looked", "found", "grabbed", "held", "walked", "cheered", "snack_verb", "move", "make"}

# Things found while searching for a lost object (never the object itself: none of these is in
# lexicon.OBJECTS, which a test checks).
JUNK = lx._phrases("""
a pine cone, an acorn, a soggy leaf, a bottle top, a snail shell, a broken twig, a candy wrapper,
a lost shoelace, a rusty nail, a round stone, a sleepy beetle, an old shoe, a piece of string,
a paper straw, a bird's egg shell, a curly root, a clump of moss, a puddle of mud, a spider web,
a crumpled ticket, a tiny mushroom, a squashed berry, a hairpin, a muddy stick
""")
SEARCH_PREPS = lx._phrases("under, behind, near, around, beside, next to")
# {lm_search}: the story's landmarks where the object is not, in turn; {junk}, {search_prep} per use.
SEARCH = (
    "{h.name} and {f.name} {searched} {search_prep} the {lm_search}, but they only found {junk}.",
    "{h.name} {searched} {search_prep} the {lm_search}. There was nothing there but {junk}.",
    "{f.name} {crept} {search_prep} the {lm_search} and found {junk}, but no {o.noun}.",
    "{h.name} and {f.name} {searched} {search_prep} the {lm_search} and {search_prep} the {lm1}, but {o.the} was not there.",
    '{f.name} asked, "Is your {o.noun} {search_prep} the {lm_search}, {h.name}?" They {searched} there, but found only {junk}.',
)
BANKS["search"] = SEARCH
# Banks a story uses with one wording only: a search told twice in the same words is a refrain.
REFRAINS = {"search"}
