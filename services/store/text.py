"""Text features for dedup and clustering (pure): normalised body hash, term vectors."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)

# Function words carry no topic; a short list is enough because weights are log-scaled
# and entity overlap does the heavy lifting in v1 clustering.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own said same
    she should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves says say told according new one two year years last first
    week day time people mr mrs ms its it's also would could may might like just get got via""".split()
)


def normalise_text(text: str) -> str:
    """Lower-case, NFKC, words only: the form whose hash identifies an exact copy."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(folded))


def body_hash(text: str) -> str:
    """Hash of the normalised body: equal for bodies that differ only in case, spacing, punctuation."""
    return hashlib.sha256(normalise_text(text).encode()).hexdigest()[:32]


def content_terms(text: str) -> list[str]:
    """Lower-case content words (no stopwords, no numbers, at least 3 letters)."""
    return [w for w in _WORD.findall(text.casefold()) if len(w) > 2 and not w.isdigit() and w not in STOPWORDS]


def term_vector(title: str, text: str, *, title_weight: float = 3.0, limit: int = 60) -> dict[str, float]:
    """Log-scaled term weights of an article, title words boosted; the `limit` heaviest, L2-normalised."""
    counts: dict[str, float] = dict(Counter(content_terms(text)))
    for term in content_terms(title):
        counts[term] = counts.get(term, 0.0) + title_weight
    weights = {t: 1.0 + math.log(c) for t, c in counts.items()}
    top = dict(sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])
    return l2_normalise(top)


def l2_normalise(vector: dict[str, float]) -> dict[str, float]:
    """Scale a sparse vector to unit length (empty stays empty)."""
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {k: v / norm for k, v in vector.items()} if norm else {}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two sparse vectors."""
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0
