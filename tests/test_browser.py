"""The web demo in a real browser: upload a seed, generate, hear it live, see the result.

Runs headless Chromium (Debian's `chromium`) through Playwright. Without Chromium (or ffmpeg,
which the live player needs) the test skips on a developer's machine and FAILS in CI
(CI=true), where a skip would hide that the page was never tested.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.browser


def require(tool: str, hint: str) -> str:
    """The tool's path; else a skip, or in CI a failure."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not on PATH ({hint})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}: CI must run the browser test", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def page():
    chromium = require("chromium", "apt-get install chromium")
    require("ffmpeg", "apt-get install ffmpeg; the live player needs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--autoplay-policy=no-user-gesture-required"])
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1000})
        finally:
            browser.close()


def test_upload_generate_hear_live_and_see_result(page, app_url: str, seed_wav: Path,
                                                  tmp_path) -> None:
    page.goto(app_url)
    page.get_by_role("button", name="Generate").wait_for(timeout=30_000)
    assert page.get_by_label("Seed's own sound").is_checked()  # the default Sound
    page.locator("#seed-audio input[type=file]").set_input_files(str(seed_wav))
    # The uploaded clip gets a player (an <audio> with a src) once the upload is done.
    page.locator("#seed-audio audio[src]").first.wait_for(state="attached", timeout=30_000)
    seconds = page.locator("#seconds input[type=number]")
    seconds.fill("3")
    seconds.press("Enter")
    segments: list[str] = []  # the live player's audio, as Gradio streams it (HLS segments)
    page.on("request", lambda r: segments.append(r.url) if "/stream/" in r.url
            and not r.url.endswith(".m3u8") else None)
    page.get_by_role("button", name="Generate").click()
    # The live player receives audio while the request runs: it gets a source, buffers
    # at least a second of sound, and plays it (autoplay).
    page.locator("#live-audio audio[src]").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_function(
        """() => { const a = document.querySelector('#live-audio audio');
                   return a && a.buffered.length > 0 && a.buffered.end(0) >= 1.0
                          && a.currentTime > 0; }""", timeout=60_000)
    assert segments, "the live player fetched no audio segments"
    page.locator("#output-audio audio[src]").first.wait_for(state="attached", timeout=60_000)
    page.locator("#spectrogram img").first.wait_for(state="visible", timeout=10_000)
    summary = page.locator("#summary")  # the plain-language line
    summary.get_by_text("real time").wait_for(timeout=10_000)
    assert re.search(r"BPM|no steady beat", summary.inner_text()), summary.inner_text()
    page.get_by_text("All the details (JSON)").click()  # the full info, folded by default
    info = page.locator("#info")
    info.get_by_text("random_seed").wait_for(timeout=10_000)
    text = info.inner_text()
    assert re.search(r'"?random_seed"?\s*:\s*\d+', text), text
    assert re.search(r'"?new_seconds"?\s*:\s*3\.\d+', text), text  # the Seconds box took effect
    links = [a.get_attribute("href") or "" for a in page.locator("#output-audio a").all()]
    assert any(href.endswith(".wav") for href in links), links


def test_unreadable_upload_is_reported_at_upload(page, app_url: str, tmp_path) -> None:
    page.goto(app_url)
    page.get_by_role("button", name="Generate").wait_for(timeout=30_000)
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my notes, not a recording\n" * 20)
    page.locator("#seed-audio input[type=file]").set_input_files(str(bad))
    # the library's own message, on the Seed, before anything is generated
    message = page.locator("#seed-audio").get_by_text("could not be read as audio")
    message.wait_for(timeout=30_000)
    assert "/tmp" not in message.inner_text()
    assert page.locator("#output-audio audio[src]").count() == 0


def test_a_real_example_click_runs_and_plays(page, app_url: str, tmp_path) -> None:
    page.goto(app_url)
    page.get_by_role("button", name="Generate").wait_for(timeout=30_000)
    page.get_by_role("button", name="SixtyFour Revisited – blkrbt").click()
    page.locator("#seed-audio audio[src]").first.wait_for(state="attached", timeout=30_000)
    page.wait_for_function(  # one click: the continuation plays in the live player
        """() => { const a = document.querySelector('#live-audio audio');
                   return a && a.buffered.length > 0 && a.currentTime > 0; }""",
        timeout=90_000)
    page.locator("#summary").get_by_text("real time").wait_for(timeout=60_000)
    page.locator("#spectrogram img").first.wait_for(state="visible", timeout=10_000)
    page.wait_for_timeout(1500)  # let the player and picture settle before the screenshot
    shot = Path(os.environ.get("MUSICGEN_SCREENSHOT") or tmp_path / "app.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
