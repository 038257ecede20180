"""Plot templates for :mod:`mosaic.experiments.stories.generator` (ten plots, in the style of TinyStories).

A plot is a list of *beats*; a beat is a tuple of alternative wordings, one drawn per story, and
:data:`PARAGRAPH` starts a new paragraph. Wordings use ``str.format`` slots: per-story slots
drawn once (``{h.name}`` the hero, ``{f.name}`` the friend, ``{p.name}`` the parent, ``{p_rel}``
"her mom", ``{obj}`` "red kite", ``{place.at}``, ``{spot1..3}``, ...), plot slots drawn by the
plot's ``setup`` (the animal to rescue, the fear, the wish, ...), and *choice* slots (tuples in
:data:`SHARED_CHOICES`) that draw a word at each use. The cast fixes every pronoun, so a story
stays consistent: "Lily ... she ... her kite ... Lily always kept her red kite close."
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

PARAGRAPH = ("\n",)  # beat marker (identity-compared)

SHARED_CHOICES = dict(
    sad=("sad", "upset", "unhappy", "very sad"),
    happy=("happy", "glad", "very happy", "full of joy"),
    scared=("scared", "afraid", "frightened"),
    shy=("shy", "nervous"),
    daypart=("morning", "afternoon", "evening"),
    game=("tag", "hide and seek", "a running game", "pretend"),
)

INTRO = (
    "{opening}, there was {h.a_desc} named {h.name}. {h.He} lived {home} with {p_rel}.",
    "{opening}, {h.a_desc} named {h.name} lived {home}. {h.He} loved {hobby}.",
    "{h.name} was {h.a_desc} who lived {home}. More than anything, {h.he} liked {hobby}.",
    "{opening}, in a place not far from here, lived {h.a_desc} called {h.name}.",
)


@dataclass(frozen=True)
class Plot:
    name: str
    beats: tuple
    setup: Callable[[random.Random, dict], dict] = lambda rng, slots: {}


def _pick(options: tuple[dict, ...], avoid_kind: str | None = None):
    """A setup that draws one option dict (skipping one whose 'animal' is the hero's kind)."""

    def setup(rng: random.Random, slots: dict) -> dict:
        kind = slots["h"].kind
        usable = [o for o in options if o.get("animal") != kind] if avoid_kind else list(options)
        return dict(rng.choice(usable))

    return setup


LOST_TOY = Plot("lost toy", (
    ("{h.name} had {obj_a}. It was {h.his} favorite toy, and {h.he} took it everywhere.",
     "{p_rel} gave {h.name} {obj_a} for {h.his} birthday. {h.name} loved it very much.",
     "The best thing {h.name} owned was {obj_a}. {h.He} played with it every day."),
    PARAGRAPH,
    ("One day, {h.name} and {h.his} friend {f.name} went {place.to} to play. {h.name} brought the {obj} with {h.him}.",
     "One {daypart}, {h.name} took the {obj} {place.to}. {h.His} friend {f.name} came too."),
    ("They played {game} and laughed a lot. {h.name} put the {obj} down {spot1} and ran off to see {sight}.",
     "{h.name} put the {obj} {spot1} for a moment. Then {h.he} and {f.name} ran to look at {sight}."),
    ("When it was time to go home, {h.name} went back to get the {obj}. But it was gone!",
     "After a while, {h.name} wanted to play with the {obj} again. {h.He} looked {spot1}, but it was not there."),
    ('{h.name} felt {sad}. "Where is my {obj}?" {h.he} cried.',
     '"Oh no!" said {h.name}. "I lost my {obj}!" Tears came to {h.his} eyes.',
     '{h.name} was so {sad} that {h.he} wanted to cry. "My {toy} is lost," {h.he} said.'),
    PARAGRAPH,
    ('{f.name} gave {h.him} a hug. "Don\'t worry, {h.name}. I will help you find it," {f.he} said.',
     '"We can look for it together," said {f.name}. "Two friends can find anything!"'),
    ("They looked {spot2}. They looked in every corner {place.at}. The {obj} was nowhere to be found.",
     "First they looked {spot2}. Then they asked everyone they met. Still, there was no {obj}."),
    ('Then a little bird flew down. "I saw something {color} {spot3}," it said.',
     'Just then, {f.name} shouted, "Look, {h.name}! There is something {color} {spot3}!"',
     "Then {h.name} had an idea. {h.He} remembered that {h.he} had walked {spot3} earlier. They ran to look."),
    ('There it was! {h.name} picked up the {obj} and held it tight. "Thank you, {f.name}!" {h.he} said.',
     'It was the {obj}! {h.name} jumped with joy and hugged {f.name}. "You are the best friend in the world," {h.he} said.'),
    PARAGRAPH,
    ("From that day on, {h.name} always kept {h.his} {obj} close. {h.He} learned to be careful with the things {h.he} loved.",
     "That night, {h.name} put the {obj} right next to {h.his} bed. {h.He} was {happy} to have it back, and {happy} to have a friend like {f.name}.",
     "{h.name} never forgot that day. Whenever {h.he} played with the {obj} after that, {h.he} kept it where {h.he} could see it."),
))

SHARING = Plot("sharing", (
    ("{h.name} had {obj_a} that {h.he} loved very much. {h.He} did not like to share it with anyone.",
     "{h.name} got {obj_a} as a present. {h.He} thought it was the most wonderful {toy} in the world."),
    PARAGRAPH,
    ("One day, {h.his} friend {f.name} came to play {place.at}. {f.name} saw the {obj}, and {f.his} eyes grew wide.",
     "One {daypart}, {h.name} was playing with the {obj} {place.at} when {f.name} came by."),
    ('"Can I play with your {toy}, please?" asked {f.name}.',
     '"What a nice {toy}!" said {f.name}. "May I try it?"'),
    ('"No! It is mine!" said {h.name}, and {h.he} held the {obj} behind {h.his} back.',
     '{h.name} shook {h.his} head. "No, you might break it," {h.he} said.'),
    ("{f.name} looked down at {f.his} feet. {f.He} felt {sad} and went to sit {spot1} all alone.",
     "{f.name} did not say anything. {f.He} turned around and sat {spot1} by {f.himself}."),
    PARAGRAPH,
    ("{h.name} played with the {obj}, but it was not fun anymore. {h.He} kept looking at {f.name}.",
     "Soon {h.name} felt bad. Playing alone was not much fun, even with the {obj}."),
    ('{p_rel} saw what happened. "How would you feel if {f.name} did not share with you?" {p.he} asked softly.',
     "{h.name} thought about how {f.name} felt. {h.He} remembered a time when nobody shared with {h.him}, and {h.he} had felt {sad} too."),
    ('{h.name} walked over to {f.name}. "I am sorry," {h.he} said. "Do you want to play with the {obj} together?"',
     '{h.name} took a deep breath and went to {f.name}. "Here, you can have a turn with my {toy}," {h.he} said.'),
    ('{f.name} smiled a big smile. "Thank you, {h.name}!" {f.he} said.',
     '{f.name} jumped up. "Really? Thank you!" {f.he} said.'),
    PARAGRAPH,
    ("The two friends played with the {obj} all {daypart}. They took turns and laughed together.",
     "They played together until the sun went down. It was much more fun with two."),
    ("{h.name} learned that sharing makes everyone {happy}. From then on, {h.he} always shared {h.his} {obj} with {f.name}.",
     'That night, {h.name} told {p_rel}, "Sharing my {toy} was the best part of the day." {p.name} smiled and gave {h.him} a hug.'),
))

FEARS = (
    dict(fear="the dark",
         show="Every night, when {p.name} turned off the light, {h.name} hid under {h.his} blanket. The shadows on the wall looked like monsters.",
         talk='"There is nothing in the dark that is not there in the day," said {p.name}. "Let us look together."',
         attempt="{p.name} turned off the light and held {h.name}'s hand. {h.name} looked around the room. The monster on the wall was only the shadow of {h.his} {obj}!",
         after="{h.name} laughed. That night, {h.he} slept with the {obj} next to {h.him} and had sweet dreams."),
    dict(fear="the tall slide at the playground",
         show="All the other children went down the tall slide and laughed. But {h.name} stayed at the bottom. The slide looked so high!",
         talk='"You can go down with me the first time," said {f.name}. "I will be right next to you."',
         attempt="{h.name} climbed the steps one by one. At the top, {h.he} closed {h.his} eyes, and then, whoosh, {h.he} went down!",
         after='"That was fun!" {h.name} shouted. {h.He} ran back to the steps to do it again and again.'),
    dict(fear="the water in the lake",
         show="When {h.his} friends swam in the lake, {h.name} sat on the shore with {h.his} {obj}. The water looked so deep and cold.",
         talk='"We can start where the water is not deep," said {p.name}. "I will hold you the whole time."',
         attempt="{h.name} put one foot in the water, then the other. {p.name} held {h.him}, and soon {h.he} was kicking and splashing.",
         after='"Look at me, {f.name}! I am swimming!" {h.name} called. {h.His} friend cheered from the water.'),
    dict(fear="thunder",
         show="One night there was a big storm. The thunder went boom, and {h.name} ran to {p_rel} with {h.his} {obj}.",
         talk='"Thunder is just the sound the sky makes after the lightning," said {p.name}. "It is loud, but it cannot hurt you inside our house."',
         attempt="They sat by the window together and counted after every flash of light. One, two, three, boom! Each time, the thunder was a little farther away.",
         after="Soon the storm was over. {h.name} fell asleep holding {h.his} {obj}, and {h.he} was not afraid of thunder anymore."),
    dict(fear="the big dog next door",
         show="Every time {h.name} walked past the house next door, the big dog barked. {h.name} walked very fast and did not look.",
         talk='"That dog is friendly," said {f.name}. "It barks because it wants someone to play with."',
         attempt="The next day, {h.name} stopped at the fence. The dog came over and wagged its tail. {h.name} held out {h.his} hand, and the dog licked it gently.",
         after="{h.name} giggled. Now {h.he} and the big dog were friends, and every day {h.he} brought the {obj} to show it."),
    dict(fear="climbing the old apple tree",
         show="{f.name} could climb all the way up the old apple tree. {h.name} always stayed on the ground, holding {h.his} {obj}.",
         talk='"Put your feet where I put mine," said {f.name}. "Go slowly, and do not look down."',
         attempt="{h.name} climbed one branch, then another, and then another. Soon {h.he} was sitting next to {f.name} high in the tree.",
         after="From up there, {h.name} could see the whole town. {h.He} picked two red apples, one for {h.him} and one for {f.name}."),
)

FEAR = Plot("fear", (
    ("{h.name} was brave about many things, but {h.he} was {scared} of {fear}.",
     "There was one thing {h.name} did not like at all: {fear}. It made {h.him} feel {scared}."),
    ("{show}",),
    PARAGRAPH,
    ('"I can\'t do it," {h.name} said in a small voice. "I am too {scared}."',
     '{h.name} told {p_rel} about it. "What if something bad happens?" {h.he} asked.'),
    ("{talk}",),
    PARAGRAPH,
    ("{h.name} took a deep breath. {h.He} wanted to be brave.",
     "{h.name} thought about it for a long time. Then {h.he} nodded."),
    ("{attempt}",),
    PARAGRAPH,
    ("{after}",),
    ("From that day on, {h.name} knew that being brave means trying even when you feel {scared}.",
     "{h.name} learned that many things look scary until you try them."),
), _pick(FEARS))

ANIMALS = (
    dict(animal="kitten", who="a small kitten", sound="Meow, meow!", problem="was stuck high up in a tall tree",
         fix="{h.name} ran to get {p_rel}. {p.name} brought a long ladder, climbed up and carried the kitten down."),
    dict(animal="bird", who="a little bird", sound="Tweet, tweet!", problem="had a hurt wing and could not fly",
         fix="{h.name} made a soft bed for the bird in a box. {h.He} gave it water and seeds every day until its wing was better."),
    dict(animal="duck", who="a baby duck", sound="Quack, quack!", problem="was lost and could not find its mother",
         fix="{h.name} and {f.name} walked with the baby duck along the water until they found the mother duck."),
    dict(animal="turtle", who="a little turtle", sound="Help, help!", problem="was lying on its back and could not turn over",
         fix="{h.name} knelt down and gently turned the turtle over. Then {h.he} carried it to the cool grass."),
    dict(animal="puppy", who="a tiny puppy", sound="Woof, woof!", problem="had fallen into a hole and could not climb out",
         fix="{h.name} and {f.name} lay down on the ground and reached into the hole. Together they lifted the puppy out."),
    dict(animal="butterfly", who="a pretty butterfly", sound="Please help me!", problem="was caught in a sticky spider web",
         fix="{h.name} used a little stick to pull the web away, very slowly and very carefully."),
)

RESCUE = Plot("rescue", (
    ("One {daypart}, {h.name} and {h.his} friend {f.name} went for a walk {place.at}. The sun was warm and the sky was blue.",
     "{h.name} was playing with {h.his} {obj} {place.at} when {h.he} heard a small sound."),
    ('"{sound}" came a tiny voice. {h.name} looked around and saw {who}. It {problem}.',
     "Suddenly, {h.name} saw {who}. It {problem}."),
    ('"Poor little {animal}," said {h.name}. "We have to help it!"',
     '{h.name} felt {sad} for the {animal}. "Don\'t be afraid, little {animal}. I will help you," {h.he} said softly.'),
    PARAGRAPH,
    ("{fix}",),
    ("It was not easy, and it took a long time. But {h.name} did not give up.",
     "{h.name} was very careful and very patient."),
    PARAGRAPH,
    ("The {animal} was safe at last. It looked at {h.name} with its bright eyes, as if to say thank you.",
     "At last the {animal} was safe. {h.name} felt warm and {happy} inside."),
    ('That night, {h.name} told {p_rel} all about the {animal}. "You were very kind today," said {p.name}. "I am proud of you."',
     "{h.name} learned that helping others is the best way to make a friend. Every day after that, the {animal} came to visit {h.name} and {h.his} {obj}."),
), _pick(ANIMALS, avoid_kind=True))

PROJECTS = (
    dict(thing="a big sandcastle", the="sandcastle", needs="a bucket, a spade and lots of wet sand",
         work="{h.He} dug and patted the sand for a long time. Soon the sandcastle had four towers and a little door.",
         fail="a big wave rolled up the beach and washed the sandcastle away.", fix="build it far from the water",
         redo="They built the new sandcastle high up on the dry sand, where the waves could not reach it."),
    dict(thing="a chocolate cake", the="cake", needs="flour, eggs, sugar, milk and a big bowl",
         work="{h.He} mixed everything in the bowl and poured it into a pan. {p.name} helped {h.him} put it in the oven.",
         fail="{h.he} forgot the cake in the oven, and it came out black and hard.", fix="set a timer",
         redo="They made a new cake. This time {h.name} set a timer, and the cake came out soft and warm."),
    dict(thing="a birthday card", the="card", needs="paper, glue, glitter and crayons",
         work="{h.He} drew flowers and a big sun on the front. Inside, {h.he} wrote a kind message.",
         fail="the puppy ran in with muddy feet and stepped all over the card.", fix="work up on the table",
         redo="They made a new card up on the table, and this time {h.name} added a heart made of glitter."),
    dict(thing="the tallest tower of blocks", the="tower", needs="all of {h.his} wooden blocks",
         work="{h.He} put one block on top of another, higher and higher.",
         fail="the tower wobbled and fell down with a loud crash.", fix="put the big blocks at the bottom",
         redo="They put the biggest blocks at the bottom and the small ones at the top. The new tower stood tall and strong."),
    dict(thing="a little house for the birds", the="bird house", needs="some wood, nails and green paint",
         work="{h.He} hammered the wood together and painted it green.",
         fail="the roof fell off when {h.he} tried to hang the house in the tree.", fix="use more nails",
         redo="They used more nails, and the roof stayed on. They hung the bird house in the apple tree."),
    dict(thing="a kite", the="kite", needs="paper, two thin sticks and a long string",
         work="{h.He} tied the sticks together and glued the paper on top.",
         fail="the kite would not fly. It just spun around and fell to the ground.", fix="give it a long tail",
         redo="They gave the kite a long tail made of ribbons. When the wind blew, it flew high into the sky."),
)

MAKING = Plot("making", (
    ("{h.name} wanted to make {thing} to surprise {p_rel}.",
     "One {daypart}, {h.name} had a wonderful idea. {h.He} would make {thing} for {p_rel}!"),
    ("First, {h.he} found {needs}.", "{h.He} got {needs}."),
    ("{work}",),
    PARAGRAPH,
    ("But then {fail}", "Just when it was almost finished, {fail}"),
    ('{h.name} sat down and felt {sad}. "All my work is gone," {h.he} said.',
     '"Oh no!" cried {h.name}. "Now I have to start again."'),
    PARAGRAPH,
    ('{h.His} friend {f.name} came over to help. "Let\'s do it together," {f.he} said. "This time we can {fix}."',
     '{h.His} friend {f.name} sat down next to {h.name}. "Don\'t give up," {f.he} said. "We can {fix}, and it will work."'),
    ("So they tried again. {redo}", "{h.name} wiped {h.his} eyes and smiled. {redo}"),
    PARAGRAPH,
    ('When it was finished, {h.name} showed the {the} to {p_rel}. "It is beautiful!" said {p.name}.',
     '{h.name} ran to get {p_rel}. "Look what we made!" {h.he} said. {p.name} clapped {p.his} hands.'),
    ("{h.name} learned that when something goes wrong, you can always try again. And {h.he} learned that work is easier with a friend like {f.name}.",
     "That night, {h.name} put {h.his} {obj} next to the {the}. {h.He} was {happy} that {h.he} had not given up."),
), _pick(PROJECTS))

TRIPS = (
    dict(dest="the zoo", dest_at="At the zoo", how="by bus", see="lions, tall giraffes and funny monkeys",
         fav="a baby elephant", shelter="a little shop"),
    dict(dest="the lake", dest_at="At the lake", how="by car", see="ducks, boats and silver fish",
         fav="a white swan", shelter="a wooden hut"),
    dict(dest="the mountains", dest_at="In the mountains", how="by train",
         see="tall hills, goats and pretty flowers", fav="a little waterfall", shelter="a small cave"),
    dict(dest="the fair", dest_at="At the fair", how="on a big bus", see="a merry-go-round, balloons and clowns",
         fav="the big wheel", shelter="a striped tent"),
    dict(dest="the city", dest_at="In the city", how="by train",
         see="tall buildings, busy streets and a big museum", fav="a toy shop window", shelter="the museum door"),
)

TRIP = Plot("trip", (
    ('{p.name} said, "Today we are going on a trip to {dest}!" {h.name} jumped up and down with joy.',
     "{h.name} was very excited. Today {h.he} and {p_rel} were going to {dest}."),
    ("{h.He} packed {h.his} {obj} and some {food} in a little bag.",
     "{h.name} did not want to go anywhere without {h.his} {obj}, so {h.he} took it too, with some {food} for lunch."),
    ("They went {how}. The trip was long, but {h.name} looked out of the window and sang songs.",
     "They went {how}. On the way, {h.name} counted trees and waved at the people they passed."),
    PARAGRAPH,
    ("{dest_at}, they saw {see}. {h.name} liked {fav} best of all.",
     "There was so much to see at {dest}: {see}. But {h.name} liked {fav} the most."),
    ('"Look at that!" said {h.name}, pointing at {fav}. {p.name} laughed.',
     '"Can we stay here all day?" asked {h.name}. "We will see," said {p.name} with a wink.'),
    PARAGRAPH,
    ("Then dark clouds covered the sun, and big drops of rain began to fall.",
     "Suddenly the wind began to blow, and it started to rain."),
    ("{p.name} took {h.name}'s hand, and they ran to {shelter}. They waited there and ate the {food}.",
     "They hurried to {shelter} and stayed dry. {h.name} shared the {food} with {p_rel}."),
    ("Soon the rain stopped, and a big rainbow came out over {dest}.",
     "After a while the sun came back, and everything was shining and wet."),
    PARAGRAPH,
    ("When they got home, {h.name} was tired but {happy}. {h.He} hugged {h.his} {obj} and told {h.his} friend {f.name} all about {fav}.",
     "That night, {h.name} drew a picture of {fav}. {h.He} put it on the wall next to {h.his} bed, with the {obj} sitting below it."),
    ('"Can we go to {dest} again?" {h.name} asked. "Yes, we can," said {p.name} with a smile.',
     "It was the best day {h.name} could remember."),
), _pick(TRIPS))

RACE = Plot("race", (
    ("{h.name} and {f.name} were best friends. They liked to play {game} {place.at}.",
     "{h.name} had a best friend named {f.name}. They did everything together."),
    ('One day, {f.name} said, "Let\'s have a race to {goal}! The winner gets to play with my {obj}."',
     'One {daypart}, {f.name} showed {h.name} {f.his} new {obj}. "Let\'s race to {goal}," {f.he} said. "The winner can play with it first."'),
    ('"Ready, set, go!" shouted {h.name}. They ran as fast as they could.',),
    PARAGRAPH,
    ("{h.name} was in front. {h.He} was sure {h.he} would win. But then {h.he} heard a cry behind {h.him}.",
     "{h.name} ran faster and faster. {goal_The} was very close now. Then {h.he} heard a loud cry."),
    ("{f.name} had tripped over a stone and fallen down. {f.His} knee was hurt, and {f.he} was crying.",),
    PARAGRAPH,
    ("{h.name} looked at {goal}. It was so close! Then {h.he} looked back at {f.name}.",
     "{h.name} stopped. {h.He} could still win, but {h.his} friend needed {h.him}."),
    ('{h.He} turned around and ran back. "Are you okay, {f.name}?" {h.he} asked.',
     '{h.He} ran back and knelt next to {f.name}. "Does it hurt a lot?" {h.he} asked.'),
    ("{h.name} helped {f.name} stand up. Slowly, they walked to {goal} together, side by side.",),
    PARAGRAPH,
    ('{p_rel} saw everything. "You did not win the race, but you did something better," {p.he} said. "You were a good friend."',
     "When they got to {goal}, they both sat down on the grass and laughed."),
    ('{f.name} smiled and gave the {obj} to {h.name}. "You are the real winner," {f.he} said.',),
    ("{h.name} learned that being a good friend is more important than winning.",
     "They played with the {obj} together until it was time to go home."),
), lambda rng, slots: _goal(rng.choice(("the big tree", "the old fence", "the end of the path",
                                       "the red gate"))))


def _goal(goal: str) -> dict:
    return dict(goal=goal, goal_The=goal[0].upper() + goal[1:])


WISHES = (
    dict(wish="I could fly like a bird", result="Suddenly, {h.name} was floating up into the air!",
         good="{h.He} flew over the houses and the trees. The people below looked as small as ants.",
         problem="It got very windy and cold up high, and {h.name} could not find a way to come down.",
         undo="{h.name}'s feet were back on the soft ground.", lesson="it is good to be just who you are"),
    dict(wish="I had a mountain of candy", result="Pop! A huge mountain of candy appeared in front of {h.him}.",
         good="{h.name} ate candy after candy. It was sweet and yummy.",
         problem="{h.His} tummy began to hurt, and there was so much candy that nobody could get through the door.",
         undo="The candy was gone, and {h.his} tummy felt better.", lesson="too much of a good thing is not good at all"),
    dict(wish="I was as big as a tree", result="{h.name} grew and grew until {h.he} was taller than the houses!",
         good="{h.He} could see the whole town from up there.",
         problem="{h.He} was too big to go inside {h.his} house, and {h.he} could not play with {h.his} friend {f.name}.",
         undo="{h.name} was small again, just the right size.", lesson="being small is not so bad"),
    dict(wish="my toys could talk", result='Right away, {h.his} {obj} opened its eyes and said, "Hello!"',
         good="All of {h.his} toys sang songs and told funny jokes.",
         problem="The toys talked all day and all night. They were so loud that {h.name} could not sleep.",
         undo="The toys were quiet again.", lesson="some wishes are better when they stay wishes"),
    dict(wish="it was my birthday every day", result="The next morning, there was a cake and a pile of presents waiting.",
         good="There were balloons, songs and games all day long.",
         problem="Soon the presents were boring, the cake tasted like nothing special, and {p_rel} was very tired.",
         undo="It was a normal day again, and {h.name} was glad.", lesson="special days are special because they do not come every day"),
)

MAGIC = Plot("wish", (
    ("One {daypart}, {h.name} was walking {place.at} when {h.he} saw something shining {spot1}.",
     "While {h.name} was playing with {h.his} {obj} {place.at}, {h.he} found something strange {spot1}."),
    ('It was {magic_a}. When {h.name} picked it up, it began to glow, and a tiny voice said, "You may make one wish."',),
    PARAGRAPH,
    ('{h.name} thought and thought. Then {h.he} said, "I wish {wish}!"',
     '{h.name} did not have to think for long. "I wish {wish}!" {h.he} said.'),
    ("{result}",),
    ("At first it was wonderful. {good}", "{good} {h.name} laughed and laughed."),
    PARAGRAPH,
    ("But soon there was a problem. {problem}", "But then things went wrong. {problem}"),
    ('{h.name} felt {sad}. {h.He} held the {magic} and whispered, "I wish everything was like before."',),
    ("With a soft flash of light, everything changed back. {undo}",),
    PARAGRAPH,
    ("{h.name} ran home to {p_rel} and gave {p.him} a big hug. {h.He} put the {magic} on a shelf next to {h.his} {obj}.",
     "{h.name} told {h.his} friend {f.name} the whole story. {f.name} laughed and said it was the best story {f.he} had ever heard."),
    ("{h.name} learned that {lesson}.",),
), lambda rng, slots: dict(rng.choice(WISHES), **_magic_item(rng)))


def _magic_item(rng: random.Random) -> dict:
    item = rng.choice(("shiny stone", "golden feather", "tiny silver bell", "old golden key",
                       "little blue shell"))
    return dict(magic=item, magic_a=("an " if item[0] in "aeiou" else "a ") + item)


RULES = (
    dict(rule="never to play ball inside the house",
         tempt="It was raining outside, and {h.name} was bored. {h.He} bounced a ball in the living room, just a little.",
         accident="The ball flew up and hit {p_rel}'s favorite vase. Crash! The vase broke into pieces.",
         fix="Together they picked up the pieces of the vase and glued them back together."),
    dict(rule="not to eat the cookies before dinner",
         tempt="The cookies smelled so good. {h.name} took one, and then another, and then another.",
         accident="Soon the jar was empty, and at dinner {h.his} tummy hurt too much to eat.",
         fix="The next day, they baked new cookies together and shared them with {f.name}."),
    dict(rule="never to go near the pond alone",
         tempt="{h.name} saw a frog by the pond and wanted to catch it. {h.He} went a little closer, and then a little closer.",
         accident="{h.His} foot slipped on the wet grass, and {h.he} fell into the muddy water. Splash!",
         fix="{p.name} washed the mud off {h.name} and gave {h.him} a warm bath."),
    dict(rule="not to touch the paint in the garage",
         tempt="{h.name} wanted to paint a picture. {h.He} opened a big can of blue paint.",
         accident="The can tipped over, and blue paint spilled all over the floor and {h.his} {obj}.",
         fix="Together they cleaned the floor, and they washed the {obj} until it was as good as new."),
    dict(rule="not to pick the flowers in the garden",
         tempt="The flowers were so pretty. {h.name} picked one, then two, then a whole bunch.",
         accident="Soon there were no flowers left in the garden, only green stems.",
         fix="Together they planted new seeds, and {h.name} watered them every day."),
)

PROMISE = Plot("promise", (
    ('{p_rel} told {h.name} {rule}. "Do you promise?" {p.he} asked. "I promise," said {h.name}.',),
    ("But one {daypart}, {p.name} was busy in the kitchen.",
     "Later that day, {p.name} went outside to work in the garden."),
    PARAGRAPH,
    ("{tempt}",),
    ("{accident}",),
    PARAGRAPH,
    ("{h.name} felt {scared}. {h.He} did not want anyone to know. {h.He} thought about hiding under {h.his} bed.",
     "{h.name} did not know what to do. Maybe nobody would find out?"),
    ("But {h.name} remembered {h.his} promise. {h.He} went to {p.name} and told {p.him} the truth.",
     "Then {h.he} took a deep breath and went to find {p_rel}."),
    ('"I am sorry," {h.name} said, looking at the floor. "I did not listen to you."',
     '"I broke my promise," said {h.name}. "I am very sorry."'),
    PARAGRAPH,
    ('{p.name} was quiet for a moment. Then {p.he} hugged {h.name}. "Thank you for telling me the truth," {p.he} said.',
     '{p.name} looked at {h.name} for a long time. "I am not happy about what you did," {p.he} said, "but I am proud that you told me."'),
    ("{fix}",),
    ("{h.name} learned that rules keep us safe, and that telling the truth is always the right thing to do.",
     "From that day on, {h.name} always kept {h.his} promises."),
), _pick(RULES))

NEW_FRIEND = Plot("new friend", (
    ("{h.name} and {p_rel} had just moved to a new town. {h.name} did not know anyone there.",
     "It was {h.name}'s first day at a new school. {h.He} felt {shy} and a little {scared}."),
    ("{h.He} held {h.his} {obj} tight and stood alone {place.at}.",
     "{h.He} took {h.his} {obj} and went {place.to}, but {h.he} did not know what to do there."),
    ("Everyone was playing in groups. Nobody asked {h.name} to play.",
     "The other children laughed and played, but nobody looked at {h.name}."),
    PARAGRAPH,
    ("Then {h.he} saw {f.a_desc} sitting {spot1} all alone. {f.He} looked lonely too.",),
    ('{h.name} walked over slowly. "Hello, my name is {h.name}," {h.he} said. "What is your name?"',
     '{h.name} was {shy}, but {h.he} walked over. "Hi," {h.he} said. "I am {h.name}. Who are you?"'),
    ('"I am {f.name}," said the {f.kind}. "I like your {toy}."',),
    PARAGRAPH,
    ('"Do you want to play with it?" asked {h.name}. {f.name} nodded, and {f.his} face lit up.',),
    ("They took turns with the {obj}, and then they played {game} together. They laughed and ran until they were out of breath.",
     "They played with the {obj} {spot2}, and {f.name} showed {h.name} all the best places {place.at}."),
    ('When it was time to go home, {f.name} asked, "Will you play with me again tomorrow?" "Yes!" said {h.name}.',),
    PARAGRAPH,
    ("That night, {h.name} told {p_rel} about {h.his} new friend. {h.He} was not {shy} anymore.",
     "{h.name} and {f.name} played together every day after that, and the {obj} went with them everywhere."),
    ("{h.name} learned that one kind word can turn a stranger into a friend.",
     "{h.name} learned that someone else may feel just as {shy} as you, and that saying hello can change everything."),
))

PLOTS = (LOST_TOY, SHARING, FEAR, RESCUE, MAKING, TRIP, RACE, MAGIC, PROMISE, NEW_FRIEND)
