"""Web pages in the shapes real news and government sites use, for bench/extract.py and the tests.

Each `Sample` is a page with the sentences its main text must keep (`body`)
and the boilerplate it must leave out (`junk`): navigation, a cookie banner,
a sidebar of most-read links, related stories, share buttons, a footer.
"""

from __future__ import annotations

from dataclasses import dataclass

NEWS_PARAGRAPHS = [
    "The Commerce Department on Tuesday widened its export controls on advanced chips, "
    "adding two dozen Chinese companies to the Entity List and tightening the rules on "
    "equipment used to make high-bandwidth memory.",
    "Officials said the measures close gaps that allowed firms to buy restricted processors "
    "through subsidiaries in third countries, a practice investigators traced to shipments "
    "routed through Singapore and Malaysia over the past year.",
    "Industry groups warned that the rules would cost American suppliers billions of dollars "
    "in lost sales, while lawmakers from both parties said the administration had moved too "
    "slowly to stop the flow of sensitive technology.",
    "The new licence requirement applies to shipments valued at more than $5,000 and takes "
    "effect in thirty days, giving exporters a short window to complete contracts already "
    "signed with customers on the list.",
    "Beijing's commerce ministry said it firmly opposed the decision and would take necessary "
    "measures to safeguard the legitimate rights and interests of Chinese enterprises.",
    "Analysts expect the move to accelerate China's push to develop domestic alternatives, "
    "particularly in memory chips, where several state-backed producers have expanded "
    "capacity since the first round of restrictions.",
]

NAV = (
    '<nav class="site-nav"><ul>'
    + "".join(
        f'<li><a href="/{s.lower()}/">{s}</a></li>'
        for s in ("World", "Business", "Markets", "Tech", "Politics", "Opinion", "Sport", "Video")
    )
    + "</ul></nav>"
)
COOKIE = (
    '<div id="cookie-banner" class="consent-banner"><p>We use cookies to improve your '
    "experience and to show you personalised advertising. By continuing to browse you agree "
    'to our use of cookies.</p><button>Accept all cookies</button><a href="/privacy">Manage '
    "preferences</a></div>"
)
SIDEBAR = (
    '<aside class="sidebar"><h3>Most read</h3><ol>'
    + "".join(
        f'<li><a href="/news/2025/03/most-read-story-{i}">Celebrity chef opens restaurant '
        f"number {i} in the city centre</a></li>"
        for i in range(1, 6)
    )
    + "</ol></aside>"
)
RELATED = (
    '<section class="related-stories"><h3>Related stories</h3><ul>'
    + "".join(
        f'<li><a href="/news/2025/03/related-{i}">Shipping rates climb as ports face '
        f"congestion, part {i}</a></li>"
        for i in range(1, 5)
    )
    + "</ul></section>"
)
SHARE = '<div class="share-tools"><a href="#">Share on Facebook</a> <a href="#">Post on X</a></div>'
FOOTER = (
    '<footer class="site-footer"><p>Copyright 2025 Example News Group. All rights reserved.</p>'
    '<a href="/terms">Terms of use</a> <a href="/privacy">Privacy policy</a> '
    '<a href="/contact">Contact us</a></footer>'
)


def _page(title: str, body: str, head: str = '<meta charset="utf-8">') -> str:
    return (
        f"<!DOCTYPE html><html lang=en><head>{head}<title>{title} | Example News</title>"
        '<script>window.dataLayer=[];function track(){return "Accept all cookies"}</script>'
        f"<style>.x{{color:red}}</style></head><body>{body}</body></html>"
    )


def news_article() -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in NEWS_PARAGRAPHS)
    return _page(
        "US widens chip curbs",
        f'<header class="masthead"><a href="/">Example News</a>{NAV}</header>{COOKIE}'
        "<main><article><h1>US widens chip export curbs, adds two dozen firms</h1>"
        '<p class="byline">By A. Reporter, March 4, 2025</p>'
        f"{SHARE}{paragraphs}"
        '<div class="ad-slot">Advertisement</div></article>'
        f"{RELATED}</main>{SIDEBAR}{FOOTER}",
    )


PRESS_PARAGRAPHS = [
    "WASHINGTON - The Office of the United States Trade Representative today announced the "
    "results of its review of tariffs on imports of steel and aluminium products under "
    "Section 301 of the Trade Act of 1974.",
    "Following extensive consultation with stakeholders and the public comment process, the "
    "Trade Representative has determined to maintain the existing duties and to increase the "
    "rate on certain flat-rolled products from 7.5 percent to 25 percent.",
    "The modifications will take effect on August 1, 2025, and apply to goods entered for "
    "consumption, or withdrawn from warehouse for consumption, on or after that date.",
    "Interested persons may submit requests for exclusion of particular machinery used in "
    "domestic manufacturing through the portal until September 30, 2025.",
]


def press_release() -> str:
    agency_nav = (
        '<div class="usa-banner">An official website of the United States government</div>'
        '<nav role="navigation" class="usa-nav"><ul>'
        + "".join(
            f'<li><a href="/about-us/{s.lower().replace(" ", "-")}">{s}</a></li>'
            for s in ("About Us", "Trade Topics", "Countries and Regions", "Policy Offices")
        )
        + '</ul></nav><ol class="breadcrumb"><li><a href="/">Home</a></li>'
        '<li><a href="/press-office">Press Office</a></li><li>Press Releases</li></ol>'
    )
    body = "".join(f"<p>{p}</p>" for p in PRESS_PARAGRAPHS)
    return _page(
        "USTR announces tariff review results",
        f"<header>{agency_nav}</header>"
        '<div id="content"><div class="field-body">'
        "<h1>USTR Announces Results of Four-Year Review of Section 301 Tariffs</h1>"
        "<p><strong>FOR IMMEDIATE RELEASE</strong><br>July 2, 2025</p>"
        f"{body}<p>###</p>"
        '<p class="contact">Media contact: press@ustr.example (202) 555-0100</p></div></div>'
        '<footer><div class="footer-links">'
        + "".join(f'<a href="/page-{i}">Footer link {i}</a> ' for i in range(30))
        + "</div></footer>",
    )


def navigation_page() -> str:
    links = "".join(
        f'<li><a href="/topics/{i}">Topic {i}</a></li><li><a href="/region/{i}">Region {i}</a></li>'
        for i in range(40)
    )
    return _page(
        "All topics", f"{NAV}<div class='content'><h1>All topics</h1><ul>{links}</ul></div>"
    )


def short_page() -> str:
    return _page(
        "Notice",
        f"{NAV}<main><h1>Notice of public hearing</h1><p>The Commission will hold a public "
        "hearing on the antidumping investigation of corrosion-resistant steel from Vietnam "
        f"on April 15, 2025.</p></main>{FOOTER}",
    )


def blog_post() -> str:
    comments = "".join(
        f'<li class="comment"><p>Reader {i} says: great post, thanks for sharing this '
        "with everyone!</p></li>"
        for i in range(8)
    )
    body = "".join(f"<p>{p}</p>" for p in NEWS_PARAGRAPHS[:4])
    return _page(
        "Tariff watch",
        f'<div id="wrapper"><div class="menu-main">{NAV}</div>'
        f'<div class="post"><h2 class="entry-title">Tariff watch: chips</h2>'
        f'<div class="entry-content">{body}</div></div>'
        f'<div id="comments"><h3>8 comments</h3><ol>{comments}</ol></div>'
        f'<div id="sidebar" class="widget-area">{SIDEBAR}</div></div>{FOOTER}',
    )


def wire_with_table() -> str:
    rows = "".join(
        f"<tr><td>{name}</td><td>{old}%</td><td>{new}%</td></tr>"
        for name, old, new in (("Steel", 7.5, 25), ("Aluminium", 10, 25), ("Copper", 0, 10))
    )
    body = "".join(f"<p>{p}</p>" for p in NEWS_PARAGRAPHS[2:6])
    return _page(
        "Tariff table",
        f"{NAV}{COOKIE}<div class='story-body'><h1>New duty rates at a glance</h1>{body}"
        f"<table><tr><th>Product</th><th>Old</th><th>New</th></tr>{rows}</table>"
        f'<p class="read-more"><a href="/news/more">Read more: markets wrap</a></p></div>'
        f"{SIDEBAR}{FOOTER}",
    )


CHINESE = [
    "商务部新闻发言人就美方对华芯片出口管制措施答记者问。",
    "发言人表示，中方坚决反对美方泛化国家安全概念，滥用出口管制措施，对中国企业实施恶意封锁和打压。",
    "美方的做法严重违反市场经济原则和国际经贸规则，严重破坏全球产业链供应链稳定。",
    "中方将采取必要措施，坚决维护中国企业的正当权益。我们敦促美方立即纠正错误做法。",
]


def chinese_article() -> str:
    """A ministry page as GB2312 sites write it (meta charset only: no header says it)."""
    body = "".join(f"<p>{p}</p>" for p in CHINESE)
    nav = "".join(f'<a href="/col/{i}">栏目{i}</a> ' for i in range(12))
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
        f"<title>商务部新闻发言人答记者问</title></head><body><div class='nav'>{nav}</div>"
        f"<div class='art-con'><h1>商务部新闻发言人答记者问</h1>{body}</div>"
        "<div class='footer'>版权所有：中华人民共和国商务部</div></body></html>"
    )


JAPANESE = [
    "経済産業省は本日、半導体製造装置の輸出管理を強化するための省令改正案を公表しました。",
    "今回の改正により、先端半導体の製造に用いられる二十三品目が新たに輸出許可の対象となります。",
    "改正省令は公布から二か月後に施行される予定であり、関係事業者に対して説明会を開催します。",
]


def japanese_article() -> str:
    body = "".join(f"<p>{p}</p>" for p in JAPANESE)
    return (
        '<html><head><meta charset="Shift_JIS"><title>輸出管理の強化について</title></head>'
        "<body><ul class='gnav'><li><a href='/a'>ホーム</a></li><li><a href='/b'>政策</a></li></ul>"
        f"<div id='main'><h1>輸出管理の強化について</h1>{body}</div>"
        "<footer>経済産業省</footer></body></html>"
    )


@dataclass(frozen=True)
class Sample:
    name: str
    html: str
    body: tuple[str, ...]  # sentences the main text must have (none: the page has no article)
    junk: tuple[str, ...]  # boilerplate it must not have


JUNK = ("Accept all cookies", "Celebrity chef", "Copyright 2025", "Share on Facebook")


def samples() -> list[Sample]:
    return [
        Sample("news article", news_article(), tuple(NEWS_PARAGRAPHS), (*JUNK, "Shipping rates")),
        Sample(
            "press release",
            press_release(),
            tuple(PRESS_PARAGRAPHS),
            ("Footer link", "official website"),
        ),
        Sample("navigation only", navigation_page(), (), ("Topic 1", "Region 2")),
        Sample("very short", short_page(), ("public hearing on the antidumping",), JUNK),
        Sample("blog with comments", blog_post(), tuple(NEWS_PARAGRAPHS[:4]), (*JUNK, "Reader 3")),
        Sample("wire with table", wire_with_table(), tuple(NEWS_PARAGRAPHS[2:6]), JUNK),
        Sample("GB2312 ministry", chinese_article(), tuple(CHINESE[1:]), ("栏目3", "版权所有")),
        Sample("Shift_JIS ministry", japanese_article(), tuple(JAPANESE), ("ホーム",)),
    ]
