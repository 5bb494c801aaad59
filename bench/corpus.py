"""A deterministic news-like corpus and rule sets for benchmarks and equivalence tests.

Words follow a Zipf distribution over a generated vocabulary plus real trade
words, so common words are common and rare ones rare, like news text. Rules
mix every operator the way real alert rules do; each names words rare enough
that a typical rule matches under 1% of the articles.

With `chinese=0.2`, a fifth of the articles are Chinese (words of one to three
Han characters, Zipf-distributed too, written without spaces, clauses ended
by ，and sentences by 。) and a fifth of the rules use Chinese words the same
way (no wildcards or fuzzy words: those are errors on CJK terms).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable

from monitor.article import Article

TRADE_WORDS = (
    "tariff tariffs export exports controls licence license nvidia chips semiconductor "
    "fentanyl duties levy entity list commerce beijing washington soybeans rare earth "
    "gallium germanium lithography smuggling sanctions quota steel aluminium copper "
    "minimis parcels shipment treasury reciprocal truce negotiators blackwell huawei"
).split()
CHINESE_TRADE_WORDS = (
    "出口管制 两用物项 出口许可 不可靠实体清单 管控名单 稀土 镓 锗 石墨 英伟达 芬太尼 关税 加征 "
    "商务部 海关总署 半导体 芯片 制裁 反制 谈判 大豆 钢铁 铝 锂 光刻机 华为"
).split()
HAN_POOL = [chr(0x4E00 + i) for i in range(0, 20000, 7)]  # 2,858 characters
SYLLABLES = (
    "ka lo mi nu pe ra si to vu ze bar cor dan fel gor hin jas kel mor nor pal qui ros".split()
)


def vocabulary(size: int = 40000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words) + list(TRADE_WORDS)


def chinese_vocabulary(size: int = 40000, seed: int = 8) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(HAN_POOL) for _ in range(rng.choice((1, 2, 2, 2, 3)))))
    return sorted(words) + list(CHINESE_TRADE_WORDS)


class Corpus:
    def __init__(self, seed: int = 1, chinese: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.chinese = chinese
        self.words = vocabulary()
        self.rng.shuffle(self.words)
        weights = [1 / (rank + 1) ** 1.05 for rank in range(len(self.words))]
        self.cumulative = list(itertools.accumulate(weights))
        self.english = self.words
        self.han = chinese_vocabulary()
        random.Random(seed + 1).shuffle(self.han)
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

    def chinese_sentence(self) -> str:
        clauses = [
            "".join(self.chinese_word() for _ in range(self.rng.randint(3, 8)))
            for _ in range(self.rng.randint(1, 3))
        ]
        return "，".join(clauses) + "。"

    def chinese_word(self) -> str:
        r = self.rng.random() * self.cumulative[-1]
        return self.han[min(bisect.bisect_left(self.cumulative, r), len(self.han) - 1)]

    def chinese_article(self, number: int, chars: int) -> Article:
        """About a third of `chars` characters: as many bytes in UTF-8 as the English ones."""
        paragraphs, size = [], 0
        while size < chars // 3:
            paragraph = "".join(self.chinese_sentence() for _ in range(self.rng.randint(3, 5)))
            paragraphs.append(paragraph)
            size += len(paragraph)
        title = "".join(self.chinese_word() for _ in range(self.rng.randint(4, 8)))
        return Article("bench", title=title, body="\n\n".join(paragraphs), guid=f"a{number}")

    def article(self, number: int, chars: int = 3000) -> Article:
        if self.chinese and self.rng.random() < self.chinese:
            return self.chinese_article(number, chars)
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
        makers = self._makers()
        population = [maker for weight, maker in makers for _ in range(weight)]
        chinese = [maker for weight, maker in self._chinese_makers() for _ in range(weight)]
        queries = ["@names"]
        for _ in range(count - 1):
            if self.chinese and self.rng.random() < self.chinese:
                queries.append(self.rng.choice(chinese)())
            else:
                queries.append(self.rng.choice(population)())
        return queries[:count]

    def rare_han(self) -> str:
        return self.han[self.rng.randint(8000, len(self.han) - 1)]

    def mid_han(self) -> str:
        return self.han[self.rng.randint(300, 3000)]

    def _chinese_makers(self) -> list[tuple[int, Callable[[], str]]]:
        """The English mix in Chinese words; wildcards and regexes become plain words."""
        rare, mid = self.rare_han, self.mid_han
        return [
            (42, lambda: rare()),
            (15, lambda: f'"{mid()} {rare()}"'),
            (10, lambda: f"{rare()} {mid()}"),
            (10, lambda: f"{rare()} NEAR/5 ({mid()} OR {mid()})"),
            (5, lambda: f"ATLEAST/2 {rare()}"),
            (8, lambda: f"({rare()} OR {rare()} OR {rare()})"),
            (7, lambda: f"{rare()} -{mid()}"),
            (3, lambda: f"title:{rare()}"),
        ]

    def _makers(self) -> list[tuple[int, Callable[[], str]]]:
        return [
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
