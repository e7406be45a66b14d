"""Notebook run profiles: ``smoke`` (CI, seconds), ``classroom`` (default, minutes
on a laptop CPU), ``full`` (reference numbers, GPU welcome).

    cfg = profiles.pick(PROFILE, smoke=dict(subset=500, epochs=1),
                        classroom=dict(subset=10000, epochs=5),
                        full=dict(subset=None, epochs=30))
"""
from __future__ import annotations

PROFILES = ("smoke", "classroom", "full")


def pick(profile: str, **choices):
    """The value given for ``profile``; an unknown profile raises and names the valid ones."""
    if profile not in PROFILES:
        raise ValueError(f"Unknown PROFILE {profile!r}: choose one of {', '.join(PROFILES)}.")
    missing = [p for p in PROFILES if p not in choices]
    if missing:
        raise ValueError(f"pick() needs a value for every profile; missing {missing}.")
    return choices[profile]
