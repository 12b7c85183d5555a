"""The dashboard tests' browser: Debian's headless Chromium driven by playwright (no download)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    # `make test` installs Debian's chromium: a missing browser is a broken set-up, not a skip.
    assert CHROMIUM is not None, "chromium is not installed (apt-get install -y chromium)"
    async with async_playwright() as driver:
        browser = await driver.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900})
        try:
            yield browser.pages[0] if browser.pages else await browser.new_page()
        finally:
            await browser.close()
