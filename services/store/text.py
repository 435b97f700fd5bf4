"""Text features for dedup and clustering (pure): normalised body hash, terms, TF-IDF vectors."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping

_WORD = re.compile(r"\w+", re.UNICODE)

# Function words and news filler carry no topic. IDF discounts frequent words anyway;
# the list keeps them out of the inverted index and the stored centroids.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own said same
    she should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves says say told according new one two year years last first
    week day time people mr mrs ms its it's also would could may might like just get got via news
    reported report reports percent per cent since still even much many well back around another
    made make being going took take within without across among toward towards whether however""".split()
)


def normalise_text(text: str) -> str:
    """Lower-case, NFKC, words only: the form whose hash identifies an exact copy."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(folded))


def body_hash(text: str) -> str:
    """Hash of the normalised body: equal for bodies that differ only in case, spacing, punctuation."""
    return hashlib.sha256(normalise_text(text).encode()).hexdigest()[:32]


def content_terms(text: str) -> list[str]:
    """Lower-case content words (no stopwords, no numbers, at least 3 characters)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [w for w in _WORD.findall(folded) if len(w) > 2 and not w.isdigit() and w not in STOPWORDS]


def term_counts(text: str) -> Counter[str]:
    """How often each content word occurs."""
    return Counter(content_terms(text))


def idf(df: int, n_docs: int) -> float:
    """Smoothed inverse document frequency (scikit-learn's formula): never zero, rare terms high."""
    return math.log((1 + n_docs) / (1 + df)) + 1.0


def tfidf(counts: Mapping[str, float], df: Mapping[str, int], n_docs: int, *, limit: int) -> dict[str, float]:
    """Sublinear TF x IDF, the `limit` heaviest terms, L2-normalised."""
    weights = {t: (1.0 + math.log(c)) * idf(df.get(t, 0), n_docs) for t, c in counts.items() if c > 0}
    top = dict(sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])
    return l2_normalise(top)


def l2_normalise(vector: Mapping[str, float]) -> dict[str, float]:
    """Scale a sparse vector to unit length (empty stays empty)."""
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {k: v / norm for k, v in vector.items()} if norm else {}


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine of two sparse vectors (neither needs to be normalised)."""
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def add_vectors(total: Mapping[str, float], vector: Mapping[str, float], *, limit: int) -> dict[str, float]:
    """`total + vector`, keeping the `limit` heaviest components (a bounded centroid)."""
    merged = dict(total)
    for k, v in vector.items():
        merged[k] = merged.get(k, 0.0) + v
    return dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


def top_terms(vector: Mapping[str, float], n: int) -> list[str]:
    """The `n` heaviest keys of a vector."""
    return [k for k, _ in sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
