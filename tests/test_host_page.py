"""The host's page (issue 16, item 12): cancel behind a disclosure, a Share block that keeps
to the screening's visibility, a poster PDF, whole sentences with plurals, links in one place."""

from __future__ import annotations

import html
import io
import re

import pytest
from babel import dates as babel_dates
from pypdf import PdfReader
from pypdf.generic import ContentStream

from screenings.capabilities import manage_token

from . import producer_helpers
from .conftest import booking_data, submit
from .factories import ScreeningFactory
from .rsvp_helpers import rsvp_data

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (dev dependency) decodes the QR")
Image = pytest.importorskip("PIL.Image")
ImageDraw = pytest.importorskip("PIL.ImageDraw")

BASE = "http://screenings.test"


def _manage(screening) -> str:
    return f"/manage/{manage_token(screening)}"


def _page(client, screening) -> str:
    return client.get(_manage(screening)).get_data(as_text=True)


def _poster(client, screening) -> PdfReader:
    response = client.get(_manage(screening) + "/poster.pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    return PdfReader(io.BytesIO(response.data))


def decode_poster_qr(reader: PdfReader) -> str:
    """The poster's QR code as a phone reads it: its module rectangles (fpdf draws them in mm,
    top-left origin, after one `cm`) painted on a white image, then decoded by zxing-cpp."""
    page = reader.pages[0]
    rects = [
        ops for ops, op in ContentStream(page.get_contents(), reader).operations if op == b"re"
    ]
    assert rects, "no QR code drawn"
    scale = 12  # pixels per mm
    left = min(float(x) for x, _y, _w, _h in rects) - 8
    top = min(float(y) for _x, y, _w, _h in rects) - 8
    right = max(float(x) + float(w) for x, _y, w, _h in rects) + 8
    bottom = max(float(y) + float(h) for _x, y, _w, h in rects) + 8
    image = Image.new("L", (int((right - left) * scale), int((bottom - top) * scale)), 255)
    draw = ImageDraw.Draw(image)
    for x, y, w, h in rects:
        x0, y0 = (float(x) - left) * scale, (float(y) - top) * scale
        draw.rectangle([x0, y0, x0 + float(w) * scale - 1, y0 + float(h) * scale - 1], fill=0)
    (result,) = zxingcpp.read_barcodes(image)
    assert result.format == zxingcpp.BarcodeFormat.QRCode
    return result.text


def _text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_cancel_form_waits_behind_a_disclosure(client, db, smtp):
    screening = ScreeningFactory()
    page = _page(client, screening)
    assert re.search(r'<details class="cancel"><summary>Cancel the screening…</summary>', page)
    refused = submit(client, _manage(screening) + "/cancel", {}, form_url=_manage(screening))
    assert refused.status_code == 422
    assert '<details class="cancel" open>' in refused.get_data(as_text=True)


def test_a_public_screening_shares_its_page_with_qr_embed_and_poster(client, db, smtp):
    screening = ScreeningFactory()
    page = _page(client, screening)
    public_url = f"{BASE}/screenings/{screening.id}"
    share = page[page.index('id="share-heading"') :]
    assert f'value="{public_url}"' in share
    assert f'title="QR code for {public_url}"' in html.unescape(share) or "<svg" in share
    embed = html.unescape(
        re.search(r'<textarea id="share-embed"[^>]*>(.*?)</textarea>', page, re.S)[1]
    )
    assert embed.startswith(f'<a href="{public_url}" rel="noopener">The Killing Roads: free')
    assert "Main Sanctuary Hall, Toronto" in embed
    assert "/poster.pdf" in share

    poster = _poster(client, screening)
    assert len(poster.pages) == 1
    assert [round(float(v)) for v in poster.pages[0].mediabox[2:]] == [612, 792]  # Letter, CA
    text = _text(poster)
    local = screening.local_start_aware
    assert "The Killing Roads" in text
    # The venue's day, as every start is written ("Friday 1 January 2027").
    assert f"{local:%A} {local.day} {local:%B} {local.year}" in text
    assert babel_dates.format_time(local, "short", locale="en") in text
    assert "1700 Bathurst Street" in text  # public: the street too
    assert "Toronto Ontario M5P 3K3\nCanada" in text  # as Canada writes it (places.address_lines)
    assert "Hosted by Beth Tzedec Congregation" in text
    assert decode_poster_qr(poster) == public_url


def test_a_guests_only_poster_names_venue_and_town_never_the_street(client, db, smtp):
    screening = ScreeningFactory(
        visibility="guests", country="FR", city="Lyon", timezone="Europe/Paris", region="",
        postal_code="69001",
    )  # fmt: skip
    poster = _poster(client, screening)
    assert [round(float(v)) for v in poster.pages[0].mediabox[2:]] == [595, 842]  # A4, France
    text = _text(poster)
    assert "Main Sanctuary Hall" in text
    assert "Lyon" in text
    assert "1700 Bathurst Street" not in text
    assert "69001" not in text
    assert decode_poster_qr(poster) == f"{BASE}/screenings/{screening.id}"


def test_a_private_screening_shares_its_share_link_only(client, db, smtp):
    response = submit(client, "/book", booking_data(listing="private"))
    manage = response.headers["Location"]
    page = client.get(manage).get_data(as_text=True)
    share_url = re.search(r'value="(http://screenings\.test/s/[A-Za-z0-9_-]{20,})"', page)[1]
    assert "/screenings/1" not in page  # never the public page
    assert 'id="share-embed"' not in page  # nothing to embed on a website
    reader = PdfReader(io.BytesIO(client.get(manage + "/poster.pdf").data))
    assert decode_poster_qr(reader) == share_url
    assert "1700 Bathurst Street" not in _text(reader)
    # The link revoked: nothing to share, no poster.
    form = {"csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]}
    client.post(manage + "/share-link/revoke", data=form)
    page = client.get(manage).get_data(as_text=True)
    assert "/s/" not in page.split("share-heading")[1][:2000]
    assert client.get(manage + "/poster.pdf").status_code == 404


def test_nothing_is_shared_before_approval(client, db, smtp):
    screening = ScreeningFactory(status="pending")
    page = _page(client, screening)
    assert 'id="share-heading"' not in page
    assert client.get(_manage(screening) + "/poster.pdf").status_code == 404


def test_a_french_hosts_poster_is_in_french(client, db, smtp):
    screening = ScreeningFactory(language="fr", country="FR", city="Lyon", timezone="Europe/Paris")
    text = _text(_poster(client, screening))
    day = babel_dates.format_date(screening.local_start_aware, "full", locale="fr")
    assert day in text
    assert day.split()[0] in {
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
    }


def test_counts_are_whole_sentences_with_plurals(client, db, smtp):
    screening = ScreeningFactory(capacity=2)
    assert "No confirmed RSVPs yet; all 2 seats are free." in _page(client, screening)
    submit(client, f"/screenings/{screening.id}", rsvp_data(party_size="1"))
    page = _page(client, screening)
    assert "1 confirmed RSVP holds 1 of 2 seats." in page
    assert "RSVP(s)" not in page
    assert "seat(s)" not in page
    assert "145 minutes" in page


def test_report_kit_and_downloads_are_linked_in_one_place(client, db, smtp):
    screening = ScreeningFactory()
    page = _page(client, screening)
    links = page[
        page.index('id="links-heading"') : page.index("</nav>", page.index('id="links-heading"'))
    ]
    assert "/licence.pdf" in links
    assert "/report" not in links  # not before the screening
    producer_helpers.make_past(screening, days_ago=1)
    page = _page(client, screening)
    links = page[
        page.index('id="links-heading"') : page.index("</nav>", page.index('id="links-heading"'))
    ]
    assert f"{_manage(screening)}/report" in links
    assert 'id="share-heading"' not in page  # after the screening, nothing more to share
