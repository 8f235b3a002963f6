"""Special categories of personal data (GDPR Art. 9(1)) that no rulebook may score or use.

A name is split into word pieces at `.`, `_`, `-`, spaces and camelCase humps. A keyword
matches a whole piece (or that piece with a plural -s/-es), a phrase matches a run of
consecutive pieces; never a part of a word, so `trace` is not `race` and `european_union`
is not a trade union.
"""

from __future__ import annotations

import re

# Single words are listed only where they cannot mean something else in a credit rulebook:
# "faith" is left out (bad_faith is a legal term), "union" needs "trade"/"labour"/"member",
# "blood" needs "type" or "group" (civic.blood_donation is allowed), "sex" is a record's
# identity field, not sex life.
CATEGORIES: dict[str, str] = {  # category -> keywords and phrases, separated by "|"
    "ethnicity or race": (
        "ethnic | ethnicity | ethnic origin | race | racial | skin colour | skin color | minzu"
    ),
    "religion or belief": (
        "religion | religious | belief | worship | church | mosque | temple | synagogue"
        " | clergy | atheist | atheism | muslim | islam | islamic | christian | christianity"
        " | catholic | protestant | buddhist | buddhism | taoist | taoism | hindu | hinduism"
        " | jewish | judaism | sikh | falun gong | falungong"
    ),
    "political opinion": (
        "political | politics | ideology | ideological | dissident | dissent | vote | voting"
        " | voter | party member | party membership | party affiliation | communist"
    ),
    "health or medical data": (
        "health | healthcare | medical | medication | diagnosis | diagnoses | disease"
        " | illness | sick | sickness | clinic | clinical | hospital | hospitalisation"
        " | hospitalization | patient | prescription | disability | mental | psychiatric"
        " | psychological | hiv | pregnancy | pregnant | vaccination | vaccine | blood type"
        " | blood group"
    ),
    "sex life or sexual orientation": (
        "sexual | sexuality | sex life | homosexual | heterosexual | bisexual | gay | lesbian"
        " | transgender | lgbt | lgbtq | queer | adultery | extramarital"
    ),
    "trade-union membership": (
        "trade union | labour union | labor union | union member | union membership"
        " | unionist | unionised | unionized | tradeunion"
    ),
    "genetic data": "genetic | genetics | gene | genome | genomic | dna | genotype | hereditary",
    "biometric data": (
        "biometric | biometrics | fingerprint | facial | face match | face recognition"
        " | face scan | face id | faceprint | iris | retina | voiceprint | gait | palmprint"
    ),
}

_SEPARATORS = re.compile(r"[._\-\s/:]+")
_HUMPS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def word_pieces(name: str) -> list[str]:
    """Split a name into lower-case word pieces."""
    pieces = []
    for part in _SEPARATORS.split(name):
        pieces.extend(p.lower() for p in _HUMPS.split(part) if p)
    return pieces


def _same_word(piece: str, keyword: str) -> bool:
    return piece in (keyword, keyword + "s", keyword + "es")


def _contains(pieces: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    for i in range(len(pieces) - n + 1):
        window = pieces[i : i + n]
        if window[:-1] == list(phrase[:-1]) and _same_word(window[-1], phrase[-1]):
            return True
    return False


_PHRASES = [
    (category, tuple(keyword.split()))
    for category, keywords in CATEGORIES.items()
    for keyword in keywords.split("|")
]


def protected_category(name: str) -> str | None:
    """Return the special category a name speaks of (e.g. "religion or belief"), or None."""
    pieces = word_pieces(name)
    for category, phrase in _PHRASES:
        if _contains(pieces, phrase):
            return category
    return None
