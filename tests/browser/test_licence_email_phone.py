"""The licence e-mail on a phone: buttons rather than bare URLs, long links wrapped, nothing
wider than 375 px, measured in chromium on the e-mail's own HTML."""

from __future__ import annotations

import re

import pytest

from screenings.models import Film
from screenings.services.distribution import add_format, add_material

from ..conftest import booking_data, submit
from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
LONG = "https://files.example.org/" + "a-very-long-path-segment-without-breaks" * 4 + ".mp4"


@pytest.mark.parametrize("viewport", [PHONE])
def test_licence_email_fits_a_phone(page, app, client, db, smtp):
    film = db.session.get(Film, 1)
    online = add_format(film, name="Online file (1080p)", kind="download", download_url=LONG)
    add_material(film, kind="poster", label="Poster (PDF)", url=LONG.replace(".mp4", ".pdf"))
    response = submit(
        client,
        "/book",
        booking_data(format_id=str(online.id), organization_name="Congregation" + "Beth" * 15),
    )
    assert response.status_code == 302
    (message,) = smtp.wait_for(1)
    html = message.get_body(("html",)).get_content()
    # The personal download link is a button, not a URL written out.
    anchor = re.search(
        r'<a href="(http://screenings\.test/downloads/[^"]+)"[^>]*>([^<]+)</a>', html
    )
    assert anchor, "no download link"
    assert anchor.group(2).strip() == "Download the film"
    assert "How you'll get the film" in html

    page.set_content(html)
    width = page.evaluate("document.documentElement.scrollWidth")
    shot = ARTIFACTS / "email" / "licence-issued-375.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert width <= PHONE["width"], f"the licence e-mail is {width}px wide at 375"
