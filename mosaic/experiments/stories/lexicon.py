"""Word lists and English inflection for the embedded story generator (hand-written, no downloads).

The lists are themed so that a slot can only be filled by a word that fits it: a food slot draws
foods, a bird's scenery sentence draws bird actions, a hero's object is a thing a child can carry.
Verbs are stored as base forms and inflected here (past tense for the narration, present tense and
``-ing`` forms for the dialogue); nouns are stored singular and pluralised here. The irregular
forms are listed explicitly; everything else follows the regular spelling rules below.
"""
from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _phrases(text: str) -> tuple[str, ...]:
    """Comma-separated phrases (entries of several words), whitespace-normalised."""
    return tuple(" ".join(p.split()) for p in text.split(",") if p.strip())


# ============================================================================= inflection
VOWELS = set("aeiou")

IRREGULAR_PLURALS = dict(
    mouse="mice", goose="geese", sheep="sheep", deer="deer", fish="fish", moose="moose",
    child="children", person="people", man="men", woman="women", foot="feet", tooth="teeth",
    leaf="leaves", wolf="wolves", calf="calves", half="halves", knife="knives", loaf="loaves",
    shelf="shelves", scarf="scarves", elf="elves", hoof="hooves", potato="potatoes",
    tomato="tomatoes", mango="mangoes", hero="heroes", echo="echoes", domino="dominoes",
    volcano="volcanoes", buffalo="buffaloes", salmon="salmon", trout="trout", shrimp="shrimp",
    squid="squid", bison="bison", mosquito="mosquitoes", tornado="tornadoes",
)

IRREGULAR_PAST = dict(
    be="was", become="became", begin="began", bite="bit", blow="blew", break_="broke",
    bring="brought", build="built", buy="bought", catch="caught", choose="chose", come="came",
    creep="crept", dig="dug", do="did", draw="drew", drink="drank", drive="drove", eat="ate",
    fall="fell", feed="fed", feel="felt", find="found", fly="flew", forget="forgot",
    freeze="froze", get="got", give="gave", go="went", grow="grew", hang="hung", have="had",
    hear="heard", hide="hid", hit="hit", hold="held", hurt="hurt", keep="kept", kneel="knelt",
    know="knew", lay="laid", lead="led", leave="left", lend="lent", let="let", light="lit",
    lose="lost", make="made", mean="meant", meet="met", pay="paid", put="put", read="read",
    ride="rode", ring="rang", rise="rose", run="ran", say="said", see="saw", sell="sold",
    send="sent", set="set", shake="shook", shine="shone", shoot="shot", shut="shut", sing="sang",
    sink="sank", sit="sat", sleep="slept", slide="slid", speak="spoke", spend="spent",
    spin="spun", spread="spread", spring="sprang", stand="stood", stick="stuck", sting="stung",
    stride="strode", swim="swam", swing="swung", take="took", teach="taught", tear="tore",
    tell="told", think="thought", throw="threw", understand="understood", wake="woke",
    wear="wore", weave="wove", weep="wept", win="won", wind="wound", write="wrote",
    sweep="swept", bend="bent", cling="clung", cut="cut", fling="flung", forgive="forgave",
    quit="quit", string="strung", undo="undid", dive="dove", fight="fought", seek="sought",
    split="split", overhear="overheard", rebuild="rebuilt", retell="retold", upset="upset",
    bleed="bled", shrink="shrank", slink="slunk", sneak="snuck", stink="stank",
)
IRREGULAR_PAST["break"] = IRREGULAR_PAST.pop("break_")

# Two-syllable verbs stressed on the last syllable double their final consonant (un-zip-ped).
DOUBLING_VERBS = set("zigzag unwrap unzip admit regret patrol control equip permit forbid "
                     "refer prefer occur outrun".split())


def _syllables(word: str) -> int:
    groups, previous = 0, False
    for i, ch in enumerate(word):
        vowel = ch in VOWELS or (ch == "y" and i > 0)
        groups += vowel and not previous
        previous = vowel
    return groups


def _doubles_final_consonant(verb: str) -> bool:
    """stop -> stopped, but rain -> rained, visit -> visited, fix -> fixed."""
    if verb in DOUBLING_VERBS:
        return True
    if len(verb) < 3 or _syllables(verb) != 1:
        return False
    a, b, c = verb[-3:]
    return a not in VOWELS and b in VOWELS and c not in VOWELS and c not in "wxy" and not (
        a == "u" and verb[-4:-3] == "q")


def past(verb: str) -> str:
    """Simple past of a verb or of a phrasal verb ("pick up" -> "picked up")."""
    head, sep, rest = verb.partition(" ")
    if head in IRREGULAR_PAST:
        return IRREGULAR_PAST[head] + sep + rest
    if head.endswith("e"):
        form = head + "d"
    elif head.endswith("y") and head[-2] not in VOWELS:
        form = head[:-1] + "ied"
    elif head.endswith("c"):
        form = head + "ked"  # picnic -> picnicked
    elif _doubles_final_consonant(head):
        form = head + head[-1] + "ed"
    else:
        form = head + "ed"
    return form + sep + rest


def third_person(verb: str) -> str:
    """Present tense, third person singular: "she hops", "it buzzes", "he tries"."""
    head, sep, rest = verb.partition(" ")
    special = {"be": "is", "have": "has", "do": "does", "go": "goes"}
    if head in special:
        form = special[head]
    elif head.endswith(("s", "x", "z", "ch", "sh", "o")):
        form = head + ("zes" if head.endswith("z") and _doubles_final_consonant(head) else "es")
    elif head.endswith("y") and head[-2] not in VOWELS:
        form = head[:-1] + "ies"
    else:
        form = head + "s"
    return form + sep + rest


def ing(verb: str) -> str:
    """Present participle: "hopping", "making", "seeing", "tying", "picnicking"."""
    head, sep, rest = verb.partition(" ")
    if head.endswith("ie"):
        form = head[:-2] + "ying"
    elif head.endswith("e") and not head.endswith(("ee", "ye", "oe")) and head != "be":
        form = head[:-1] + "ing"
    elif head.endswith("c"):
        form = head + "king"
    elif _doubles_final_consonant(head):
        form = head + head[-1] + "ing"
    else:
        form = head + "ing"
    return form + sep + rest


def plural(noun: str) -> str:
    """Plural of a noun or of a compound whose last word is the head ("teddy bear" -> "teddy bears")."""
    head_start = noun.rfind(" ") + 1
    prefix, head = noun[:head_start], noun[head_start:]
    if head in IRREGULAR_PLURALS:
        return prefix + IRREGULAR_PLURALS[head]
    if head.endswith(("s", "x", "z", "ch", "sh")):
        return prefix + head + "es"
    if head.endswith("y") and head[-2] not in VOWELS:
        return prefix + head[:-1] + "ies"
    return prefix + head + "s"


_AN_EXCEPTIONS = ("hour", "honest", "honor")
_A_EXCEPTIONS = ("uni", "use", "usu", "eu", "one", "once", "ukulele")


def with_article(phrase: str) -> str:
    """"a red ball", "an orange kite", "a unicorn", "an hour"."""
    low = phrase.lower()
    if low.startswith(_AN_EXCEPTIONS):
        return "an " + phrase
    if low[:1] in VOWELS and not low.startswith(_A_EXCEPTIONS):
        return "an " + phrase
    return "a " + phrase


def possessive(name: str) -> str:
    """"Lily's", "James's" (a name always takes 's, as in most children's books)."""
    return name + "'s"


# ============================================================================= people
GIRL_NAMES = _words("""
Lily Mia Emma Sara Anna Lucy Zoe Ella Amy Kate Ruby Grace Molly Daisy Lena Nora Ivy Maya Sophie
Chloe Hannah Julia Clara Alice Bella Jenny Tina Sue Eva Abby Ada Addie Agnes Aisha Alba Alexa Alma
Amara Amelia Anya Ava Beth Bianca Bonnie Brooke Callie Camila Carla Carmen Cara Cora Dana Delia
Diana Dora Edith Eliza Ellie Elsa Emily Erin Esme Esther Etta Evie Fiona Flora Freya Gemma Georgia
Gina Greta Gwen Harper Heidi Helen Ida Ines Irene Isla Jana Jess Jill Joan Josie Judy Julie Kara
Kayla Keira Kiara Kira Lara Laura Leah Leila Lila Lina Linda Lola Lorna Lottie Louise Luna Lydia
Mabel Macy Maddie Maisie Marie Martha Matilda Megan Mila Millie Mina Miriam Nadia Nancy Naomi Nell
Nina Noor Olga Orla Paige Phoebe Piper Polly Priya Rachel Rita Rosa Rosie Sadie Sally Sana Sasha
Selma Sienna Stella Susie Tara Tess Thea Tilly Uma Vera Vicky Wendy Willa Yara Yasmin Zara Zelda
Nova Ellen Hattie Lucia Mara Rhea Tanya Elena Maria Lisa Ingrid Hilda Frida Ursula Greer Imogen
Tamsin Celia Beatrice Harriet Winnie Dottie Flossie Peggy Betty Lulu Kiki Mimi Fatima Leyla Amina
Keiko Yuki Mei Lin Suki Rania Zainab Nia Imani Kezia Talia Noemi Alina Marta Sofia Greta Elise
Abigail Adele Adriana Agatha Aileen Alana Alexis Alicia Allie Alyssa Amaya Andrea Angela Anita Annie
Antonia Arabella Ariana Ariel Astrid Aurora Ayla Barbara Belinda Bethany Brenda Bridget Brianna
Camille Carina Caroline Cassie Catalina Cecilia Celeste Charlotte Cheryl Christina Cindy Claudia Colette
Cynthia Daniela Daphne Deborah Delphine Denise Dina Dolly Dorothy Edie Effie Eileen Elaine Eleanor
Elisa Eloise Elodie Emilia Esme Eugenie Eunice Evelyn Fleur Frances Francesca Gabriela Genevieve
Georgina Gillian Gloria Greta Gwendolyn Hanna Helena Henrietta Hilary Ilse Ines Ingrid Isabel
Isadora Jacqueline Janet Janice Jasmin Jeanne Jemima Jennifer Jessica Joanna Jocelyn Johanna Josephine
Juliet Justine Karen Karina Katie Katrina Kelly Kirsty Lana Leona Leonie Lidia Liliana Lorena Lorraine
Lottie Lucinda Luisa Lynn Madeline Magda Maggie Malia Marcella Margot Marina Marion Marisol Marlene
Matilde Maureen Maxine Melanie Melody Mercedes Mimi Minnie Miranda Moira Monica Nadine Natalia Nellie
Nicole Nina Octavia Odette Olivia Ophelia Pamela Paola Patricia Paulina Pauline Petra Philippa Rebecca
Regina Renata Rhoda Roberta Romy Rosalind Rowena Sabrina Samantha Sarah Selena Serena Sharon Sheila
Shirley Simone Sonia Stephanie Susanna Sylvia Tabitha Tamara Teresa Thelma Tilda Trudy Valentina
Valerie Vanessa Veronica Victoria Viola Vivian Wanda Wilma Winifred Xenia Yolanda Yvonne Zoey Zuri
Ayesha Chiara Daria Eira Farah Gaia Hiba Ishani Jiya Kaia Laila Maren Neha Odile Pia Rosalie Saoirse
Siri Tova Unni Vesna Wren_name Yvette Zadie Beatrix Clementine Dolores Hermione Ottilie Temperance
""")
BOY_NAMES = _words("""
Tom Ben Max Sam Leo Jack Tim Finn Luke Jake Noah Alex Ryan Oscar Henry Owen Adam Eli Theo Milo
Jonah Peter Hugo Liam Dan Kevin Paul Simon Billy Ted Pip Aaron Abe Ahmed Alan Albert Alfie Ali
Amir Andy Angus Archie Arlo Arthur Asher Axel Barney Benji Bobby Brody Bruno Caleb Calvin Carl
Carlos Casper Cody Colin Connor Dario Darius David Dev Diego Dylan Eddie Edgar Edwin Elias Elliot
Emil Enzo Eric Ethan Evan Ezra Felix Fred Freddie Gabe George Gus Hamish Harry Harvey Hector Ian
Igor Isaac Ivan Jacob James Jamie Jasper Jesse Joe Joel Johnny Jonas Jordan Josh Jude Kai Karl
Kenji Kofi Lars Leon Levi Lewis Lucas Luis Malik Marco Mario Martin Mason Matt Micah Mike Nate Ned
Neil Nick Niko Nils Olaf Omar Otis Otto Pablo Percy Pete Quinn Rafael Ravi Reggie Remy Rex Rico
Rory Rudy Rufus Ruben Rupert Sami Scott Seth Stan Stefan Tobias Toby Tony Victor Vince Wade Walter
Wes Wyatt Yusuf Zack Zane Arjun Hiro Tariq Rohan Sven Bertie Monty Wilbur Ollie Alfred Cyril
Ernest Frankie Gilbert Herbert Horace Jasper Kurt Lenny Louie Marcus Morris Nelson Norman Oliver
Pedro Roland Sidney Stanley Tommy Vernon Wally Winston Yosef Zeke Kwame Jin Taro Kenta Akio Ravi
Samir Idris Emeka Tobi Mateo Lukas Emil Hans Anton
Abel Adrian Alberto Alejandro Alexander Alonso Ambrose Andre Andrew Anthony Antonio Ari Armand Arnold
Augustus Austin Barnaby Bartholomew Basil Benedict Bernard Boris Bradley Brandon Brendan Bruce
Cameron Casimir Cedric Charles Christian Christopher Clarence Claude Clement Clifford Conrad
Cornelius Cosmo Curtis Damian Daniel Dante Declan Dennis Derek Desmond Dexter Dominic Donald Douglas
Duncan Eamon Edmund Eduardo Edward Elijah Elmer Emmanuel Ernesto Eugene Everett Fabian Felipe
Ferdinand Fergus Fernando Finlay Florian Francis Franco Frederick Gareth Gavin Gerald Gideon Gordon
Graham Gregory Gustav Harold Harrison Henrik Hubert Humphrey Ignatius Isaiah Ishaan Jack Jared Jerome
Joaquin Jonathan Joseph Joshua Julian Julius Kenneth Kieran Konrad Lachlan Laurence Leander Leonard
Leopold Lionel Lorenzo Louis Lucian Ludwig Magnus Malcolm Manuel Marcel Marius Matthias Maurice
Maximilian Melvin Michael Miguel Milton Mortimer Murray Nathan Nathaniel Neville Nicholas Nigel
Noel Octavio Orlando Osbert Oswald Patrick Percival Philip Quentin Raphael Raymond Reuben Richard
Roberto Rodney Roger Roman Ronald Roscoe Russell Samuel Sebastian Silas Solomon Spencer Stuart
Sylvester Terence Thaddeus Theodore Thomas Timothy Tristan Ulysses Valentin Vincent Warren Wendell
Wesley Wilfred William Xavier Zachary Ansel Bram Cassius Dashiell Emrys Fitz Hamza Ibrahim Jonas
Kaito Lorcan Musa Nico Obi Pavel Rafferty Soren Tadeo Umar Vikram Wolfgang Yuri Zoran Anders Benno
Cyrus Dmitri Eero Fionn Giles Hal Ivo Jasper Kasper Linus Mikko Nestor Orson Piers Rhys Stellan
""")
# Dedupe while keeping order (a name typed twice above counts once).
GIRL_NAMES = tuple(dict.fromkeys(n for n in GIRL_NAMES if not n.endswith("_name")))
BOY_NAMES = tuple(dict.fromkeys(n for n in BOY_NAMES if n not in GIRL_NAMES))

# Elders: (title used as a name, role word, female). The title is how the story names them.
ELDERS = (("Mom", "mom", True), ("Dad", "dad", False), ("Grandma", "grandma", True),
          ("Grandpa", "grandpa", False), ("Nana", "nana", True), ("Papa", "papa", False),
          ("Granny", "granny", True), ("Mommy", "mommy", True), ("Daddy", "daddy", False))
AUNTS_UNCLES = (("Aunt", True), ("Uncle", False))

CHILD_TRAITS = _words("""
kind happy curious brave shy cheerful clever playful gentle busy friendly helpful polite honest
funny silly smart bold careful quiet lively bouncy sleepy grumpy proud patient generous caring
thoughtful adventurous cheeky giggly chatty dreamy creative daring eager fearless loyal merry sweet
tidy messy wise young little cuddly sensible cautious clumsy nosy restless jolly spirited plucky
timid gentle hopeful joyful bright sunny lonely stubborn busy brave cheery chirpy cuddly dainty
determined fidgety forgetful giggly gracious happy hardworking imaginative inventive jumpy lucky
mischievous musical noisy observant organized peppy quick quirky rosy-cheeked sleepy smiley speedy
sporty spunky sturdy talkative thoughtful tiny tireless trusting unusual watchful wide-eyed witty
zippy bubbly clever curious daring easygoing energetic freckled gentle giggly good-natured
""")
CHILD_TRAITS = tuple(dict.fromkeys(t for t in CHILD_TRAITS if "-" not in t))
JOBS = _words("""
baker farmer teacher doctor nurse vet librarian gardener painter builder carpenter cook pilot
sailor zookeeper shopkeeper fisherman mailman firefighter dentist tailor beekeeper potter
lighthouse_keeper ranger plumber clown magician dancer singer artist scientist astronaut
juggler acrobat inventor explorer captain photographer writer poet librarian bus_driver
train_driver farmhand shepherd blacksmith watchmaker toymaker shoemaker candlemaker gardener
lifeguard referee coach conductor violinist drummer chef waiter grocer florist baker architect
""")
JOBS = tuple(dict.fromkeys(j.replace("_", " ") for j in JOBS))

# ============================================================================= animals
# Animals a story's hero (or friend) can be, with the kind of home each lives in.
ANIMAL_HERO_HOMES = {
    "bunny": "burrow", "rabbit": "burrow", "puppy": "kennel", "kitten": "basket", "bear": "den",
    "fox": "den", "mouse": "hole", "duck": "nest", "squirrel": "tree", "frog": "pond", "owl": "tree",
    "lamb": "barn", "pig": "barn", "turtle": "pond", "monkey": "tree", "elephant": "jungle",
    "giraffe": "jungle", "deer": "forest", "hedgehog": "hedge", "penguin": "ice", "raccoon": "tree",
    "badger": "burrow", "otter": "river", "beaver": "river", "mole": "hole", "chipmunk": "hole",
    "koala": "tree", "panda": "forest", "kangaroo": "field", "zebra": "field", "lion": "field",
    "tiger": "jungle", "hippo": "river", "goat": "barn", "pony": "barn", "cow": "barn", "chick": "barn",
    "goose": "pond", "robin": "nest", "sparrow": "nest", "parrot": "jungle", "seal": "ice",
    "dolphin": "sea", "whale": "sea", "octopus": "sea", "crab": "sea", "snail": "hedge",
    "ladybug": "hedge", "bee": "hive", "butterfly": "hedge", "ant": "hill", "caterpillar": "hedge",
    "dragon": "cave", "unicorn": "forest", "dinosaur": "jungle", "lizard": "rock", "bat": "cave",
    "moose": "forest", "wolf": "forest", "donkey": "barn", "llama": "field", "sloth": "jungle",
    "meerkat": "field", "lemur": "jungle", "camel": "desert", "walrus": "ice", "puffin": "rock",
}
ANIMAL_HOME_PHRASES = {
    "burrow": _phrases("in a cozy burrow under a hill, in a deep burrow under the roots of an old tree, "
                       "in a snug burrow at the edge of a meadow, in a little burrow under a bramble bush"),
    "kennel": _phrases("in a red kennel behind a farmhouse, in a warm kennel in a big backyard"),
    "basket": _phrases("in a soft basket by the fire, in a little basket in a sunny kitchen"),
    "den": _phrases("in a warm den in the woods, in a quiet den under a rocky hill, in a dry den behind a waterfall"),
    "hole": _phrases("in a tiny hole in a kitchen wall, in a little hole under a garden shed, "
                     "in a snug hole beneath a mossy stone"),
    "nest": _phrases("in a round nest in a tall tree, in a soft nest by a reedy pond, in a nest of twigs on a rooftop"),
    "tree": _phrases("in a hollow tree in the woods, high up in an old oak tree, in a leafy tree by a stream"),
    "pond": _phrases("in a quiet pond full of water lilies, by a muddy pond at the edge of a field"),
    "barn": _phrases("in a big red barn on a hill, in a cozy barn on a busy farm, in a wooden barn near an orchard"),
    "jungle": _phrases("in a green jungle full of vines, deep in a warm and rainy jungle, in a jungle by a wide river"),
    "forest": _phrases("in a deep green forest, in a pine forest near the mountains, in a sunny forest glade"),
    "hedge": _phrases("in a thick hedge at the end of a garden, under a leafy hedge by a country lane"),
    "ice": _phrases("on a big sheet of ice near the sea, on a snowy island far in the north"),
    "river": _phrases("by a wide and slow river, in a lodge of sticks on a winding river"),
    "field": _phrases("on a wide grassy plain, in a dry field under a big sky"),
    "sea": _phrases("in the deep blue sea, in a warm bay near a coral reef"),
    "hive": _phrases("in a busy hive in an apple tree, in a golden hive at the edge of a meadow"),
    "hill": _phrases("in a sandy anthill under a rosebush, in a busy anthill near a garden path"),
    "cave": _phrases("in a dark cave on a mountain, in a dry cave behind a waterfall"),
    "rock": _phrases("on a warm rock in a sunny canyon, in a crack between two rocks by the sea"),
    "desert": _phrases("in a sandy desert with tall dunes, near an oasis in a hot desert"),
}

# Creatures seen in the scenery, grouped by what they do (base verbs, used as "-ing" forms).
CREATURE_GROUPS = {
    "bird": (_words("sparrow robin bluebird blackbird crow pigeon dove finch wren canary magpie "
                    "starling swallow cardinal woodpecker hummingbird blue_jay thrush lark nightingale "
                    "goldfinch chickadee oriole warbler raven"),
             _phrases("chirp, sing, hop about, flutter, peck at crumbs, twitter, splash in a puddle, "
                      "build a nest, fluff up their feathers, swoop and dive")),
    "waterbird": (_words("duck goose swan heron duckling"),
                  _phrases("paddle, swim in circles, dip their heads, flap their wings, waddle, quack")),
    "seabird": (_words("seagull pelican puffin"),
                _phrases("glide over the waves, squawk, dive for fish, bob on the water")),
    "jungle": (_words("toucan"), _phrases("squawk, hop along a branch, flap their bright wings")),
    "reptile": (_words("lizard"), _phrases("bask in the sun, dart across the rocks, flick their tongues")),
    "insect": (_words("bee butterfly ladybug dragonfly firefly grasshopper cricket beetle moth "
                      "bumblebee honeybee damselfly katydid"),
               _phrases("buzz, flutter, zigzag, hum, dance in the air, rest on a leaf, hop about")),
    "crawler": (_words("ant caterpillar snail worm spider slug centipede millipede woodlouse"),
                _phrases("crawl, wiggle, climb, march in a line, inch along")),
    "pondlife": (_words("frog toad turtle tadpole fish newt otter beaver"),
                 _phrases("swim, splash, croak, sun themselves, dive, float")),
    "sealife": (_words("crab starfish seal dolphin jellyfish octopus shrimp clam seahorse lobster "
                       "sea_turtle sea_lion mussel"),
                _phrases("splash, swim, hide in the rocks, float, dart about, play in the waves")),
    "farm": (_words("cow sheep goat pig horse pony donkey hen rooster chicken chick lamb calf "
                    "piglet turkey llama alpaca ox bull foal kid_goat gander mule ram"),
             _phrases("graze, munch on hay, nap in the sun, roll in the mud, trot about, peck at seeds, "
                      "swish their tails")),
    "woodland": (_words("deer fox rabbit squirrel chipmunk raccoon badger hedgehog mouse mole "
                        "owl bat moose porcupine skunk weasel stoat vole shrew elk boar"),
                 _phrases("scamper, nibble on nuts, dig, sniff the air, hide, leap, peek out, gather acorns")),
    "zoo": (_words("lion tiger elephant giraffe zebra monkey gorilla hippo rhino kangaroo koala panda "
                   "camel crocodile flamingo lemur sloth leopard cheetah meerkat ostrich chimpanzee "
                   "orangutan jaguar hyena antelope gazelle wallaby armadillo anteater tapir peacock "
                   "tortoise iguana chameleon baboon"),
            _phrases("nap in the shade, swing from the branches, splash in the water, stretch, yawn, "
                     "munch on leaves, play together")),
    "pet": (_words("dog cat puppy kitten hamster goldfish parrot guinea_pig gerbil budgie ferret "
                   "tortoiseshell_cat sheepdog poodle terrier beagle dachshund"),
            _phrases("chase their tails, play, nap in the sun, wag their tails, sniff the grass")),
    "raptor": (_words("eagle hawk"),
               _phrases("circle high above, glide on the wind, soar, perch on a rock")),
    "mountain": (_words("marmot"), _phrases("whistle, sun themselves, peek out, scamper")),
    "polar": (_words("penguin walrus polar_bear reindeer arctic_fox"),
              _phrases("slide on the ice, waddle, splash, huddle together, play in the snow")),
}
CREATURE_GROUPS = {g: (tuple(c.replace("_", " ") for c in cs), acts) for g, (cs, acts) in CREATURE_GROUPS.items()}
CREATURE_GROUP_OF = {c: g for g, (cs, _) in CREATURE_GROUPS.items() for c in cs}

# What an animal says: (verb for the narration, the sound in speech).
ANIMAL_SOUNDS = {
    "dog": ("bark", "Woof"), "puppy": ("yip", "Yip"), "cat": ("meow", "Meow"),
    "kitten": ("mew", "Mew"), "cow": ("moo", "Moo"), "calf": ("moo", "Moo"), "sheep": ("baa", "Baa"),
    "lamb": ("bleat", "Baa"), "goat": ("bleat", "Maa"), "duck": ("quack", "Quack"),
    "duckling": ("peep", "Peep"), "pig": ("oink", "Oink"), "piglet": ("squeal", "Oink"),
    "horse": ("neigh", "Neigh"), "pony": ("neigh", "Neigh"), "donkey": ("bray", "Hee haw"),
    "lion": ("roar", "Roar"), "tiger": ("growl", "Grr"), "owl": ("hoot", "Hoo"),
    "frog": ("croak", "Ribbit"), "toad": ("croak", "Croak"), "bee": ("buzz", "Buzz"),
    "mouse": ("squeak", "Squeak"), "hamster": ("squeak", "Squeak"), "rooster": ("crow", "Cock a doodle doo"),
    "hen": ("cluck", "Cluck"), "chicken": ("cluck", "Cluck"), "chick": ("cheep", "Cheep"),
    "turkey": ("gobble", "Gobble"), "goose": ("honk", "Honk"), "crow": ("caw", "Caw"),
    "dove": ("coo", "Coo"), "pigeon": ("coo", "Coo"), "robin": ("chirp", "Tweet"),
    "sparrow": ("chirp", "Cheep"), "parrot": ("squawk", "Hello"), "seagull": ("squawk", "Squawk"),
    "monkey": ("chatter", "Ooh ooh"), "elephant": ("trumpet", "Toot"), "wolf": ("howl", "Ahoo"),
    "cricket": ("chirp", "Cheep"), "bear": ("growl", "Grr"), "seal": ("bark", "Arf"),
}

# ============================================================================= things
COLORS = _words("""
red blue green yellow purple pink orange white black brown gray silver golden turquoise crimson
scarlet violet navy teal lavender cream maroon rosy tan copper bronze emerald sapphire indigo
coral lilac mustard plum peach lemon mint ivory charcoal
""")
PATTERNS = _words("""
shiny sparkly striped spotted fluffy fuzzy furry soft smooth bumpy squishy bouncy glittery
wooden knitted woolly velvet checkered stripy speckled plastic tin
""")

# A hero's special object: a thing a child can own, carry and lose.
OBJECTS = _phrases("""
ball, kite, teddy bear, toy car, toy boat, doll, hat, scarf, book, drum, whistle, marble, blanket,
robot, puzzle, toy train, bucket, umbrella, balloon, jump rope, wagon, bike, scooter, sled,
music box, snow globe, lantern, flashlight, backpack, lunchbox, spinning top, pinwheel, rocket,
toy plane, toy truck, toy tractor, toy dinosaur, stuffed rabbit, puppet, rag doll, tea set,
xylophone, harmonica, flute, guitar, ukulele, tambourine, trumpet, bell, compass, map, telescope,
magnifying glass, jar, seashell, feather, pebble, coin, ribbon, bracelet, necklace, ring, crown,
wand, cape, mask, kazoo, yo yo, rattle, rocking horse, dollhouse, toy castle, jigsaw puzzle,
paintbrush, crayon, notebook, diary, sketchbook, storybook, picture book, beanbag, frisbee,
boomerang, slingshot, bow, badge, medal, trophy, button, glove, mitten, sock, slipper, boot,
sneaker, sun hat, raincoat, sweater, cap, bonnet, helmet, hair clip, comb, mirror, purse, wallet,
piggy bank, watch, clock, alarm clock, lamp, candle, basket, box, suitcase, blanket, pillow,
cushion, quilt, rug, toy drum, toy robot, wind chime, bubble wand, water bottle, cup, mug, bowl,
spoon, fishing rod, net, shovel, rake, watering can, flowerpot, bird feeder, toy boat, sailboat,
toy rocket, toy horse, toy bus, fire truck, race car, toy soldier, toy farm, tea cup, teapot,
marble bag, bag of marbles, kaleidoscope, camera, radio, walkie talkie, stopwatch, binoculars,
hula hoop, skipping rope, paper crown, sticker book, coloring book, toy piano, toy telephone, toy kitchen,
building set, bouncy ball, rubber duck, toy penguin, plush elephant, knitted owl, wooden spoon,
tiara, top hat, feather boa, locket, brooch, keychain, lucky charm, four-leaf clover pin, snowboard,
skateboard, roller skates, ice skates, tricycle, kick scooter, paddle, beach ball, water pistol,
bubble pipe, harmonica case, violin, banjo, maraca, triangle, recorder, accordion, tuba, cymbal,
microscope, globe, abacus, chalkboard, slate, pencil case, fountain pen, ruler, eraser, glue stick,
magnet, flashlight, lantern, compass, spyglass, treasure map, treasure chest, jewelry box, music stand,
origami crane, paper plane, pom pom, sock puppet, finger puppet, marionette, rocking chair, stool,
hammock, sleeping bag, tent, lunch bag, thermos, picnic basket, sandbox pail, seed packet, bird whistle
""")
OBJECTS = tuple(dict.fromkeys(o for o in OBJECTS if o not in (
    "yo yo", "bag of marbles", "marble bag", "binoculars", "walkie talkie", "four-leaf clover pin", "sandbox pail")))
OBJECT_FEATURES = _phrases("""
with a long tail, with tiny bells on it, with a silver star on it, with a big bow, with white spots,
with gold stripes, with a smiling face, with a little handle, with shiny buttons, with a tassel,
with a heart on the front, with a rainbow on it, with a moon and stars on it, with a crooked handle,
with a small crack, with its name written on it, with a soft fuzzy edge, with bright patches,
with a loud squeak, with a hidden pocket, with a blue ribbon, with flowers painted on it
""")
OCCASIONS = _phrases("""
for her birthday, for his birthday, for the holidays, when the first snow fell,
after a long trip, on the last day of school, when the baby was born, at the summer fair,
when they moved to their new home, for being so brave at the doctor's
""")

CLOTHES = _phrases("""
coat, jacket, raincoat, sweater, jumper, hoodie, vest, scarf, hat, cap, beanie, sun hat, mittens,
gloves, boots, rain boots, sandals, sneakers, socks, slippers, pajamas, dress, skirt, shorts,
overalls, apron, cloak, cape, earmuffs, swimsuit, goggles, sunglasses, wellies, bow tie, belt,
cardigan, poncho, tutu, leggings, tights, trousers, jeans, blouse, shirt, waistcoat, nightgown,
dressing gown, bobble hat, baseball cap, headband, hair ribbon, sun visor, snow boots, mittens
""")
WARM_CLOTHES = _phrases("coat, jacket, sweater, scarf, hat, beanie, mittens, gloves, boots, earmuffs")

FOODS_COUNT = _words("""
apple banana pear peach plum orange lemon cherry grape strawberry blueberry raspberry melon
kiwi mango pineapple carrot potato tomato cucumber pumpkin cookie cupcake muffin pancake
waffle pie sandwich cracker biscuit bun roll donut bagel pretzel tart lollipop nut acorn berry
raisin dumpling taco meatball sausage egg olive radish turnip plum coconut fig apricot date
gingerbread_man cinnamon_roll corn_cob jelly_bean gumdrop cherry_tomato rice_cake
avocado grapefruit lime tangerine nectarine papaya cantaloupe gooseberry cranberry blackberry
mushroom onion pepper zucchini eggplant beet parsnip leek celery_stick sweet_potato chestnut
almond peanut walnut hazelnut cashew pistachio scone crumpet brownie macaroon cookie_bar jam_tart
cream_puff eclair pastry pie_slice tortilla pita croissant baguette pickle cheese_stick hot_dog
hamburger burrito noodle_cup fish_cake meat_pie spring_roll sushi_roll rice_ball pear_drop
candy_cane marshmallow toffee_apple caramel cupcake_bite fruit_bar granola_bar peppermint
""")
FOODS_COUNT = tuple(dict.fromkeys(f.replace("_", " ") for f in FOODS_COUNT))
FOODS_MASS = _phrases("""
bread, toast, cheese, butter, jam, honey, soup, stew, rice, noodles, pasta, pizza, milk, juice,
lemonade, tea, cocoa, cereal, oatmeal, porridge, yogurt, ice cream, popcorn, candy, chocolate,
pudding, jelly, syrup, salad, corn, peas, beans, broccoli, cabbage, spinach, watermelon, fudge,
toffee, cake, applesauce, hot chocolate, fruit salad, carrot cake, banana bread, apple pie,
pumpkin pie, peanut butter, cornbread, mashed potatoes, scrambled eggs, tomato soup, berry jam,
custard, gravy, lasagna, spaghetti, macaroni, chili, curry, risotto, couscous, granola, muesli,
cottage cheese, cream cheese, whipped cream, maple syrup, lemon curd, marmalade, hummus, guacamole,
pea soup, chicken soup, vegetable stew, corn soup, fried rice, fish pie, shepherd's pie, omelet,
french toast, cinnamon toast, garlic bread, rye bread, apple crumble, rice pudding, fruit jelly,
hot cocoa, orange juice, apple juice, grape juice, milkshake, smoothie, iced tea, sparkling water
""")
TASTES = _words("""
sweet yummy tasty delicious fresh lovely good wonderful scrumptious perfect special nice
""")

# ============================================================================= nature and places
TREES = _words("oak maple pine willow birch elm fir cedar chestnut beech spruce poplar aspen "
               "walnut sycamore hawthorn magnolia linden alder hazel rowan larch cypress redwood juniper")
FLOWERS = _phrases("""
tulip sunflower dandelion bluebell buttercup poppy clover marigold lavender orchid pansy
carnation peony snowdrop primrose crocus daffodil petunia foxglove thistle honeysuckle rose
geranium hyacinth cornflower zinnia cosmos aster dahlia freesia gardenia hibiscus
lupin sweet_pea bluebonnet cowslip
""".replace(" ", ",").replace("\n", ","))
FLOWERS = tuple(f.replace("_", " ") for f in FLOWERS)
WEATHER_ADJ = {
    "sunny": _words("sunny bright warm golden clear hot cloudless"),
    "windy": _words("windy breezy blustery gusty wild cool"),
    "rainy": _words("rainy wet drizzly gray soggy misty damp"),
    "snowy": _words("snowy frosty icy chilly freezing cold white"),
    "cloudy": _words("cloudy gray gloomy dull foggy cool quiet"),
}
SEASONS = _words("spring summer autumn fall winter")
DAYS = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
DAYPARTS = _words("morning afternoon evening")

# Settings: (name, preposition, landmarks, creatures seen there, things to do there as base-verb
# phrases). Landmarks are noun phrases without an article; no landmark starts with another
# setting's name (a test checks that a story names only its own setting).
SETTINGS = (
    ("park", "at", _phrases("bench, slide, swing set, fountain, big oak tree, duck pond, sandbox, seesaw, "
                            "flower bed, picnic table, bandstand, merry-go-round, hedge, lamppost"),
     _words("duck pigeon squirrel dog sparrow butterfly bee robin goose"),
     _phrases("play on the swings, feed the ducks, fly kites, roll down the grassy hill, play catch")),
    ("forest", "in", _phrases("old log, hollow tree, mossy rock, tall pine, fallen branch, stream, "
                              "bramble bush, mushroom ring, fern patch, tree stump, wooden bridge, badger hole"),
     _words("deer fox rabbit squirrel owl hedgehog woodpecker chipmunk badger beetle"),
     _phrases("collect pine cones, follow the path, look for mushrooms, build a little hut of sticks, listen to the birds")),
    ("beach", "at", _phrases("sand dune, rock pool, big rock, lifeguard tower, beach hut, striped umbrella, "
                             "wooden pier, pile of seaweed, driftwood log, ice cream stand, old anchor"),
     _words("crab seagull starfish seal pelican jellyfish shrimp dolphin"),
     _phrases("build sandcastles, collect seashells, splash in the waves, dig in the sand, look in the rock pools")),
    ("garden", "in", _phrases("rose bush, flower pot, vegetable patch, bird bath, wheelbarrow, garden shed, "
                              "sunflower patch, compost heap, stone wall, bean patch, greenhouse, garden gate"),
     _words("bee butterfly ladybug snail worm robin caterpillar frog wren"),
     _phrases("water the flowers, pick beans, dig for worms, plant seeds, smell the roses")),
    ("farm", "on", _phrases("barn, haystack, duck pond, old cart, chicken coop, pigpen, stable, tractor shed, "
                            "fence, water trough, apple orchard, cornfield, muddy lane"),
     _words("cow sheep goat pig horse hen rooster duck donkey lamb calf piglet goose turkey"),
     _phrases("feed the hens, collect eggs, pet the lambs, ride on the hay wagon, brush the pony")),
    ("meadow", "in", _phrases("long grass, round rock, wooden fence, old well, wildflower patch, lone tree, "
                              "little stream, hay bale, stone wall, clover patch, anthill"),
     _words("butterfly bee rabbit grasshopper ladybug mouse sparrow cricket deer"),
     _phrases("pick wildflowers, chase butterflies, make flower chains, lie in the grass, watch the clouds")),
    ("playground", "at", _phrases("seesaw, sandbox, climbing frame, tall slide, climbing bar, spinning wheel, "
                                  "tire swing, rope bridge, little playhouse, bench, drinking fountain"),
     _words("pigeon sparrow squirrel dog crow butterfly"),
     _phrases("go down the slide, swing on the monkey bars, play tag, dig in the sandbox, spin on the wheel")),
    ("backyard", "in", _phrases("porch, shed, vegetable patch, apple tree, picnic table, clothesline, "
                                "tree house, sandpit, woodpile, hammock, paddling pool, doghouse"),
     _words("robin squirrel cat dog bee butterfly snail worm sparrow"),
     _phrases("jump through the sprinkler, play on the swing, dig in the dirt, have a picnic, hang up the washing")),
    ("river", "by", _phrases("wooden bridge, smooth stone, reed bed, old rowboat, willow tree, sandy bank, "
                             "stepping stone, fishing dock, waterfall, beaver dam, muddy bank"),
     _words("duck frog fish heron otter beaver dragonfly swan turtle"),
     _phrases("skip stones, dip their toes in the water, watch the fish, float little boats, sit on the bank")),
    ("library", "at", _phrases("reading corner, tall bookshelf, big window, soft armchair, front desk, "
                               "globe, story rug, picture book shelf, map on the wall, window seat"),
     _words("goldfish parrot hamster"),
     _phrases("read picture books, listen to stories, look at maps, find books about animals, do puzzles")),
    ("zoo", "at", _phrases("lion house, monkey cage, elephant pool, giraffe tower, penguin pond, reptile house, "
                           "gift shop, snack stand, petting pen, bird house, big gate"),
     _words("lion tiger elephant giraffe zebra monkey penguin kangaroo flamingo panda"),
     _phrases("watch the monkeys, feed the goats, see the penguins, ride the little train, look at the lions")),
    ("lake", "by", _phrases("boat dock, sandy shore, tall reed bed, waterlily patch, old boathouse, big flat rock, "
                            "picnic spot, little island, rowing boat, pine tree"),
     _words("duck swan frog fish heron goose dragonfly turtle otter"),
     _phrases("paddle a canoe, skip stones, fish from the dock, swim near the shore, feed the swans")),
    ("market", "at", _phrases("fruit stall, flower stall, cheese stall, bread stand, big clock, fountain, "
                              "toy stall, bread cart, striped awning, stack of crates"),
     _words("pigeon sparrow dog cat"),
     _phrases("buy fresh bread, choose apples, smell the flowers, taste the cheese, listen to the music")),
    ("orchard", "in", _phrases("apple tree, pear tree, ladder, wooden crate, old wall, beehive, "
                               "cherry tree, plum tree, little path, hay cart"),
     _words("bee sparrow robin squirrel butterfly ladybug"),
     _phrases("pick apples, fill baskets with pears, climb the ladder, taste the cherries, rest in the shade")),
    ("hill", "on", _phrases("big boulder, lone pine tree, stone wall, grassy slope, old windmill, "
                            "sheep path, bench at the top, rocky ledge, patch of heather"),
     _words("sheep goat rabbit hawk crow deer"),
     _phrases("roll down the grassy slope, fly kites, look at the town below, have a picnic, watch the sunset")),
    ("snowy field", "in", _phrases("snowman, frozen pond, sled hill, pine tree, snow fort, icicles on the fence, "
                                   "snowdrift, wooden gate, old barn"),
     _words("rabbit fox robin deer owl"),
     _phrases("build a snowman, ride sleds, make snow angels, have a snowball fight, skate on the frozen pond")),
    ("school", "at", _phrases("classroom, art room, music room, lunch hall, coat hook, reading nook, "
                              "school garden, play yard fence, teacher's desk, class pet cage, cubby shelf"),
     _words("hamster goldfish sparrow pigeon"),
     _phrases("paint pictures, sing songs, learn numbers, play games at recess, read stories")),
    ("seaside town", "in", _phrases("sea wall, white lighthouse, fishing boat, ice cream shop, pier, "
                                     "rock pool, boat ramp, bathing hut, lobster pot"),
     _words("seagull crab seal pelican fish"),
     _phrases("watch the boats, eat ice cream, walk along the pier, look for crabs, visit the lighthouse")),
    ("campsite", "at", _phrases("tent, campfire, picnic table, log pile, little stream, tall pine, "
                                "hammock, canoe, old trail sign, lantern post"),
     _words("owl squirrel deer raccoon firefly chipmunk frog"),
     _phrases("roast marshmallows, look at the stars, tell stories, go on a hike, fish in the stream")),
    ("pumpkin patch", "at", _phrases("scarecrow, hay bale, wheelbarrow, big pumpkin, corn maze, wooden fence, "
                                      "tractor, apple cider stand, vine patch"),
     _words("crow mouse rabbit squirrel"),
     _phrases("pick pumpkins, walk through the corn maze, ride on the hay wagon, paint little pumpkins")),
    ("island", "on", _phrases("palm tree, sandy cove, big rock, old shipwreck, tide pool, grassy hill, "
                              "wooden jetty, coconut grove, lookout point"),
     _words("parrot crab turtle seagull dolphin starfish"),
     _phrases("look for treasure, swim in the cove, climb the hill, watch the turtles, build a raft")),
    ("bakery", "at", _phrases("big oven, flour sack, counter, window, cake stand, bread shelf, mixing table, "
                              "cookie jar, back door, little bell"),
     _words("cat mouse sparrow"),
     _phrases("knead the dough, smell the fresh bread, decorate cupcakes, watch the oven, taste the cookies")),
    ("toy shop", "at", _phrases("front window, puzzle shelf, doll corner, train table, counter, big teddy bear, "
                                "kite wall, marble jar, rocking horse, shelf of games"),
     _words("cat parrot goldfish"),
     _phrases("look at the trains, try the puzzles, wind up the music boxes, play with the puppets")),
    ("museum", "at", _phrases("dinosaur skeleton, big hall, old ship, stone statue, glass case, map room, "
                              "gift shop, space rocket, mummy case, staircase"),
     _words("pigeon sparrow"),
     _phrases("look at the dinosaur bones, read the signs, see the old ship, draw the statues")),
    ("pond", "by", _phrases("waterlily patch, tall reed bed, flat stone, little dock, willow tree, mossy log, "
                            "stepping stone, cattail patch, muddy edge"),
     _words("frog duck dragonfly fish turtle newt heron tadpole toad"),
     _phrases("catch tadpoles, watch the frogs, sail paper boats, throw bread to the ducks")),
    ("mountain", "on", _phrases("rocky path, big cave, waterfall, snowy peak, old cabin, pine forest, "
                                "wooden sign, lookout rock, little lake, rope bridge"),
     _words("goat eagle deer marmot hawk chipmunk"),
     _phrases("climb the trail, look at the valley, splash in the cold lake, count the peaks")),
    ("fair", "at", _phrases("big wheel, carousel, cotton candy stand, prize booth, tent, bumper car ride, "
                            "ticket booth, little train, pony ring, bandstand"),
     _words("pony pigeon duck goat"),
     _phrases("ride the carousel, win a prize, eat cotton candy, watch the clowns, ride the big wheel")),
    ("kitchen", "in", _phrases("table, cupboard, oven, sink, fridge, window sill, cookie jar, pantry, "
                               "big stove, shelf of spices, high chair"),
     _words("cat dog mouse"),
     _phrases("bake cookies, make pancakes, wash the dishes, stir the soup, set the table")),
    ("attic", "in", _phrases("old trunk, dusty box, round window, rocking chair, coat rack, wardrobe, "
                             "pile of books, broken lamp, toy chest, ladder"),
     _words("mouse spider moth bat"),
     _phrases("look through old boxes, try on old hats, read old letters, find old toys")),
    ("harbor", "at", _phrases("fishing boat, white lighthouse, big ship, coil of rope, crab pot, wooden dock, "
                              "bell buoy, fish market, harbor wall"),
     _words("seagull seal pelican crab fish"),
     _phrases("watch the boats come in, count the sails, wave at the sailors, buy fresh fish")),
)
SETTINGS += (
    ("swimming pool", "at", _phrases("diving board, shallow end, deep end, water slide, lifeguard chair, "
                                     "changing hut, poolside bench, inflatable whale, ladder, sun lounger"),
     _words("sparrow pigeon dragonfly"),
     _phrases("splash in the shallow end, jump off the side, float on their backs, race across the pool")),
    ("ice rink", "at", _phrases("rink wall, skate rental desk, snack bar, big clock, bench, frozen pond edge, "
                                "hot cocoa stand, lamp post, penguin skating aid"),
     _words("sparrow pigeon robin"),
     _phrases("glide across the ice, spin in circles, hold hands and skate, drink hot cocoa")),
    ("train station", "at", _phrases("platform, ticket office, big clock, waiting room, footbridge, "
                                     "luggage trolley, signal box, flower tub, station cafe"),
     _words("pigeon sparrow starling"),
     _phrases("watch the trains, count the carriages, wave at the driver, read the timetable")),
    ("vegetable garden", "in", _phrases("cabbage patch, bean patch, potato patch, tomato plant, compost bin, "
                                        "water barrel, scarecrow, cold frame, tool shed, strawberry bed"),
     _words("snail slug worm robin bee caterpillar ladybug"),
     _phrases("dig potatoes, pick peas, water the lettuce, pull up carrots, look for snails")),
    ("circus", "at", _phrases("big top, ring, trapeze, front bench, popcorn cart, caravan, tightrope, "
                              "juggling table, clown car, ticket stand"),
     _words("pony poodle seal parrot"),
     _phrases("watch the jugglers, laugh at the clowns, eat popcorn, cheer for the acrobats")),
    ("castle", "at", _phrases("drawbridge, moat, tall tower, courtyard, great hall, stone stairway, "
                              "old armor, banner, secret passage, castle garden"),
     _words("raven pigeon swan bat crow"),
     _phrases("climb the tower, walk along the walls, look at the old armor, play knights")),
    ("lighthouse", "at", _phrases("spiral staircase, lamp room, rocky point, keeper's cottage, foghorn, "
                                  "white railing, tide pool, stone path, flagpole"),
     _words("seagull puffin seal crab"),
     _phrases("climb the spiral stairs, look out to sea, watch the ships, listen to the waves")),
    ("desert", "in", _phrases("sand dune, cactus, oasis, palm tree, rocky canyon, dry riverbed, "
                              "tall red rock, camel track, shady cave"),
     _words("camel lizard meerkat tortoise hawk"),
     _phrases("ride a camel, slide down the dunes, look for lizards, rest in the shade")),
    ("jungle", "in", _phrases("vine swing, waterfall, giant fern, muddy river, tall kapok tree, "
                              "rope bridge, rocky pool, banana tree, hollow log"),
     _words("monkey parrot sloth jaguar tapir iguana chameleon toucan"),
     _phrases("swing on the vines, listen to the parrots, look for monkeys, cross the rope bridge")),
    ("cabin", "at", _phrases("porch swing, woodpile, stone chimney, rocking chair, cozy fireplace, "
                             "bunk bed, front porch, old pump, little window"),
     _words("squirrel chipmunk owl deer raccoon"),
     _phrases("toast marshmallows, stack firewood, read by the fire, watch for deer")),
)


DWELLINGS = _phrases("house, cottage, cabin, farmhouse, apartment, bungalow, houseboat, flat, town house, "
                     "cottage with a red door, house with a round window, stone cottage, "
                     "wooden house, house with a big garden, brick house, log cabin, house on stilts, "
                     "windmill, lighthouse cottage, treehouse, caravan")
DWELLING_ADJ = _words("small little cozy tiny yellow white blue green red snug old crooked tall pretty "
                      "sunny busy quiet bright warm friendly noisy neat messy painted pink purple cheerful "
                      "funny narrow wide lovely happy")
DWELLING_NEAR = _phrases("""
near the woods, by the sea, at the end of a quiet street, on top of a hill, next to a big park,
by a little river, in a busy town, in a tiny village, near a wide lake, at the edge of a forest,
beside a sunflower field, above a bakery, on a farm, near the mountains, in a big city,
behind an old church, by a windmill, next to a train station, near an apple orchard,
at the top of a steep lane, across from a little school, by a duck pond, under a big chestnut tree,
next to a busy market, on the corner of Maple Street, at the end of a long road, beside a stream,
near a pine forest, on a sunny hillside, in a snowy valley, by a quiet canal, near the harbor
""")

FURNITURE = _phrases("""
bed, table, chair, sofa, couch, cupboard, drawer, closet, shelf, bookcase, toy box, laundry basket,
rug, cushion, curtain, desk, dresser, armchair, piano, staircase, coat rack, wardrobe, door mat
""")

HOUSEHOLD = _phrases("""
teaspoon, saucepan, kettle, teapot, colander, rolling pin, whisk, ladle, frying pan, cookie cutter,
tablecloth, napkin, candlestick, flower vase, fruit bowl, bread basket, cushion cover, lampshade,
doormat, coat hanger, laundry peg, clothespin, feather duster, broom, dustpan, mop bucket, sponge,
scrubbing brush, toothbrush, hairbrush, bath sponge, towel, bath mat, pillowcase, bedspread, alarm bell,
picture frame, photo album, calendar, shoebox, biscuit tin, button jar, sewing box, thimble, spool of thread,
knitting needles, ball of yarn, watering jug, umbrella stand, key hook, letterbox, wind-up clock
""")
VEHICLES = _phrases("bus, car, train, boat, ferry, bike, tram, truck, van, wagon, tractor, plane, canoe, sailboat, "
                    "fire engine, ice cream van, garbage truck, cement mixer, motorbike, taxi, double-decker bus, "
                    "delivery van, milk float, horse and cart, rowing boat, hot air balloon, helicopter, steamboat")

GAMES = _phrases("""
tag, hide and seek, hopscotch, leapfrog, catch, jump rope, follow the leader, red light green light,
duck duck goose, freeze tag, marbles, pretend, tug of war, musical chairs, ring around the
rosy, hot potato, sardines, treasure hunt, dress up, house, pirates, dragons, knights and castles,
shop, school, doctor, train, statues
""")
INSTRUMENTS = _words("drum flute guitar violin piano trumpet harp tuba recorder banjo cello fiddle xylophone tambourine")
SONG_TOPICS = _phrases("""
the moon, the rain, a sleepy bear, a busy bee, the sea, a little boat, a brave knight, the stars,
a happy frog, the wind, a dancing cat, a lost sock, a green dragon, a big red bus, the snow,
a hungry caterpillar, the summer sun, a silly goose, a tiny mouse, a clever fox, a flying fish,
an old oak tree, a purple cow, a brave little ant, dancing frogs, falling leaves, seven little fish,
rain on the roof, how the moon got its shine, counting stars, pirates at sea, bears in a boat,
sleepy kittens, muddy boots, snowflakes and mittens, the wheels on the bus, ducks in a row,
butterflies in spring, wobbly jelly, the brave firefighters, whales that sing, clouds like cotton,
giants who tiptoe, the busy market, a tiny teapot, a windy hilltop, twinkling lights
""")

NUMBERS = _words("two three four five six seven eight nine ten eleven twelve")

# ============================================================================= feelings and manners
FEELINGS = {
    "happy": _words("happy glad joyful cheerful delighted thrilled pleased overjoyed excited merry"),
    "sad": _words("sad upset unhappy gloomy glum miserable heartbroken downcast"),
    "scared": _words("scared afraid frightened nervous worried uneasy jumpy anxious"),
    "angry": _words("angry cross grumpy cranky annoyed huffy"),
    "surprised": _words("surprised amazed astonished puzzled confused curious"),
    "tired": _words("tired sleepy drowsy weary"),
    "calm": _words("calm peaceful relaxed cozy content"),
    "proud": _words("proud pleased"),
}
ADVERBS_MANNER = _words("""
quickly slowly quietly loudly softly gently carefully happily sadly proudly bravely kindly
patiently politely shyly eagerly excitedly nervously calmly cheerfully gladly sleepily lazily
busily neatly tightly brightly warmly sweetly playfully curiously cautiously boldly wildly
merrily joyfully hopefully anxiously silently swiftly steadily clumsily gracefully lightly
firmly tenderly cleverly wisely safely quietly gleefully lovingly carelessly briskly nimbly
thoughtfully quickly proudly boldly daintily drowsily eagerly faithfully fondly gratefully
honestly hungrily jauntily keenly loyally meekly noisily openly peacefully promptly quietly
readily sheepishly sleepily smoothly snugly speedily sternly stiffly sweetly thankfully
timidly truthfully vainly warmly wearily wildly willingly wistfully zealously cozily breathlessly
""")
ADVERBS_MANNER = tuple(dict.fromkeys(ADVERBS_MANNER))

# ============================================================================= verbs (base forms)
MOTION_VERBS = _words("""
run walk hop skip jump race dash hurry rush march stroll wander tiptoe crawl creep scramble
scurry scamper trot stomp zoom dart leap bounce twirl sprint jog amble shuffle trudge hike roam
scoot stride prance skitter gallop waddle zigzag
""")
SAD_GESTURES = _words("sigh sniffle frown pout gulp shiver")
SPEECH = {
    "say": _words("say say say explain"),
    "ask": _words("ask wonder"),
    "shout": _words("shout cry yell exclaim call squeal cheer holler"),
    "whisper": _words("whisper murmur mumble mutter"),
    "sad": _words("sob sniffle wail sigh whimper"),
    "laugh": _words("laugh giggle chuckle"),
}
HELP_ACTS = _phrases("""
carry the heavy basket, fix the broken fence, find the lost key, water the thirsty plants,
sweep the dusty porch, fold the clean laundry, pick up the fallen apples, paint the old gate,
feed the hungry hens, stack the firewood, wash the muddy boots, sort the buttons,
tidy the messy shelf, wind the big clock, rake the autumn leaves, hang the wet sheets,
untangle the fishing net, mend the torn sail, polish the silver spoons, weed the vegetable patch
""")

# Hobbies, as base verb phrases ("loved to ..." / "loved ...ing").
HOBBIES = _phrases("""
sing, draw, paint, dance, read, climb trees, build forts, bake cookies, ride a bike, fly kites,
collect stones, collect feathers, play the drum, play the piano, jump rope, skip, swim, splash in
puddles, look at the stars, count clouds, pick flowers, tell jokes, make up songs, play dress up,
build towers, do puzzles, watch birds, plant seeds, make mud pies, whistle, juggle, knit, skate,
play soccer, play catch, write stories, make paper boats, look for bugs, hum, roller skate,
blow bubbles, pretend to be a pirate, dig for treasure, play hopscotch, draw maps, fold paper birds,
stack blocks, race toy cars, feed the birds, sail toy boats, make sandcastles, play the flute,
go fishing, go camping, have tea parties, learn new words, count things, sort buttons, build robots
""")

# Openers and connectives.
OPENINGS = _phrases("""
Once upon a time, One day, One sunny morning, Long ago, One bright afternoon, Not long ago,
One warm summer day, One cold winter morning, One rainy day, One fine spring morning,
One windy autumn day, One quiet evening, One snowy morning, One crisp autumn morning,
In a land far away, Many years ago, One lazy Sunday, Early one morning, One foggy morning,
Once, in a faraway land, Not so long ago, In the days of long ago, One golden evening,
On the first day of spring, On the last day of summer, One chilly Tuesday, One busy Saturday,
One drizzly Wednesday, Once long ago, One breezy Friday, One starry night, One misty Monday,
On a hot July afternoon, In the middle of winter, Once upon a sunny day, One peaceful Sunday,
Early on a Thursday, At the start of the holidays, Late one summer evening
""")
THEN = _phrases("""
Then, Soon, After a while, A moment later, Before long, Just then, Next, After that, At once,
All of a sudden, In a little while, Right away, Then suddenly, Without a word, A little later,
Just at that moment, Quick as a wink, Bit by bit, In no time, Sure enough
""")
