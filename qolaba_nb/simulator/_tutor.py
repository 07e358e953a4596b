"""Hand-written answers for the prompts the project ships (data/prompts, the notebooks,
the tests' favourites), so that a demo against the simulator reads like a patient tutor.

Each entry: a pattern (matched against the normalised prompt: lower case, punctuation
dropped, spaces collapsed) and several variants, plainest first. ``_text.answer_text``
picks a variant with the same sampler as its word choices: temperature 0 always takes the
first, higher temperatures wander further down the list. ``{0}``, ``{1}``... are the
pattern's groups. A variant may be a function of (groups, conversation) for answers that
depend on what was said before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Variant = str | Callable[[tuple[str, ...], Sequence[Any]], str]


@dataclass(frozen=True, slots=True)
class Answer:
    pattern: re.Pattern[str]
    variants: tuple[Variant, ...]


def normalise(prompt: str) -> str:
    text = re.sub(r"[^\w\s{}]", " ", prompt.lower())
    return " ".join(text.split())


# --------------------------------------------------------------------------- rivers

RIVERS = {
    "europe": [("Danube", 2850), ("Rhine", 1230), ("Volga", 3530), ("Loire", 1006)],
    "asia": [("Yangtze", 6300), ("Ganges", 2525), ("Mekong", 4900), ("Yellow River", 5464)],
    "africa": [("Nile", 6650), ("Congo", 4700), ("Niger", 4180), ("Zambezi", 2574)],
    "south america": [
        ("Amazon", 6400),
        ("Paraná", 4880),
        ("Orinoco", 2140),
        ("São Francisco", 2830),
    ],
    "north america": [
        ("Mississippi", 3730),
        ("Missouri", 3767),
        ("Yukon", 3190),
        ("Colorado", 2330),
    ],
    "australia": [("Murray", 2508), ("Darling", 1472), ("Murrumbidgee", 1485)],
    "oceania": [("Murray", 2508), ("Darling", 1472), ("Murrumbidgee", 1485)],
}
_ALL_RIVERS = {name: km for rivers in RIVERS.values() for name, km in rivers}


def _three_rivers(groups: tuple[str, ...], _messages: Sequence[Any], style: int) -> str:
    where = groups[0] if groups else "europe"
    rivers = RIVERS.get(where, RIVERS["europe"])
    picked = rivers[style % len(rivers) :] + rivers[: style % len(rivers)]
    a, b, c = picked[:3]
    place = where.title()
    if style == 0:
        return (
            f"Three rivers in {place}:\n\n"
            f"1. **{a[0]}** (about {a[1]:,} km)\n"
            f"2. **{b[0]}** (about {b[1]:,} km)\n"
            f"3. **{c[0]}** (about {c[1]:,} km)\n"
        )
    if style == 1:
        return (
            f"Here are three rivers of {place}: the **{a[0]}**, the **{b[0]}** and the "
            f"**{c[0]}**. Each has shaped the towns, trade and farming along its banks."
        )
    return (
        f"Good question for a map lesson! Try these three from {place}:\n\n"
        f"- the **{a[0]}**, roughly {a[1]:,} km long;\n"
        f"- the **{b[0]}**, roughly {b[1]:,} km;\n"
        f"- the **{c[0]}**, roughly {c[1]:,} km.\n\n"
        f"Look them up on a map and follow each one from its source to the sea."
    )


def _longest(_groups: tuple[str, ...], messages: Sequence[Any], style: int) -> str:
    earlier = " ".join(
        str(m.get("content") or "") for m in messages if m.get("role") == "assistant"
    )
    named = [(n, km) for n, km in _ALL_RIVERS.items() if n in earlier]
    if not named:
        return (
            "I am not sure which ones you mean: name a few rivers first and I will tell you "
            "which is the longest. (For the record, the Nile, at about 6,650 km, is usually "
            "counted as the longest river in the world, with the Amazon a close second.)"
        )
    name, km = max(named, key=lambda r: r[1])
    others = ", ".join(f"the {n} (~{k:,} km)" for n, k in named if n != name)
    if style == 0:
        return f"The **{name}** is the longest, at about {km:,} km; then {others}."
    return (
        f"Of those, the **{name}** wins: it runs for roughly {km:,} km. For comparison: "
        f"{others}. River lengths are estimates: they depend on where you say the source is."
    )


def _previous_question(_groups: tuple[str, ...], messages: Sequence[Any], style: int) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    if len(users) < 2:
        return (
            "This is the first message of our conversation, so there is no earlier question "
            "to recall. Each API call only knows the messages sent with it."
        )
    before = users[-2].get("content")
    text = before if isinstance(before, str) else "(a message with images)"
    if style == 0:
        return f"You asked: “{text}”"
    return f"Your previous message was: “{text}”. Want me to go back to it?"


def _gadget(groups: tuple[str, ...], _messages: Sequence[Any], style: int) -> str:
    n = int(groups[0]) if groups and groups[0].isdigit() else 0
    things = ["desk lamp", "kettle", "speaker", "charger", "thermos", "backpack", "clock"]
    good = ["tidy", "quiet", "clever", "pocket-sized", "sturdy", "solar-powered", "foldable"]
    thing, adj = things[n % len(things)], good[(n // len(things) + style) % len(good)]
    lines = [
        f"Gadget {n}: a {adj} {thing} that does one job and does it well.",
        f"Meet gadget {n}, the {adj} {thing} you will wonder how you lived without.",
        f"Gadget {n}: {adj}, simple and built to last, a {thing} for every day.",
    ]
    return lines[style % len(lines)]


def _pong(groups: tuple[str, ...], _messages: Sequence[Any], style: int) -> str:
    n = groups[0] if groups else "?"
    lines = [
        f"Pong number {n}: I am here.",
        f"Pong! (a reply to ping number {n})",
        f"Ping {n} received loud and clear: pong.",
    ]
    return lines[style % len(lines)]


_EXPLAIN = {
    "tides": (
        "Tides are the slow rise and fall of the sea, about twice a day. The Moon's gravity "
        "pulls the ocean into a bulge on the side facing it (and, by inertia, on the far "
        "side); as the Earth turns, a coast passes through both bulges. The Sun adds a "
        "smaller pull: when Sun and Moon line up we get large *spring* tides."
    ),
    "glaciers": (
        "A glacier is a river of ice. Snow that survives the summer piles up, is pressed "
        "into ice, and once thick enough it flows downhill under its own weight, a few "
        "centimetres to metres a day, grinding the rock beneath into U-shaped valleys."
    ),
    "deltas": (
        "A delta forms where a river meets the sea or a lake and slows down. Slow water "
        "cannot carry its sediment, so sand and mud settle and build new land, split by "
        "the river into branches: the Nile and Mississippi deltas are famous examples."
    ),
}


def _explain_briefly(groups: tuple[str, ...], _messages: Sequence[Any], style: int) -> str:
    topic = groups[0] if groups else ""
    text = _EXPLAIN.get(topic)
    if text is None:
        return ""  # not written: the caller falls back to the simulated reply
    if style == 0:
        return text
    return f"In brief: {text[0].lower()}{text[1:]}"


def _styled(
    fn: Callable[[tuple[str, ...], Sequence[Any], int], str], count: int
) -> tuple[Variant, ...]:
    def make(style: int) -> Variant:
        return lambda groups, messages: fn(groups, messages, style)

    return tuple(make(i) for i in range(count))


_LIGHTHOUSE_STORY = """\
On a rock at the edge of the map stood a lighthouse, and in it lived Maren, its keeper.

Every evening she climbed the hundred and twelve steps, trimmed the wick, wound the clockwork \
that turned the great lens, and wrote one line in the logbook: the weather, the ships, the \
birds. For thirty years the lines were short. *Calm. Two trawlers. Gulls.*

One autumn a storm came that the almanac had not promised. The wind took the shutters off \
the lamp room and the rain came in sideways. At midnight the clockwork jammed. The light \
stopped turning, and a fixed light, as every sailor knows, means nothing: it could be a \
house, a fire, a star.

Maren did not hesitate. She put her shoulder to the brass frame and turned the lens by \
hand, one slow revolution every twenty seconds, counting aloud so as not to drift. She \
counted through the night. Her arms burned, then went numb, then burned again.

Out in the dark, a ferry with forty passengers had lost its radio. Its captain saw a beam \
sweep past, once, twice, at the right rhythm, and knew exactly where the rock was. He \
turned north and found the harbour.

In the morning the storm had gone, as storms do, as if it had never been. Maren fixed the \
clockwork with a bent nail and a drop of oil. Then she opened the logbook and, for the \
first time in thirty years, wrote a long entry. It ended: *Turned the light by hand. \
Ferry safe. Gulls.*
"""

ANSWERS: tuple[tuple[str, tuple[Variant, ...]], ...] = (
    # ---- the notebooks
    (
        r"what is the capital of france",
        (
            "The capital of France is **Paris**. It is also the country's largest city, on "
            "the river Seine, and has been the seat of its government for most of the last "
            "thousand years.",
            "**Paris.** Besides being the capital, it is France's biggest city (over two "
            "million people in the city itself, about twelve million in the wider region).",
            "That would be **Paris**, on the Seine: home of the government, the Louvre and "
            "the Eiffel Tower, and the largest city in France by a long way.",
        ),
    ),
    (
        r"(?:tell me about|what are) rivers",
        (
            "A **river** is fresh water flowing downhill in a channel, from a *source* "
            "(a spring, a lake, melting snow) to a *mouth* at the sea, a lake or another "
            "river.\n\nA few things worth knowing:\n\n"
            "- Rivers are fed by rain and snow across their whole **drainage basin**.\n"
            "- They carry sediment, carving valleys upstream and building plains and "
            "deltas downstream.\n"
            "- The longest are the **Nile** (~6,650 km) and the **Amazon** (~6,400 km); the "
            "Amazon carries by far the most water.\n",
            "Rivers are the planet's plumbing. Water that falls as rain or snow gathers into "
            "streams, streams join into rivers, and rivers run to the sea, about 37,000 "
            "cubic kilometres of it every year. On the way they cut valleys, spread fertile "
            "silt and gave most early cities a place to grow: think of the Nile, the Tigris "
            "and Euphrates, the Indus and the Yellow River.",
            "Think of a river as a conveyor belt. Near its **source** it is steep and fast "
            "and digs into rock; in its middle course it winds in **meanders**; near its "
            "**mouth** it slows and drops the mud it carried, sometimes building a delta. "
            "If you want to go further, pick one river and follow it on a map from source "
            "to sea.",
        ),
    ),
    (
        r"(?:hello|hi|hey)",
        (
            "Hello! I'm a simulated model running on your own machine, so this chat costs "
            "nothing. Ask me something, or try the prompts in `data/prompts`.",
            "Hi there! What would you like to learn about today?",
            "Hello! Ready when you are: ask a question, or paste an image and ask about it.",
        ),
    ),
    (
        r"name three rivers in (europe|asia|africa|south america|north america|australia|oceania)",
        _styled(_three_rivers, 3),
    ),
    (
        r"name a river",
        (
            "The **Danube**, which flows through ten countries.",
            "The **Nile**.",
            "How about the **Amazon**, the river that carries the most water?",
        ),
    ),
    (r"which of them is the longest", _styled(_longest, 2)),
    (
        r"tell me a (?:very )?long story about a lighthouse",
        (_LIGHTHOUSE_STORY, _LIGHTHOUSE_STORY.replace("Maren", "Ilse")),
    ),
    (
        r"suggest a name for a cat caf[eé]",
        (
            "How about **The Purring Bean**? It says *coffee* and *cats* in three words.",
            "**Whisker & Whisk**: a name that works for the coffee and the cakes.",
            "Try **Café Meowlé**, or, for something calmer, **The Quiet Paw**.",
        ),
    ),
    (r"explain (tides|glaciers|deltas) briefly", _styled(_explain_briefly, 2)),
    (
        r"write a one line product description for gadget number (\d+)",
        _styled(_gadget, 3),
    ),
    (
        r"explain how rivers shape valleys",
        (
            "Rivers shape valleys by **erosion**: the water, and above all the sand and "
            "stones it carries, wears away the bed and banks. In the steep upper course the "
            "river cuts down, making a narrow **V-shaped valley**. Further down it cuts "
            "sideways, swinging in meanders that widen the valley floor. Over thousands of "
            "years the result can be as dramatic as the Grand Canyon.",
            "Picture sandpaper made of water. A fast river drags pebbles along its bed and "
            "they scrape the rock deeper every flood: that is **vertical erosion**, and it "
            "makes steep V-shaped valleys. Where the land flattens, the river meanders and "
            "eats into its banks (**lateral erosion**), so the valley widens into a flat "
            "floodplain.",
            "Three steps, repeated for a very long time:\n\n1. **Erosion**: moving water and "
            "the rock fragments it carries grind the channel deeper.\n2. **Weathering**: "
            "frost and rain loosen the valley sides, which slide into the river.\n3. "
            "**Transport**: the river carries that material away, so the valley keeps its "
            "V shape while it deepens.\n",
            "Valleys are what is left when a river has spent a few million years taking the "
            "landscape to the sea, grain by grain. Steep young rivers saw straight down; old "
            "slow ones wander and widen. Ice can take over later: a glacier turns a V-shaped "
            "river valley into a U.",
        ),
    ),
    # ---- data/prompts/everyday.jsonl
    (
        r"explain in two sentences why the sky is blue",
        (
            "Sunlight is a mix of colours, and the molecules of the air scatter short (blue) "
            "wavelengths far more than long (red) ones: this is *Rayleigh scattering*. So "
            "blue light reaches our eyes from every direction of the sky, and the sky looks "
            "blue.",
            "Air molecules scatter blue light about five times more strongly than red light. "
            "That scattered blue comes at us from all over the sky, while at sunset the light "
            "crosses so much air that the blue is scattered away and reds remain.",
            "Because of Rayleigh scattering: the shorter the wavelength, the more the air "
            "scatters it, so blue light is bounced all around the sky. (Violet scatters even "
            "more, but the Sun sends less of it and our eyes are less sensitive to it.)",
        ),
    ),
    (
        r"summarise the water cycle for a ten year old",
        (
            "The water cycle is how water travels around our planet, again and again:\n\n"
            "1. **Evaporation**: the Sun warms seas and lakes, and water rises as invisible "
            "vapour.\n2. **Condensation**: high up it cools and forms tiny droplets: "
            "clouds.\n3. **Precipitation**: the droplets join up and fall as rain or snow.\n"
            "4. **Collection**: the water runs into rivers, lakes and the sea, and it all "
            "starts again.\n",
            "Imagine the same water going on a never-ending trip. The Sun heats the sea, the "
            "water floats up as vapour, turns into clouds, falls as rain, runs down rivers "
            "back to the sea, and then does it all over again. The water you drink today may "
            "once have been rain on a dinosaur!",
        ),
    ),
    (
        r"write a four line poem about a lighthouse keeper",
        (
            "He climbs the stair when daylight fails,\nand trims the flame for passing "
            "sails;\nno ship will know his name or face,\nbut every one comes home by grace.",
            "Alone she keeps the turning light,\na steady heart against the night;\nthe sea "
            "may roar, the storm may keep,\nher lamp stays on while sailors sleep.",
            "Salt on the glass and wind in the tower,\nhe counts the beams, hour after "
            "hour;\nfar out a captain, lost and grey,\nsees one white sweep and finds his way.",
        ),
    ),
    (
        r"suggest three names for a neighbourhood bakery that sells sourdough",
        (
            "1. **The Rising Loaf**\n2. **Crumb & Crust**\n3. **Mother Dough**, after the "
            "sourdough starter\n",
            "- **Slow Rise Bakery**: sourdough takes its time, and proud of it\n- **The Wild "
            "Yeast**\n- **Corner Crust**, for a true neighbourhood shop\n",
            "How about **Leaven Street**, **The Daily Starter** or **Knead & Nook**?",
        ),
    ),
    (
        r"what should i check before buying a second hand bicycle",
        (
            "A quick checklist:\n\n- **Frame**: no cracks, dents or rust, especially around "
            "the joints.\n- **Size**: stand over it; you want a few centimetres of clearance.\n"
            "- **Brakes**: they bite firmly and the pads are not worn flat.\n- **Drivetrain**: "
            "the chain is not rusty or stretched, gears shift cleanly.\n- **Wheels**: spin "
            "them; they run true and the bearings have no play.\n- **Tyres**: no cracks.\n- "
            "**Paperwork**: ask for a receipt or the frame number, to be sure it is not "
            "stolen.\n",
            "Take it for a ride! Then look at the frame for cracks and rust, squeeze the "
            "brakes, run through all the gears, spin the wheels to see they are straight, and "
            "check the frame number against a stolen-bike register before you pay.",
        ),
    ),
    (
        r"write a python function that returns the n th fibonacci number",
        (
            "Here is an iterative version: fast, and no recursion limit.\n\n```python\n"
            'def fibonacci(n: int) -> int:\n    """The n-th Fibonacci number, with '
            'fibonacci(0) == 0 and fibonacci(1) == 1."""\n    if n < 0:\n        raise '
            'ValueError("n must be >= 0")\n    a, b = 0, 1\n    for _ in range(n):\n'
            "        a, b = b, a + b\n    return a\n```\n\nFor example, `fibonacci(10)` "
            "returns `55`.\n",
            "A short recursive version with memoisation:\n\n```python\nfrom functools import "
            "cache\n\n\n@cache\ndef fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) "
            "+ fib(n - 2)\n```\n\n`@cache` remembers earlier results, so this runs in linear "
            "time instead of exponential. For very large `n`, prefer a loop: Python limits "
            "recursion depth.\n",
        ),
    ),
    (
        r"how many minutes are there in a week show the calculation",
        (
            "There are **10,080 minutes** in a week:\n\n$$7 \\times 24 \\times 60 = "
            "10\\,080$$\n\n7 days, 24 hours a day, 60 minutes an hour.\n",
            "Step by step:\n\n- 1 day = 24 hours = 24 × 60 = **1,440** minutes\n- 1 week = 7 "
            "days = 7 × 1,440 = **10,080** minutes\n",
        ),
    ),
    (
        r"translate where is the railway station into french and spanish",
        (
            "- French: **Où est la gare ?**\n- Spanish: **¿Dónde está la estación de tren?**\n",
            "French: *Où se trouve la gare ?* (or simply *Où est la gare ?*)\n\nSpanish: "
            "*¿Dónde está la estación de ferrocarril?* (in everyday speech: *la estación de "
            "tren*)",
        ),
    ),
    # ---- data/prompts/edge_cases.jsonl
    (
        r"answer with one word only what colour is a ripe banana",
        ("Yellow.", "Yellow", "yellow"),
    ),
    (
        r"reply with a json object with the keys city and country for the eiffel tower",
        (
            '{"city": "Paris", "country": "France"}',
            '```json\n{\n  "city": "Paris",\n  "country": "France"\n}\n```',
        ),
    ),
    (
        r"i have 3 apples eat one then buy two more how many apples do i have",
        (
            "You have **4 apples**: 3 − 1 = 2, then 2 + 2 = 4.",
            "Start with 3, eat one (2 left), buy two more: **4 apples**.",
            "4. (Unless you eat another one while counting.)",
        ),
    ),
    (r"what did i ask you in my previous message", _styled(_previous_question, 2)),
    (
        r"is a tomato a fruit or a vegetable give both the botanical and the cooking answer",
        (
            "**Botanically**, a tomato is a **fruit**: it grows from the flower and holds the "
            "seeds (strictly, a berry). **In the kitchen** it is treated as a **vegetable**: "
            "it is savoury and goes into salads, sauces and soups rather than desserts.",
            "Both, depending on who you ask. A botanist says fruit (a berry, even), because "
            "it develops from the flower's ovary and contains seeds. A cook says vegetable, "
            "because of how it tastes and is used. The US Supreme Court sided with the cooks "
            "in 1893 (*Nix v. Hedden*), for tax purposes.",
        ),
    ),
    (
        r"list the planets of the solar system one per line nothing else",
        (
            "Mercury\nVenus\nEarth\nMars\nJupiter\nSaturn\nUranus\nNeptune",
            "Mercury\nVenus\nEarth\nMars\nJupiter\nSaturn\nUranus\nNeptune\n",
        ),
    ),
    # ---- notebooks/06_which_model.ipynb
    (
        r"give three tips for writing a clear email",
        (
            "1. **Say what you want in the first line**: the request or the news, then the "
            "details.\n2. **One topic per email**, with a subject line that names it.\n"
            "3. **Keep it short**: short paragraphs, plain words, and a clear next step "
            "(who does what, by when).\n",
            "Put the point first (what you need and by when), stick to one subject that the "
            "subject line announces, and cut every sentence the reader does not need. Read "
            "it once aloud before sending: what you stumble over, they will too.",
            "Three habits help most:\n\n- lead with the ask;\n- use short paragraphs or a "
            'list for details;\n- end with a clear next step, such as "Could you reply by '
            'Friday?"\n',
        ),
    ),
    (
        r"what is the difference between weather and climate",
        (
            "**Weather** is what the atmosphere does on a given day in a given place: rain, "
            "sun, wind, temperature. **Climate** is the average of the weather over a long "
            "time (usually 30 years or more). Weather is your mood today; climate is your "
            "personality.",
            "Weather changes hour by hour and day by day; climate is the long-term pattern, "
            "the typical weather of a region over decades. A cold week says little about "
            "the climate; thirty years of warmer winters says a lot.",
        ),
    ),
    # ---- notebooks/05_sampling_and_errors.ipynb
    (
        r"ping number (\d+)",
        _styled(_pong, 3),
    ),
    (
        r"what s the weather in paris right now",
        (
            "I cannot look up live weather: I have no access to current data. Give me a "
            "weather tool (the `get_weather` function of the tools tutorial) and I will call "
            "it for Paris; or check a weather service such as Météo-France.",
            "I do not know the weather right now: a language model has no live data. If the "
            'request includes a weather tool, I can call it with `city="Paris"` and tell '
            "you what it returns.",
        ),
    ),
    (
        r"what colour is this square",
        (
            "I do not see a square: this message has no image. Attach one (an `image_url` "
            "part next to the text) and ask again.",
            "There is no picture in this message for me to look at. Send the square as an "
            "image part of the message and I will tell you its colour.",
        ),
    ),
)

TABLE: tuple[Answer, ...] = tuple(
    Answer(re.compile(rf"^{pattern}$"), variants) for pattern, variants in ANSWERS
)


def find(prompt: str) -> tuple[Answer, tuple[str, ...]] | None:
    """The written answer for ``prompt`` and its pattern's groups, or None."""
    key = normalise(prompt)
    for answer in TABLE:
        match = answer.pattern.match(key)
        if match is not None:
            return answer, match.groups()
    return None
