"""Semantic relevance: how close an article comes to what a rule is `about`.

Optional (`pip install '.[semantic]'`): nothing here imports the model's packages
until a rule with `about:` is loaded, so the daemon runs without them.

The model is WordLlama's `l2_supercat` at 256 dimensions: static token
embeddings averaged, weights inside the `wordllama` wheel, so nothing is
downloaded and no GPU is needed. It was chosen over all-MiniLM-L6-v2 (int8
ONNX on onnxruntime, also a PyPI wheel) by measuring both (docs/performance.md):
MiniLM separates the labelled texts a little better but costs about a second per
3,000-character article on one core, WordLlama a few milliseconds.

An article is scored by passage (a few sentences each, the title one of them)
so a long text is not diluted: its score is the best cosine of any passage
against the mean of the rule's description and example embeddings.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from monitor.article import Article

if TYPE_CHECKING:  # numpy comes with the extra; the base install may lack it
    import numpy as np
    from numpy.typing import NDArray

    Vectors = NDArray[np.float32]

INSTALL = "pip install '.[semantic]'"
MISSING = f"semantic relevance needs the semantic extra, which is not installed: {INSTALL}"
DIMENSIONS = 256
Mode = Literal["gate", "beside"]

# A sentence ends at . ! or ? before a capital, digit or quote; a blank line or a bullet
# also starts one. Good enough for news prose; a passage is several sentences anyway.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•])")
PASSAGE_SENTENCES = 3
PASSAGE_CHARS = 600


@dataclass(frozen=True)
class About:
    """A rule's `about:`, `min_similarity:` and `semantic:`, as the matcher uses them."""

    description: str
    examples: tuple[str, ...] = ()
    min_similarity: float = 0.4
    mode: Mode = "gate"

    @property
    def texts(self) -> tuple[str, ...]:
        return (self.description, *self.examples)


def available() -> bool:
    """Whether the semantic extra is installed (checked without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in ("wordllama", "numpy"))


class Model:
    """The embedding model: loaded from files in the `wordllama` package, never fetched."""

    def __init__(self) -> None:
        import wordllama

        # cache_dir at the package itself: its tokenizers/ and weights/ folders are where
        # WordLlama looks, and disable_download makes a missing file an error, not a fetch.
        package = Path(wordllama.__file__).parent
        self._inference = wordllama.WordLlama.load(
            dim=DIMENSIONS, cache_dir=package, disable_download=True
        )
        self._centroids: dict[tuple[str, ...], Vectors] = {}
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, one row per text."""
        import numpy as np

        vectors = self._inference.embed(list(texts), norm=True)
        return np.asarray(vectors, dtype=np.float32)

    def centroid(self, about: About) -> Vectors:
        """The unit mean of the description and examples, worked out once per `about`."""
        import numpy as np

        with self._lock:
            if about.texts not in self._centroids:
                mean = self.embed(about.texts).mean(axis=0)
                self._centroids[about.texts] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            return self._centroids[about.texts]


_model: Model | None = None
_model_lock = threading.Lock()


def model() -> Model:
    """The one model of this process, loaded on first use (about a second)."""
    global _model
    with _model_lock:
        if _model is None:
            _model = Model()
        return _model


def passages(article: Article) -> list[str]:
    """The title, then the summary and body in passages of a few sentences."""
    sentences = [
        piece
        for text in (article.summary, article.body)
        for s in _SENTENCE_END.split(text)
        for piece in _pieces(s.strip())
    ]
    found: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        current.append(sentence)
        if len(current) >= PASSAGE_SENTENCES or sum(map(len, current)) >= PASSAGE_CHARS:
            found.append(" ".join(current))
            current = []
    if current:
        found.append(" ".join(current))
    title = article.title.strip()
    return ([title] if title else []) + found


def _pieces(sentence: str) -> list[str]:
    """A sentence cut to PASSAGE_CHARS at most: a text with no full stops (a table, a list
    run together) must not make one huge passage, which the batch would pad every other to."""
    return [sentence[i : i + PASSAGE_CHARS] for i in range(0, len(sentence), PASSAGE_CHARS)]


@dataclass(frozen=True)
class Score:
    similarity: float
    passage: str


@dataclass
class ArticleScorer:
    """One article's passages, embedded on the first score asked of it and then reused."""

    article: Article
    _passages: list[str] = field(default_factory=list)
    _vectors: Vectors | None = None

    def score(self, about: About) -> Score:
        if self._vectors is None:
            self._passages = passages(self.article)
            if not self._passages:
                return Score(0.0, "")
            self._vectors = model().embed(self._passages)
        similarities = self._vectors @ model().centroid(about)
        best = int(similarities.argmax())
        return Score(float(similarities[best]), self._passages[best])
