"""The main pages at a desktop's width (1440 px) and a phone's (390 px), as staff open them in Chromium: the
page never scrolls sideways (a wide table scrolls inside its own box), and a screenshot of each is kept in
artifacts/screenshots/ for the reviewer."""

from __future__ import annotations

import pytest

from tests.e2e.test_hebrew_only import main_pages, shop  # noqa: F401  (shop: the fixture, by name)
from tests.support import factories
from tests.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]

# The page's own width beyond the window (the document scrolling sideways), and the elements that stick out.
OVERFLOW = """() => {
  const doc = document.scrollingElement;
  const width = doc.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    if (box.right > width + 1 || box.left < -1) {
      let hidden = false;  // inside a box that scrolls or clips: not the page's overflow
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden' || o === 'clip') { hidden = true; break; }
      }
      if (!hidden) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''));
    }
  }
  // A list's table scrolls inside its box: at a desktop's width it should not need to.
  const results = document.querySelector('#changelist .results');
  const inner = results ? results.scrollWidth - results.clientWidth : 0;
  return {extra: doc.scrollWidth - width, culprits: out.slice(0, 8), list: inner};
}"""


# The smallest text drawn in a turn's latency waterfall, in CSS pixels (the SVG scales its 10 px labels).
WATERFALL_TEXT_PX = """() => {
  const svg = document.querySelector('.latency-waterfall');
  if (!svg) return null;
  return Math.min(...[...svg.querySelectorAll('text')].map(t => t.getBoundingClientRect().height));
}"""


def file_name(path: str, width: int) -> str:
    slug = "-".join(part for part in path.strip("/").split("/") if part and not part.isdigit()) or "admin"
    return f"{slug}-{width}.png"


@pytest.mark.parametrize("width", [1440, 390])
def test_the_main_pages_never_scroll_sideways(browser, daphne_server, shop, screenshots, width):  # noqa: F811
    latency = {"asr": 180, "llm_first_token": 420, "tts_first_audio": 610, "first_frame": 640}
    factories.make_utterance(shop["call"], "agent", "אפשר מחר בעשר.", 4500, 6000, latency=latency)
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="he-IL")
    page = context.new_page()
    overflowing, waterfall_text_px = {}, None
    try:
        log_in(page, daphne_server, shop["owner"])
        for path in main_pages(shop):
            response = page.goto(daphne_server.url + path)
            assert response is not None and response.status < 400, path
            page.screenshot(path=str(screenshots / file_name(path, width)), full_page=True)
            found = page.evaluate(OVERFLOW)
            if "/crm/call/" in path and "/change/" in path:
                waterfall_text_px = page.evaluate(WATERFALL_TEXT_PX)
            if found["extra"] > 1 or (width >= 1440 and found["list"] > 1):
                overflowing[path] = found
    finally:
        context.close()
    assert not overflowing, overflowing
    assert waterfall_text_px is not None and waterfall_text_px >= 9, waterfall_text_px  # readable on a phone
