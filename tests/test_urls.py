"""URL credentials: redaction for messages, removal for files, origins (sans-I/O).

URLs are read the way httpx reads them; the end-to-end checks (nothing leaks into errors, logs,
``--stats``, locks) are the ``credentials-*`` faults in ``tests/test_faults.py``.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skimlock.errors import FetchError, redact
from skimlock.urls import credentials, origin, without_credentials


@pytest.mark.parametrize(
    ("url", "redacted", "stripped"),
    [
        ("https://user:pw@host/simple/", "https://***@host/simple/", "https://host/simple/"),
        ("http://me@corp.example:TOKEN@host/simple/", "http://***@host/simple/",
         "http://host/simple/"),
        ("http://u:p@ss@host:8080/x", "http://***@host:8080/x", "http://host:8080/x"),
        ("http://me:pa/ss@host/simple/", "http://***@host/simple/", "http://host/simple/"),
        ("http://me:pa?ss@host/s", "http://***@host/s", "http://host/s"),
        ("http://me:pa#ss@host/s", "http://***@host/s", "http://host/s"),
        ("http://u:p@[::1]:81/", "http://***@[::1]:81/", "http://[::1]:81/"),
        ("https://host/files/a@b.whl", "https://***@b.whl", "https://host/files/a@b.whl"),
        ("http://tok/en@host/s", "http://***@host/s", "http://tok/en@host/s"),
        ("http://host/x?q=a@b", "http://***@b", "http://host/x?q=a@b"),
        ("http://host:8080/x?q=a@b", "http://***@b", "http://host:8080/x?q=a@b"),
        ("http://?:pw@host/", "http://***@host/", "http://host/"),
        ("http://u:123/pw@host/s", "http://***@host/s", "http://u:123/pw@host/s"),
        ("https://host/simple/", "https://host/simple/", "https://host/simple/"),
        ("javascript:alert(1)", "javascript:alert(1)", "javascript:alert(1)"),
    ],
)  # fmt: skip
def test_redact_and_strip(url: str, redacted: str, stripped: str) -> None:
    assert redact(url) == redacted
    assert without_credentials(url) == stripped


def test_credentials_as_httpx_reads_them() -> None:
    for url in ("http://me@corp.example:TOKEN@host/simple/", "http://u:p%40ss@host/",
                "http://u:p@ss@host:8080/x", "https://host/"):
        parsed = httpx.URL(url)
        expected = (parsed.username, parsed.password) if parsed.username else None
        assert credentials(url) == expected, url


def test_origins() -> None:
    assert origin("https://u:p@Host/simple/") == ("https", "host", 443)
    assert origin("http://host/") == origin("http://host:80/x")
    assert origin("http://host:8080/") != origin("http://host/")
    assert origin("https://host/") != origin("http://host/")
    assert origin("http://me:pa/ss@host/") is None


def test_unparsable_url_error_keeps_the_password_out() -> None:
    error = FetchError("http://user:x/sEcReT@host/simple/", "invalid URL")
    assert "sEcReT" not in str(error)


SECRET = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@given(user=SECRET, password=SECRET)
def test_no_password_survives_redaction(user: str, password: str) -> None:
    """Whatever the userinfo holds, raw: a password of 4+ characters never survives redaction
    (shorter ones may match the host or path by chance)."""
    url = f"https://{user}:{password}@index.example/simple/"
    shown = redact(url)
    assert shown.endswith("/simple/")
    if len(password) >= 4 and password not in "https://***@index.example/simple/":
        assert password not in shown
