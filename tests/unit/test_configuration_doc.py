"""docs/configuration.md documents every setting the code has, and no setting it lacks."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from core.settings import AuthSettings, ChainSettings, DeliverySettings, RetrySettings, Settings

ROOT = Path(__file__).resolve().parents[2]


def section_keys(heading: str) -> set[str]:
    """The keys of the table under a `## heading`."""
    text = (ROOT / "docs/configuration.md").read_text()
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else None]
    return set(re.findall(r"^\| `([a-z_]+)` \|", body, re.M))


def fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_every_setting_is_documented() -> None:
    top = fields(Settings) - {"delivery"}  # [delivery] has a section of its own
    assert section_keys("Top-level settings") == top
    assert section_keys("`[[chains]]`") == fields(ChainSettings)
    assert section_keys("`[retry]`") == fields(RetrySettings)
    assert section_keys("`[delivery]`") == fields(DeliverySettings)
    assert section_keys("`[auth]`") == fields(AuthSettings)
