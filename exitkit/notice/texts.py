"""The notice's texts per language: loading, flattening, placeholders, and the checks that keep them alike.

The prose lives in ``exitkit/notice/languages/<lang>.yml``, one file per language; the
set of languages is the set of files (``available_languages``); en.yml is the
reference every other file must match key for key (``text_problems``). Texts are
plain strings with ``{name}`` placeholders, filled in by ``Texts`` before the
template escapes them, so an operator's value can never become markup.
"""

from __future__ import annotations

import copy
import functools
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from exitkit.settings import RelaySettings

TEXTS_DIR = Path(__file__).resolve().parent / "languages"
REFERENCE_LANGUAGE = "en"

#: Placeholders a text may use (see the comment at the top of en.yml).
PLACEHOLDERS = frozenset({"address", "operator", "lifetime", "time", "window", "timezone", "interface",
                          "exit_addresses", "resolvers", "response"})
#: Placeholders only the texts under ``units`` may use.
UNIT_PLACEHOLDERS = frozenset({"n"})

_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_FORMATTER = string.Formatter()


def available_languages() -> tuple[str, ...]:
    """The languages with a text file, English first, then by code."""
    codes = sorted(p.stem for p in TEXTS_DIR.glob("*.yml") if _LANGUAGE_CODE.fullmatch(p.stem))
    if REFERENCE_LANGUAGE in codes:
        codes.remove(REFERENCE_LANGUAGE)
        codes.insert(0, REFERENCE_LANGUAGE)
    return tuple(codes)


@functools.cache
def _read_texts(path: Path, mtime_ns: int) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of text keys")
    return data


def load_texts(lang: str) -> dict:
    """The texts of one language as nested dicts of strings (a copy; cached reads)."""
    if not isinstance(lang, str) or not _LANGUAGE_CODE.fullmatch(lang):
        raise ValueError(f"expected a language code such as en, not {lang!r}")
    path = TEXTS_DIR / f"{lang}.yml"
    if not path.is_file():
        raise ValueError(f"no texts for language {lang!r}: expected {path} "
                         f"(available: {', '.join(available_languages())})")
    return copy.deepcopy(_read_texts(path, path.stat().st_mtime_ns))


def flatten(texts: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested texts as {"a.b.c": value}."""
    flat: dict[str, Any] = {}
    for key, value in texts.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def placeholders(text: str) -> set[str]:
    """The {names} a text uses (raises ValueError on a malformed brace)."""
    return {name for _, name, _, _ in _FORMATTER.parse(text) if name is not None}


def compare_texts(reference: Mapping, other: Mapping) -> list[str]:
    """Every way ``other`` differs in shape from ``reference``: keys, types, placeholders."""
    ref, oth = flatten(reference), flatten(other)
    problems = [f"missing key {key}" for key in ref if key not in oth]
    problems += [f"extra key {key}" for key in oth if key not in ref]
    for key in ref.keys() & oth.keys():
        if not isinstance(oth[key], str) or not oth[key].strip():
            problems.append(f"key {key}: expected a non-empty text, got {oth[key]!r}")
            continue
        try:
            want, got = placeholders(ref[key]), placeholders(oth[key])
        except ValueError as error:
            problems.append(f"key {key}: malformed braces ({error}); write a literal brace as {{{{ or }}}}")
            continue
        if want != got:
            problems.append(f"key {key}: placeholders {sorted(got)} differ from English {sorted(want)}")
    return sorted(problems)


def text_problems(lang: str) -> list[str]:
    """What is wrong with a language file compared with en.yml ([] when nothing)."""
    texts = load_texts(lang)
    problems = [] if lang == REFERENCE_LANGUAGE else compare_texts(load_texts(REFERENCE_LANGUAGE), texts)
    for key, value in flatten(texts).items():
        if not isinstance(value, str):
            if lang == REFERENCE_LANGUAGE:
                problems.append(f"key {key}: expected a text, got {value!r}")
            continue
        try:
            used = placeholders(value)
        except ValueError as error:
            if lang == REFERENCE_LANGUAGE:
                problems.append(f"key {key}: malformed braces ({error})")
            continue
        clash = [part for part in key.split(".") if hasattr(dict, part)]
        if clash:
            problems.append(f"key {key}: {clash[0]!r} is a reserved name (the template could not reach it)")
        allowed = PLACEHOLDERS | (UNIT_PLACEHOLDERS if key.startswith("units.") else frozenset())
        if used - allowed:
            problems.append(f"key {key}: unknown placeholders {sorted(used - allowed)}")
    return problems


def default_language(settings: RelaySettings) -> str:
    """The language served at /: the setting, or English while its file is missing."""
    return settings.language if settings.language in available_languages() else REFERENCE_LANGUAGE


class Texts:
    """One language's texts, filled in with this page's values."""

    def __init__(self, lang: str, values: Mapping[str, str]):
        self.raw = load_texts(lang)
        reference = load_texts(REFERENCE_LANGUAGE) if lang != REFERENCE_LANGUAGE else self.raw
        self.flat = {**flatten(reference), **flatten(self.raw)}  # English for anything missing
        self.values = dict(values)

    def __call__(self, key: str, **extra: Any) -> str:
        text = self.flat[key]
        values = {**self.values, **{k: str(v) for k, v in extra.items()}}
        return _FORMATTER.vformat(text, (), values)

    def tree(self) -> dict:
        """All texts, filled in, nested as in the file (for headings and labels)."""
        out: dict = {}
        for key in self.flat:
            node = out
            *parents, last = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            if key.startswith("units."):
                node[last] = self.flat[key]
            else:
                node[last] = self(key)
        return out
