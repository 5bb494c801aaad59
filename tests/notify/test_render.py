from monitor.notify.render import link_target, markdown_text, web_url


def test_only_absolute_http_urls_are_web_urls():
    for url in ("https://x.org/a", "HTTP://X.org", "http://[::1]:8080/p"):
        assert web_url(url) == url
    for url in ("javascript:alert(1)", "data:text/html,x", "//x.org/a", "http://", "https:///p",
                " https://x.org", "ftp://x.org/f", "http://[::1/", ""):  # fmt: skip
        assert web_url(url) == "", url


def test_link_targets_cannot_end_the_markup_around_them():
    assert link_target("https://x.org/a_(b) c|d<e>\"f'g`\\h\n") == (
        "https://x.org/a_%28b%29%20c%7Cd%3Ce%3E%22f%27g%60%5Ch%0A"
    )
    assert link_target("javascript:alert(1)") == ""


def test_markdown_text_is_literal():
    assert markdown_text("[a](javascript:x) *b* <img> `c` !#\n_d_") == (
        r"\[a\]\(javascript:x\) \*b\* &lt;img\> \`c\` \!\# \_d\_"
    )
