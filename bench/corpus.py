"""A deterministic news-like corpus and rule sets for benchmarks and equivalence tests.

Words follow a Zipf distribution over a generated vocabulary plus real trade
words, so common words are common and rare ones rare, like news text. Rules
mix every operator the way real alert rules do; each names words rare enough
that a typical rule matches under 1% of the articles.
"""

from __future__ import annotations

import bisect
import itertools
import random

from monitor.article import Article

TRADE_WORDS = (
    "tariff tariffs export exports controls licence license nvidia chips semiconductor "
    "fentanyl duties levy entity list commerce beijing washington soybeans rare earth "
    "gallium germanium lithography smuggling sanctions quota steel aluminium copper "
    "minimis parcels shipment treasury reciprocal truce negotiators blackwell huawei"
).split()
SYLLABLES = (
    "ka lo mi nu pe ra si to vu ze bar cor dan fel gor hin jas kel mor nor pal qui ros".split()
)


def vocabulary(size: int = 40000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words) + list(TRADE_WORDS)


class Corpus:
    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary()
        self.rng.shuffle(self.words)
        weights = [1 / (rank + 1) ** 1.05 for rank in range(len(self.words))]
        self.cumulative = list(itertools.accumulate(weights))
        self.names = [
            f"{self.rng.choice(self.words).title()} {self.rng.choice(self.words).title()}"
            for _ in range(5000)
        ]

    def word(self) -> str:
        r = self.rng.random() * self.cumulative[-1]
        return self.words[bisect.bisect_left(self.cumulative, r)]

    def sentence(self) -> str:
        words = [self.word() for _ in range(self.rng.randint(8, 20))]
        if self.rng.random() < 0.05:
            words.insert(self.rng.randrange(len(words)), self.rng.choice(self.names))
        if self.rng.random() < 0.1:
            words.insert(
                self.rng.randrange(len(words)),
                f"{self.rng.randint(2, 99)}.{self.rng.randint(0, 9)}%",
            )
        return " ".join(words).capitalize() + "."

    def article(self, number: int, chars: int = 3000) -> Article:
        paragraphs, size = [], 0
        while size < chars:
            paragraph = " ".join(self.sentence() for _ in range(self.rng.randint(3, 5)))
            paragraphs.append(paragraph)
            size += len(paragraph)
        title = " ".join(self.word() for _ in range(self.rng.randint(6, 12))).title()
        return Article("bench", title=title, body="\n\n".join(paragraphs), guid=f"a{number}")

    def articles(self, count: int, chars: int = 3000) -> list[Article]:
        return [self.article(i, chars) for i in range(count)]

    def rare_word(self) -> str:
        """A word from the long tail: in well under 1% of the articles."""
        return self.words[self.rng.randint(8000, len(self.words) - 1)]

    def mid_word(self) -> str:
        return self.words[self.rng.randint(300, 3000)]

    def rule_queries(self, count: int) -> list[str]:
        """`count` queries in the mix of a real rule pack; one uses the 5,000-name list."""
        makers = [
            (30, lambda: self.rare_word()),
            (15, lambda: f'"{self.mid_word()} {self.rare_word()}"'),
            (10, lambda: f"{self.rare_word()[:-1]}*"),
            (10, lambda: f"{self.rare_word()} {self.mid_word()}"),
            (10, lambda: f"{self.rare_word()} NEAR/5 ({self.mid_word()} OR {self.mid_word()})"),
            (5, lambda: f"ATLEAST/2 {self.rare_word()}"),
            (8, lambda: f"({self.rare_word()} OR {self.rare_word()} OR {self.rare_word()})"),
            (7, lambda: f"{self.rare_word()} -{self.mid_word()}"),
            (3, lambda: f"title:{self.rare_word()}"),
            (2, lambda: f"/{self.rare_word()}\\s+\\d+/i"),
        ]
        population = [maker for weight, maker in makers for _ in range(weight)]
        queries = ["@names"] + [self.rng.choice(population)() for _ in range(count - 1)]
        return queries[:count]
