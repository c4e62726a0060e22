"""Hashtag normalisation: the one rule that decides whether two tags are the same.

``#DanceForChange``, ``dance forchange`` is *not* the same tag, but ``#DanceForChange``,
``DanceForChange`` and ``danceforchange`` are: a leading ``#`` is dropped, Unicode is
NFKC-normalised and case-folded, surrounding white space is ignored.
"""

from __future__ import annotations

import re
import unicodedata

_VALID = re.compile(r"^\w+$")
MAX_HASHTAG_LENGTH = 100


def normalize_hashtag(tag: str) -> str:
    """Return the canonical form of ``tag`` (no ``#``, NFKC, case-folded); may be empty."""
    tag = tag.strip()
    if tag.startswith("#"):
        tag = tag[1:]
    return unicodedata.normalize("NFKC", tag).casefold()


def is_valid_campaign_hashtag(normalized: str) -> bool:
    """Campaign hashtags must be one word of letters, digits or ``_`` (at most 100)."""
    return bool(_VALID.match(normalized)) and len(normalized) <= MAX_HASHTAG_LENGTH
