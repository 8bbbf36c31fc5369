"""Role-play scenes with three extra roles: background, narration and event.

Chat templates know ``system``, ``user`` and ``assistant``; story and game applications add roles of
their own. A scene here is a conversation whose first message sets the ``background`` (place, time,
weather), followed by one to three ``narration`` or ``event`` messages in random order (at least one
event), and an ``assistant`` reply in which the character reacts to the *last* event and to the
weather. The reply is fully determined by those segments, so a model has to read the roles to
predict it, and the order of role messages is random, so predicting the next role marker is a real
(if partly uncertain) task.

``make_scenes(n, seed)`` returns ``{"messages": [...]}`` rows, identical for identical arguments.
"""

from __future__ import annotations

import random

ROLES = ("background", "narration", "event")

_TOWNS = ("Harrow Bay", "Millford", "Eastmere", "Colton Ridge", "Saltmarsh", "Wren Hollow", "Dunmore",
          "Kestrel Point")
_SEASONS = ("early spring", "late spring", "midsummer", "early autumn", "late autumn", "deep winter")
_WEATHER = {  # background sentence -> what the character says about it
    "Rain drums on the slate roofs.": "and this rain will soak us both",
    "A cold wind comes off the sea.": "so pull your coat tight against this wind",
    "The sun is hot and the streets are quiet.": "though the heat makes everyone slow today",
    "Fog hides the end of every street.": "if we can find our way through this fog",
    "Snow lies thick on every doorstep.": "but mind the snow on the steps",
    "The air is still and smells of cut grass.": "and it is a fine calm day for it",
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
    weathers, events = list(_WEATHER), list(_EVENTS)
    rows = []
    for _ in range(n):
        weather = rng.choice(weathers)
        name = rng.choice(_NAMES)
        middle_roles = rng.choice((["event"], ["narration", "event"], ["event", "narration"],
                                   ["narration", "event", "event"], ["event", "narration", "event"],
                                   ["narration", "narration", "event"]))
        messages = [{"role": "background",
                     "content": f"It is {rng.choice(_SEASONS)} in {rng.choice(_TOWNS)}. {weather}"}]
        last_event = ""
        for role in middle_roles:
            if role == "event":
                last_event = rng.choice(events)
                messages.append({"role": "event", "content": last_event})
            else:
                messages.append({"role": "narration", "content": f"{name} {rng.choice(_ACTIONS)}."})
        reply = f"{_EVENTS[last_event]} {_WEATHER[weather]}."
        messages.append({"role": "assistant", "content": reply})
        rows.append({"messages": messages})
    return rows
