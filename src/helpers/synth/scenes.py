"""Role-play scenes with three extra roles: background, narration and event.

Chat templates know ``system``, ``user`` and ``assistant``; story and game applications add roles of
their own. A scene here is a conversation whose first message sets the ``background`` (place, season
and a weather that fits it), followed by one to three ``narration`` or ``event`` messages in random order
(at least one event, no event twice), and an ``assistant`` reply in which the character reacts to
the *last* event and to the weather. The reply is fully determined by those segments, so a model has
to read the roles to predict it, and the order of role messages is random, so predicting the next role marker is a real
(if partly uncertain) task.

``make_scenes(n, seed)`` returns ``{"messages": [...]}`` rows, identical for identical arguments.
"""

from __future__ import annotations

import random

ROLES = ("background", "narration", "event")

_TOWNS = ("Harrow Bay", "Millford", "Eastmere", "Colton Ridge", "Saltmarsh", "Wren Hollow", "Dunmore",
          "Kestrel Point")
_RAIN, _WIND, _HEAT, _FOG, _SNOW, _CALM = (
    "Rain drums on the slate roofs.", "A cold wind comes off the sea.", "The sun is hot and the streets are quiet.",
    "Fog hides the end of every street.", "Snow lies thick on every doorstep.",
    "The air is still and smells of cut grass.")
_SEASONS = {  # season -> the weather that fits it
    "early spring": (_RAIN, _WIND, _FOG), "late spring": (_RAIN, _CALM), "midsummer": (_HEAT, _CALM),
    "early autumn": (_RAIN, _WIND, _CALM), "late autumn": (_RAIN, _WIND, _FOG), "deep winter": (_WIND, _FOG, _SNOW),
}
_WEATHER = {  # background sentence -> what the character says about it
    _RAIN: "and this rain will soak us both",
    _WIND: "so pull your coat tight against this wind",
    _HEAT: "though the heat makes everyone slow today",
    _FOG: "if we can find our way through this fog",
    _SNOW: "but mind the snow on the steps",
    _CALM: "and it is a fine calm day for it",
}
_NAMES = ("Mira", "Tobin", "Ilse", "Corran", "Nadia", "Perrin", "Ysolde", "Brann", "Lucan", "Edda")
_ACTIONS = ("walks along the quay with a basket of bread", "counts coins at the back of the shop",
            "mends a torn sail by the window", "waits at the crossroads with a lantern",
            "reads an old letter for the third time", "sweeps the steps of the chapel",
            "carries water up from the well", "sharpens a knife on a grey stone",
            "feeds the goats behind the inn", "climbs the hill to look at the harbour")
_EVENTS = {  # event sentence -> the first half of the character's reaction
    "A bell rings three times from the harbour tower.": "Three bells means the ferry is leaving early,",
    "A stranger in a red cloak knocks at the door.": "We were not expecting anyone, let the stranger in,",
    "A cart loses a wheel right outside the inn.": "That cart needs help before it blocks the road,",
    "A child runs past shouting that the river has flooded.": "If the river is over its banks, move the animals,",
    "A letter with a black seal is slipped under the door.": "A black seal is never good news, open it carefully,",
    "Every lamp in the street goes out at once.": "Someone has cut the lamp oil again, fetch the candles,",
    "A hawk lands on the windowsill and stares inside.": "A hawk that tame belongs to someone nearby,",
    "The old clock in the square stops at noon.": "The square clock has stopped, so fetch the clockmaker,",
}


def make_scenes(n: int, seed: int = 0) -> list[dict]:
    """``n`` scenes as ``{"messages": [...]}`` rows (roles: background, narration, event, assistant)."""
    rng = random.Random(seed)
    seasons, events = list(_SEASONS), list(_EVENTS)
    rows = []
    for _ in range(n):
        season = rng.choice(seasons)
        weather = rng.choice(_SEASONS[season])
        name = rng.choice(_NAMES)
        middle_roles = rng.choice((["event"], ["narration", "event"], ["event", "narration"],
                                   ["narration", "event", "event"], ["event", "narration", "event"],
                                   ["narration", "narration", "event"]))
        messages = [{"role": "background",
                     "content": f"It is {season} in {rng.choice(_TOWNS)}. {weather}"}]
        scene_events = rng.sample(events, middle_roles.count("event"))  # no event twice in one scene
        last_event = scene_events[-1]
        for role in middle_roles:
            if role == "event":
                messages.append({"role": "event", "content": scene_events.pop(0)})
            else:
                messages.append({"role": "narration", "content": f"{name} {rng.choice(_ACTIONS)}."})
        reply = f"{_EVENTS[last_event]} {_WEATHER[weather]}."
        messages.append({"role": "assistant", "content": reply})
        rows.append({"messages": messages})
    return rows
