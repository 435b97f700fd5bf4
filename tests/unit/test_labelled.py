"""Reading a labelled file for the story replays (services.evaluation.stories.read_labelled)."""

from __future__ import annotations

import json
from pathlib import Path

from services.evaluation.stories import read_labelled


def test_an_article_without_an_outlet_is_its_own_outlet(tmp_path: Path) -> None:
    # ECB+ gives no outlet for half its articles: one shared placeholder made them all "the same outlet"
    # to the join decision, which weighs a story already holding an article of the article's outlet.
    rows = [{"id": "a", "cluster": "e1", "text": "One."}, {"id": "b", "cluster": "e2", "text": "Two."},
            {"id": "c", "cluster": "e1", "outlet": "news.example", "text": "Three."},
            {"id": "d", "cluster": "e2", "outlet": "news.example", "text": "Four."}]
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    outlets = {r.id: r.outlet for r in read_labelled(path)}
    assert outlets["a"] != outlets["b"] and "a" in outlets["a"]
    assert outlets["c"] == outlets["d"] == "news.example"
