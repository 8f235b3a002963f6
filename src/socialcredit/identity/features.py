"""Identity attributes made comparable: one normal form per field, whatever the script.

Pure: no store, no Splink. A subject's row and a record's attributes both go through
`features`, so the model compares like with like. Nothing here raises on bad input: a value
that cannot be read becomes null (the model treats it as missing) and is named in `problems`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

FEATURES = ("name", "name_latin", "birth_date", "sex", "phone", "address")

# Surnames whose reading differs from the character's everyday one (pypinyin reads 曾 as
# céng, a surname is Zēng).
_SURNAME_READINGS = dict(
    pair.split(":")
    for pair in (
        "曾:zeng 单:shan 仇:qiu 区:ou 解:xie 朴:piao 查:zha 盖:ge 乐:yue 覃:qin 翟:zhai 缪:miao "
        "秘:bi 繁:po 员:yun 召:shao 种:chong 宿:su 隗:wei 尉迟:yuchi 万俟:moqi 长孙:zhangsun "
        "长:chang 重:chong 折:she 燕:yan"
    ).split()
)
_LETTERS = re.compile(r"[^\W\d_]+")
_SPACE_NEAR_HAN = re.compile(r"(?<=[\u3400-\u9fff]) | (?=[\u3400-\u9fff])")
_SEX = {word: sex for sex, words in (("M", "m male man 男"), ("F", "f female woman 女"))
        for word in words.split()}  # fmt: skip


def is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\U00020000" <= ch <= "\U0002ebef"


def _strip_marks(text: str) -> str:
    """Drop combining marks (the diacritics of Latin letters); recompose what is left."""
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare)


@lru_cache(maxsize=200_000)
def normalise_name(value: str) -> str | None:
    """Return a name as compared: NFKC, lower case, Latin diacritics dropped, Han kept.

    Punctuation and the middle dot of transcribed names go; words keep one space between
    them, and none next to a Han character ("王 伟" is "王伟").
    """
    text = _strip_marks(unicodedata.normalize("NFKC", value)).casefold()
    words = _LETTERS.findall(text)
    if not words:
        return None
    return _SPACE_NEAR_HAN.sub("", " ".join(words))


@lru_cache(maxsize=100_000)
def _reading(ch: str) -> str:
    """One character's everyday reading, toneless. Read a character at a time: a name is
    not a phrase of the dictionary, and a few thousand characters make up nearly all names,
    so this cache is what makes a million names cheap (pypinyin's phrase search is not)."""
    return "".join(lazy_pinyin(ch, style=Style.NORMAL, errors="default"))


@lru_cache(maxsize=200_000)
def romanise(name: str) -> str | None:
    """Return a normalised name in Latin letters without spaces: Han as toneless pinyin.

    Homophones then agree ("张伟" and "章玮" are both "zhangwei"), and so do a Han name and
    its pinyin written by a system without diacritics ("Zhang Wei").
    """
    if any(is_han(c) for c in name):
        head = next((s for s in (name[:2], name[:1]) if s in _SURNAME_READINGS), "")
        parts = [_SURNAME_READINGS[head]] if head else []
        parts += [_reading(c) if is_han(c) else c for c in name[len(head) :]]
        name = "".join(parts)
    latin = "".join(_LETTERS.findall(_strip_marks(name).casefold()))
    return latin or None


def birth_date(value: object) -> str | None:
    """Return an ISO date string, or None for a missing or impossible date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if len(text) == 8 and text.isdigit():  # 19900131
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return None


def sex(value: object) -> str | None:
    """Return M or F, or None."""
    return _SEX.get(str(value).strip().casefold()) if value is not None else None


def phone(value: object) -> str | None:
    """Return the digits of a phone number without a +86 or 0086 prefix; None if too short."""
    if value is None:
        return None
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", str(value)))
    for prefix in ("0086", "86"):
        if len(digits) == 11 + len(prefix) and digits.startswith(prefix):
            digits = digits[len(prefix) :]
    return digits if len(digits) >= 6 else None


def address(value: object) -> str | None:
    """Return an address as compared: NFKC, lower case, without spaces or punctuation."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    text = "".join(c for c in text if c.isalnum())
    return text or None


def features(attrs: dict) -> tuple[dict, list[str]]:
    """Return the comparable features of one identity, and what could not be read."""
    problems = []
    raw_name = attrs.get("name")
    name = normalise_name(str(raw_name)) if raw_name not in (None, "") else None
    if raw_name not in (None, "") and name is None:
        problems.append(f'name "{raw_name}" has no letters to compare')
    raw_birth = attrs.get("birth_date")
    birth = birth_date(raw_birth)
    if raw_birth not in (None, "") and birth is None:
        problems.append(f'birth_date "{raw_birth}" is not a possible date; left out')
    out = {
        "name": name,
        "name_latin": romanise(name) if name else None,
        "birth_date": birth,
        "sex": sex(attrs.get("sex")),
        "phone": phone(attrs.get("phone")),
        "address": address(attrs.get("address")),
    }
    if all(out[f] is None for f in FEATURES):
        problems.append("no identity attribute to compare (name, birth_date, sex, phone, address)")
    return out, problems
