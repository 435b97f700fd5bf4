"""Article fingerprints (pure): what every stage derives from a text the same way.

Tokens, the normalised-body hash that identifies an exact copy, content-word
counts for TF-IDF, and the MinHash sketch over 5-word shingles that finds
edited copies, with a small second sketch of the body's lead (its first
LEAD_SHINGLES shingles) that finds re-posts keeping only the top of a story.
The extractor computes them once per article in its worker pool and ships
them on the Article (`Article.fingerprint`): the store, the one stage that
cannot be parallelised, then spends its time only on what needs the shared state.
The store recomputes them for an article that arrives without (or with an older
version of) them.

Sketches must be identical across processes and restarts (they are stored in
Redis and compared with sketches computed elsewhere): rensa's RMinHash hashes
tokens with its own fixed hash function and a seed pinned here, not Python's
randomised `hash()`. `RENSA_ALGORITHM_VERSION` is recorded so a rensa upgrade
that changed the permutations would be noticed (stored sketches would then
need a rebuild).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import unicodedata
from collections import Counter
from dataclasses import dataclass

import rensa

from services.common.messages import Fingerprint

#: Bump when tokens, terms, hashing or sketching change: fingerprints made by older code are recomputed.
FINGERPRINT_VERSION = 3

#: MinHash permutations; 16 bands x 8 rows.
NUM_PERM = 128
#: Fixed seed: signatures are persisted and compared across processes, so it must never change.
SEED = 0x77_77_77
#: Words per shingle.
SHINGLE_K = 5
#: The lead: the body's first LEAD_SHINGLES distinct shingles (~65 words, the first paragraph or two), sketched
#: with LEAD_PERM permutations. A re-post that keeps only the top 40-90 % of a story shares its lead even
#: when its Jaccard with the whole story is low. 60 shingles kept the most trimmed re-posts and the fewest
#: same-event pairs on the copy set (40 and 50 let versions of one wire lead through more often, 80 reaches
#: past short trims); 16 permutations are 64 bytes, enough to tell a shared lead (J >= 0.6) from none.
LEAD_SHINGLES = 60
LEAD_PERM = 16
#: rensa's hashing scheme the stored signatures were made with (checked in tests).
RENSA_ALGORITHM_VERSION = 2

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


def words(text: str) -> list[str]:
    """Lower-cased (NFKC, casefolded) `\\w+` tokens: what hashing, shingling and term counting all start from."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def body_hash(text: str) -> str:
    """Hash of the normalised body: equal for bodies that differ only in case, spacing, punctuation."""
    return body_hash_of(words(text))


def body_hash_of(tokens: list[str]) -> str:
    """body_hash() of an already tokenised body."""
    return hashlib.sha256(" ".join(tokens).encode()).hexdigest()[:32]


def content_of(tokens: list[str]) -> list[str]:
    """The content words among tokens: words of at least 3 characters that are not stopwords, and numbers
    of two or more digits. Numbers count (ages, casualty counts, street numbers tell events
    apart) except single digits, which are everywhere."""
    return [w for w in tokens if (len(w) > 2 and w not in STOPWORDS) or (len(w) == 2 and w.isdigit())]


_PACK = struct.Struct(f"<{NUM_PERM}I")
_LEAD_PACK = struct.Struct(f"<{LEAD_PERM}I")
_EMPTY_SIGNATURE = b"\xff" * (4 * NUM_PERM)


def tokens(text: str) -> list[str]:
    """The words shingles are made of (the same tokens as words())."""
    return words(text)


def shingles(text: str, k: int = SHINGLE_K) -> set[str]:
    """The set of k-word shingles of `text` (a text shorter than k words is one shingle, empty is none)."""
    return shingles_of(tokens(text), k)


def shingles_of(words: list[str], k: int = SHINGLE_K) -> set[str]:
    """shingles() of an already tokenised text."""
    if len(words) < k:
        return {" ".join(words)} if words else set()
    return set(map(" ".join, zip(*(words[i:] for i in range(k)), strict=False)))


@dataclass(frozen=True)
class Sketch:
    """A text's MinHash signature, the number of shingles it was made from, and the signature of its lead."""

    signature: bytes  # NUM_PERM x uint32, little-endian
    size: int
    lead: bytes = b""  # LEAD_PERM x uint32 over the first LEAD_SHINGLES shingles; empty: none (no text, or older)

    def values(self) -> tuple[int, ...]:
        """The signature as NUM_PERM unsigned 32-bit integers."""
        return _PACK.unpack(self.signature)

    def lead_values(self) -> tuple[int, ...]:
        """The lead's signature as LEAD_PERM unsigned 32-bit integers (empty when there is no lead)."""
        return _LEAD_PACK.unpack(self.lead) if self.lead else ()

    def encode(self) -> str:
        """Compact ASCII form for Redis and the wire (`size:base64:base64(lead)`, 777 chars).

        ASCII because the store's Redis client decodes replies as UTF-8; base64 because its
        codec is in C (base85, 6 % denser, decoded at a tenth of the speed) and never contains ':'.
        Without a lead the form is `size:base64`, as fingerprint version 2 wrote it.
        """
        body = f"{self.size}:{base64.b64encode(self.signature).decode('ascii')}"
        return f"{body}:{base64.b64encode(self.lead).decode('ascii')}" if self.lead else body

    @classmethod
    def decode(cls, value: str | bytes) -> Sketch:
        """Inverse of encode() (also reads the lead-less form)."""
        text = value.decode("ascii") if isinstance(value, bytes) else value
        size, _, rest = text.partition(":")
        sig, _, lead = rest.partition(":")
        return cls(base64.b64decode(sig), int(size), base64.b64decode(lead))


def lead_shingles_of(words: list[str], k: int = SHINGLE_K) -> list[str]:
    """The first LEAD_SHINGLES distinct k-word shingles of a tokenised text, in text order."""
    if len(words) < k:
        return [" ".join(words)] if words else []
    lead: dict[str, None] = {}
    for i in range(len(words) - k + 1):
        lead.setdefault(" ".join(words[i:i + k]))
        if len(lead) == LEAD_SHINGLES:
            break
    return list(lead)


def sketch_shingles(shingle_set: set[str], lead: list[str] | None = None) -> Sketch:
    """The sketch of an already computed shingle set (and of its lead's shingles, when given)."""
    if not shingle_set:
        return Sketch(_EMPTY_SIGNATURE, 0)
    mh = rensa.RMinHash(NUM_PERM, SEED)
    mh.update(list(shingle_set))
    lead_signature = b""
    if lead:
        lead_mh = rensa.RMinHash(LEAD_PERM, SEED)
        lead_mh.update(lead)
        lead_signature = _LEAD_PACK.pack(*lead_mh.digest())
    return Sketch(_PACK.pack(*mh.digest()), len(shingle_set), lead_signature)


def sketch(text: str) -> Sketch:
    """MinHash sketch of a text's 5-word shingles and of its lead (deterministic across processes and restarts)."""
    return sketch_of(tokens(text))


def sketch_of(words: list[str]) -> Sketch:
    """sketch() of an already tokenised text."""
    return sketch_shingles(shingles_of(words), lead_shingles_of(words))



def fingerprint(title: str, text: str) -> Fingerprint:
    """Everything above, for one article, from one tokenisation of its title and text."""
    text_words = words(text)
    title_terms = content_of(words(title))
    return Fingerprint(
        version=FINGERPRINT_VERSION,
        body_hash=body_hash_of(text_words),
        sketch=sketch_of(text_words).encode(),
        terms=dict(Counter(title_terms + content_of(text_words))),
        title_terms=dict(Counter(title_terms)),
    )
