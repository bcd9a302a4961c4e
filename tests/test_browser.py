"""The web demo in a real browser: upload a seed, generate, see the result (headless Chromium)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1000})
        finally:
            browser.close()


def test_upload_generate_and_see_result(page, app_url: str, seed_wav: Path, tmp_path) -> None:
    page.goto(app_url)
    page.get_by_role("button", name="Generate").wait_for(timeout=30_000)
    assert page.get_by_label("Seed's own sound").is_checked()  # the default Sound
    page.locator("#seed-audio input[type=file]").set_input_files(str(seed_wav))
    # The uploaded clip gets a player (an <audio> with a src) once the upload is done.
    page.locator("#seed-audio audio[src]").first.wait_for(state="attached", timeout=30_000)
    seconds = page.locator("#seconds input[type=number]")
    seconds.fill("3")
    seconds.press("Enter")
    page.get_by_role("button", name="Generate").click()
    page.locator("#output-audio audio[src]").first.wait_for(state="attached", timeout=60_000)
    page.locator("#spectrogram img").first.wait_for(state="visible", timeout=10_000)
    info = page.locator("#info")
    info.get_by_text("random_seed").wait_for(timeout=10_000)
    text = info.inner_text()
    assert re.search(r'"?random_seed"?\s*:\s*\d+', text), text
    assert re.search(r'"?new_seconds"?\s*:\s*3\.\d+', text), text  # the Seconds box took effect
    links = [a.get_attribute("href") or "" for a in page.locator("#output-audio a").all()]
    assert any(href.endswith(".wav") for href in links), links
    shot = Path(os.environ.get("MUSICGEN_SCREENSHOT") or tmp_path / "app.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
