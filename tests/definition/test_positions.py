"""Where a key is written: YAML node marks and the JSON scanner (definition/positions.py)."""

from __future__ import annotations

import json

from plait.definition.positions import Positions

JSON_TEXT = """{
  "name": "w",
  "steps": [
    {"id": "a", "tool": "echo", "input": {"k\\"ey": [1, {"deep": "${x.y}"}]}},
    {
      "id": "b",
      "dependsOn": ["a", "ghost"]
    }
  ]
}"""


def test_json_keys_items_and_escaped_keys_are_placed() -> None:
    json.loads(JSON_TEXT)  # it is valid JSON
    at = Positions(JSON_TEXT, json_only=True)
    assert at.locate("a", "tool", "") == (4, 17)
    assert at.locate("a", "input", "") == (4, 33)
    # the value holding the ${...} the message names, inside a list inside a mapping
    assert at.locate("a", "input", "unknown name 'x' in ${x.y}") == (4, 57)
    assert at.locate("b", "dependsOn", "unknown step 'ghost'") == (7, 26)
    assert at.locate("b", "dependsOn", "") == (7, 7)
    assert at.locate(None, "name", "") == (2, 3)
    assert at.locate("nobody", "tool", "") is None


def test_yaml_merge_keys_and_camel_or_snake_spellings() -> None:
    text = (
        "name: w\n"
        "base: &base {tool: echo, timout: 1}\n"
        "steps:\n"
        "  - <<: *base\n"
        "    id: a\n"
        "    depends_on: [ghost]\n"
    )
    at = Positions(text, json_only=False)
    assert at.locate("a", "dependsOn", "unknown step 'ghost'") == (6, 18)
    assert at.locate("a", "timout", "") == (2, 26)  # written in the anchor
    assert at.locate("#1", None, "") == (4, 5)


def test_text_that_cannot_be_read_has_no_positions() -> None:
    assert Positions("{", json_only=True).locate("a", "tool", "") is None
    assert Positions("a: [", json_only=False).locate(None, "a", "") is None
