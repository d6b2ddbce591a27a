"""Reading HTML form fields into the shapes the schemas expect, and turning validation errors
into messages next to the field they are about."""

from __future__ import annotations

import re

from pydantic import ValidationError

from fullcycle.catalog.service import CatalogConflict, CatalogError

LIST_SEPARATORS = re.compile(r"[,\n]")
WORD_SEPARATORS = re.compile(r"[,\s]+")


def split_list(text: str) -> list[str]:
    """Comma- or newline-separated values (entity refs, user names), blanks dropped."""
    return [item.strip() for item in LIST_SEPARATORS.split(text) if item.strip()]


def split_words(text: str) -> list[str]:
    """Comma- or whitespace-separated words (tags)."""
    return [word for word in WORD_SEPARATORS.split(text) if word]


def parse_links(text: str) -> list[dict[str, str]]:
    """One link per line, "title url": the last word is the URL, the rest its title."""
    links = []
    for line in text.splitlines():
        words = line.split()
        if words:
            links.append({"title": " ".join(words[:-1]), "url": words[-1]})
    return links


def format_links(links: list[dict[str, str]]) -> str:
    return "\n".join(f"{link.get('title', '')} {link.get('url', '')}".strip() for link in links)


def parse_annotations(text: str) -> dict[str, str]:
    """One "key: value" per line; the key ends at the first colon."""
    annotations = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip():
            annotations[key.strip()] = value.strip()
    return annotations


def format_annotations(annotations: dict[str, str]) -> str:
    return "\n".join(f"{key}: {value}" for key, value in annotations.items())


def field_errors(error: ValidationError) -> dict[str, str]:
    """Field name (the top-level one, as the form names it) -> what is wrong with it."""
    messages: dict[str, str] = {}
    for problem in error.errors():
        location = problem["loc"]
        field = str(location[0]) if location else "form"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "too_short" and isinstance(problem.get("input"), list):
            message = "give at least one"
        if len(location) > 1:
            message = f"{'.'.join(str(part) for part in location[1:])}: {message}"
        messages.setdefault(field, message)
    return messages


def catalog_problem(error: CatalogError) -> tuple[dict[str, str], int]:
    """The form message for a refused catalog write, and its status (409 for a clash)."""
    message = str(error).removeprefix(f"{error.field}: ") if error.field else str(error)
    status_code = 409 if isinstance(error, CatalogConflict) else 422
    return {error.field or "form": message}, status_code
