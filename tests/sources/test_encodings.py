"""Files and pages in GB2312/GBK and Shift_JIS without any charset label are decoded right.

The bytes decide (detection), never a blind cp1252; English files in cp1252 stay
readable as before; a MOFCOM-style announcement list in GBK works with the `html`
kind, and the shipped pack's export-controls rule matches what it yields.
"""

import asyncio
import json
from pathlib import Path

import pytest

from monitor.fetch import Fetcher
from monitor.match import load_rules
from monitor.sources import SourceContext
from monitor.sources.files import FilesConfig, FilesSource
from monitor.sources.formats import parse_file
from monitor.sources.html import HtmlConfig, HtmlSource
from tests.servers import Route

ROOT = Path(__file__).resolve().parents[2]
TITLE = "商务部 海关总署公告2023年第23号"
CHINESE = "商务部、海关总署决定对镓、锗相关物项实施出口管制。现将有关事项公告如下。"
JAPANESE = "経済産業省は半導体製造装置23品目を輸出管理の対象に追加すると発表した。"
ENCODINGS = [("gb2312", "商务部公告", CHINESE), ("gbk", "商务部公告", CHINESE + "镕"),
             ("shift_jis", "輸出管理の見直し", JAPANESE)]  # fmt: skip


def parse(name: str, data: bytes):
    return parse_file(name, data, "drop", 0.0).articles


@pytest.mark.parametrize(("encoding", "title", "text"), ENCODINGS)
def test_text_json_and_html_files_in_cjk_encodings_are_detected(encoding, title, text):
    (txt,) = parse("a.txt", f"{title}\n\n{text}".encode(encoding))
    assert (txt.title, txt.body) == (title, text)
    record = {"title": title, "body": text}
    (js,) = parse("a.json", json.dumps(record, ensure_ascii=False).encode(encoding))
    assert js.body == text
    (line,) = parse("a.jsonl", (json.dumps(record, ensure_ascii=False) + "\n").encode(encoding))
    assert line.body == text
    page = f"<html><head><title>{title}</title></head><body><p>{text}</p></body></html>"
    (html,) = parse("a.html", page.encode(encoding))
    assert text in html.body


def test_a_short_gbk_file_is_still_chinese():
    # 24 bytes; with a dozen or fewer the detector is no better than a guess
    (article,) = parse("a.txt", "商务部公告\n\n稀土出口管制".encode("gbk"))
    assert (article.title, article.body) == ("商务部公告", "稀土出口管制")


def test_an_html_files_own_charset_label_is_read_as_browsers_read_it():
    # labelled GB2312, written with a GBK-only character (镕), as such pages are
    page = f'<html><head><meta charset="gb2312"></head><body><p>{CHINESE}镕</p></body></html>'
    (article,) = parse("a.html", page.encode("gbk"))
    assert article.body.endswith("镕")


def test_english_legacy_files_stay_cp1252():
    (article,) = parse(
        "a.txt", "Caf\u00e9 tariffs \u201cnaïve\u201d\n\nBody \u2013 text".encode("cp1252")
    )
    assert article.title == "Caf\u00e9 tariffs \u201cnaïve\u201d"
    assert article.body == "Body \u2013 text"


def test_undecodable_bytes_never_crash():
    (article,) = parse("a.txt", b"\x81\x82\xff\xfe\x00 tariffs\n\n\x80\x81\x82")
    assert "tariffs" in article.title


def test_a_files_drop_in_gbk_and_shift_jis_is_read_and_matched(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "mofcom.txt").write_bytes(f"{TITLE}\n\n{CHINESE}".encode("gb2312"))
    (folder / "meti.txt").write_bytes(f"輸出管理の見直し\n\n{JAPANESE}".encode("shift_jis"))
    config = FilesConfig(id="drop", type="files", path=str(folder), settle=0)
    result = asyncio.run(FilesSource(config, SourceContext(None, tmp_path)).poll({}))
    bodies = sorted(a.body for a in result.articles)
    assert bodies == sorted([CHINESE, JAPANESE])
    rules = load_rules([ROOT / "rules"])
    for article in result.articles:
        assert "export-controls" in [m.rule.id for m in rules.match(article)]


# ---- a MOFCOM-style announcement list, GBK bytes, no charset anywhere --------------------

ANNOUNCEMENTS = [
    ("/article/zcfb/202307/20230703419666.shtml", "商务部 海关总署公告2023年第23号 关于对镓、锗相关物项实施出口管制的公告"),
    ("/article/zcfb/202410/20241003541611.shtml", "商务部公告2024年第46号 关于加强相关两用物项对美国出口管制的公告"),
    ("/article/zcfb/202502/20250203574120.shtml", "不可靠实体清单工作机制关于将部分美国实体列入不可靠实体清单的公告"),
]  # fmt: skip


def announcement(title: str) -> str:
    paragraphs = "".join(
        f"<p>{p}</p>"
        for p in (
            "根据《中华人民共和国出口管制法》《中华人民共和国对外贸易法》《中华人民共和国海关法》有关规定，"
            "为维护国家安全和利益，经国务院批准，决定对相关物项实施出口管制。现将有关事项公告如下：",
            "一、满足以下特性的物项，未经许可，不得出口。出口经营者应当按照相关规定办理出口许可手续。",
            "二、出口经营者应当向商务部提出申请，商务部应当自收到出口申请文件之日起进行审查。",
            "三、本公告自发布之日起正式实施。",
        )
    )
    return (
        f"<html><head><title>{title}</title></head><body>"
        '<div class="nav"><a href="/">首页</a> <a href="/article/zcfb/">政策发布</a></div>'
        f'<div class="article"><h1>{title}</h1>{paragraphs}<p>商务部 海关总署</p></div>'
        '<div class="footer">主办单位：中华人民共和国商务部</div></body></html>'
    )


def announcement_list() -> str:
    items = "".join(
        f'<li><a href="{path}" title="{title}">{title}</a><span>[2025-0{i + 1}-0{i + 3}]</span></li>'
        for i, (path, title) in enumerate(ANNOUNCEMENTS)
    )
    return (
        "<html><head><title>政策发布 - 中华人民共和国商务部</title></head><body>"
        '<div class="nav"><a href="/">首页</a> <a href="/article/xwfb/">新闻发布</a></div>'
        f'<ul class="txtList_01">{items}</ul>'
        '<div class="page"><a href="/article/zcfb/?2">下一页</a></div>'
        '<div class="footer">主办单位：中华人民共和国商务部</div></body></html>'
    )


async def poll_html(url: str, **settings):
    fetcher = Fetcher("trade-monitor-test/1.0 (+https://example.org)")
    try:
        config = HtmlConfig(id="mofcom", type="html", url=url, allow_private=True, **settings)
        return await HtmlSource(config, SourceContext(fetcher, Path("."))).poll({"known": []})
    finally:
        await fetcher.aclose()


@pytest.mark.parametrize(
    "selectors", [{}, {"items": "ul.txtList_01 li", "link": "a", "title": "a"}]
)
def test_a_mofcom_style_announcement_list_in_gbk_works_with_the_html_kind(feed_server, selectors):
    for path, title in ANNOUNCEMENTS:
        feed_server.add(path, Route(announcement(title).encode("gbk"), content_type="text/html"))
    url = feed_server.add(
        "/article/zcfb/", Route(announcement_list().encode("gbk"), content_type="text/html")
    )
    result = asyncio.run(poll_html(url, **selectors))
    assert [(a.url, a.title) for a in result.articles] == [
        (feed_server.url + path, title) for path, title in ANNOUNCEMENTS
    ]
    rules = load_rules([ROOT / "rules"])
    for article in result.articles:
        assert "出口管制" in article.body or "出口许可" in article.body
        assert "export-controls" in [m.rule.id for m in rules.match(article)]
