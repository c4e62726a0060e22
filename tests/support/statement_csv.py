"""A statement CSV read back into the JSON document (forgood statement --format csv), for the
tests.
"""

from __future__ import annotations

import csv
import io

INTS = {"price_minor", "cap_minor", "videos", "participants", "removed", "outside_window", "donation_minor",
        "settled_minor", "due_minor", "paid_minor", "change_id", "views", "terms.price_minor", "terms.cap_minor"}

def value(field: str, text: str):
    if field in INTS:
        return None if text == "" else int(text)
    return text

def parse_statement_csv(text: str) -> tuple[dict, dict]:
    """A statement CSV back as (the JSON document, the summary's formatted column)."""
    lines = list(csv.reader(io.StringIO(text, newline="")))
    sections: dict[str, list[dict]] = {}
    i = 0
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        (name,), header = lines[i], lines[i + 1]
        i += 2
        items = []
        while i < len(lines) and lines[i]:
            items.append(dict(zip(header, lines[i], strict=True)))
            i += 1
        sections[name] = items
    document: dict = {"terms": {}}
    formatted = {}
    for item in sections.pop("summary"):
        field, text = item["field"], item["value"]
        formatted[field] = item["formatted"]
        if field.startswith("terms."):
            document["terms"][field.removeprefix("terms.")] = text.split(" ") if field == "terms.hashtags" \
                else value(field, text)
        else:
            document[field] = value(field, text)
    for name, items in sections.items():
        document[name] = [{k: value(k, v) for k, v in item.items()} for item in items]
    return document, formatted
