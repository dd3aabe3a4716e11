"""The playground page in a real browser: Debian's headless Chromium, driven by Selenium through
the page as a person would use it, against the real engine.

Chromium and its driver come from Debian (devstack/provision.sh installs them); without them
the tests fail and say so. Screenshots go to var/test/artifacts/.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.e2e.conftest import REPO, Engine

ARTIFACTS = REPO / "var" / "test" / "artifacts"
T = TypeVar("T")
VERDICTS = ("COMPLETED", "FAILED", "TIMEOUT", "NOT RUN")

# Reads a line of stdin, waits a second, then prints three lines half a second apart. The wait:
# the event stream has no output from before the page subscribed (the result at the end has
# it all), and the test looks for each line as it is printed. Typed key by key: no indented
# line, so the editor's auto-indent cannot change what is typed.
PROGRAM = (
    "import sys, time\n"
    "name = sys.stdin.readline().strip(); time.sleep(1)\n"
    'print("first line for", name, flush=True); time.sleep(0.5)\n'
    'print("second line", flush=True); time.sleep(0.5)\n'
    'print("third line", flush=True)'
)


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(
            "the playground test needs Debian's chromium and chromium-driver packages "
            f"(found chromium: {browser}, chromedriver: {driver}); devstack/provision.sh "
            "installs them (run `make provision` as root)",
            pytrace=False,
        )
    return browser, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root, where Chromium's own sandbox refuses to start
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--lang=en",
    ):
        options.add_argument(argument)
    try:
        # The driver's path is given, so Selenium downloads nothing.
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    except WebDriverException as exc:
        pytest.fail(f"headless Chromium did not start: {exc.msg}", pytrace=False)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver, request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    """The browser for one test; what it showed last is kept in ARTIFACTS/<test>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield browser
    finally:
        browser.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))


def until(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"the page did not show {what} within {timeout:.0f}s", pytrace=False)
        time.sleep(0.05)


def text(browser: WebDriver, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


def editor_code(browser: WebDriver) -> str:
    # Read through CodeMirror: its DOM renders only the visible lines.
    return str(
        browser.execute_script("return document.querySelector('.CodeMirror').CodeMirror.getValue()")
    )


def session_in_url(browser: WebDriver) -> str | None:
    return parse_qs(urlsplit(browser.current_url).query).get("session", [None])[0]


def choose(browser: WebDriver, engine: Engine, language: str) -> str:
    """Pick a language by name; the new session's id, once its template is in the editor."""
    # A first visit: no session remembered from an earlier test (cleared on a page of the same
    # origin that does not remember one itself).
    browser.get(f"{engine.url}/health")
    browser.execute_script("localStorage.clear()")
    browser.get(f"{engine.url}/")
    menu = until(
        f"{language} among the languages",
        lambda: next(
            (
                option
                for option in browser.find_elements(By.CSS_SELECTOR, "#language option")
                if option.text.startswith(language)
            ),
            None,
        ),
    )
    value = str(menu.get_attribute("value"))
    Select(browser.find_element(By.ID, "language")).select_by_value(value)
    template = httpx.get(f"{engine.url}/languages/{value}", timeout=10).json()["template_code"]
    session = until("a new session in the URL", lambda: session_in_url(browser))
    until("the language's template in the editor", lambda: editor_code(browser) == template)
    until("'All changes saved'", lambda: "All changes saved" in text(browser, "save-state"))
    return session


def type_into_editor(browser: WebDriver, keys: str) -> None:
    browser.find_element(By.CSS_SELECTOR, ".CodeMirror").click()
    active = browser.switch_to.active_element
    active.send_keys(Keys.CONTROL, "a")
    active.send_keys(Keys.DELETE)
    active.send_keys(keys)


def test_write_run_and_find_it_again(page: WebDriver, engine: Engine) -> None:
    session = choose(page, engine, "Python")
    type_into_editor(page, PROGRAM)
    assert editor_code(page) == PROGRAM
    page.find_element(By.ID, "stdin").send_keys("playground\n")
    until(
        "'All changes saved' after typing",
        lambda: "All changes saved" in text(page, "save-state"),
    )
    saved = httpx.get(f"{engine.url}/code-sessions/{session}", timeout=10).json()
    assert saved["source_code"] == PROGRAM

    page.find_element(By.ID, "run").click()
    seen: list[str] = []

    def finished() -> bool:
        seen.append(text(page, "output"))
        return page.find_element(By.ID, "verdict").get_attribute("data-status") in VERDICTS

    until("a verdict", finished, timeout=60)
    assert text(page, "status") == "COMPLETED", (text(page, "verdict"), seen[-1])
    assert text(page, "output").splitlines() == [
        "first line for playground",
        "second line",
        "third line",
    ]
    # Live: the first line was on the page while the program had not printed the last.
    assert any("first line" in shown and "third line" not in shown for shown in seen), seen
    assert "time " in text(page, "figures"), text(page, "figures")
    assert "memory " in text(page, "figures"), text(page, "figures")
    until(
        "the run among the session's past runs",
        lambda: "COMPLETED" in text(page, "runs"),
    )
    page.save_screenshot(str(ARTIFACTS / "playground.png"))

    # Reloaded, the page finds the session (from the URL) and the saved code.
    page.refresh()
    until("the saved code after a reload", lambda: editor_code(page) == PROGRAM)
    assert session_in_url(page) == session
    until("past runs after a reload", lambda: "COMPLETED" in text(page, "runs"))
    # Opened again without the id, it is remembered by the browser (localStorage).
    page.get(f"{engine.url}/playground")
    until("the remembered session", lambda: session_in_url(page) == session)
    until("the saved code from the remembered session", lambda: editor_code(page) == PROGRAM)
    # New session: the same language's template again, under a new id; the old code stays saved.
    page.find_element(By.ID, "new-session").click()
    fresh = until(
        "a new session in the URL",
        lambda: session_in_url(page) if session_in_url(page) != session else None,
    )
    template = httpx.get(f"{engine.url}/languages/python", timeout=10).json()["template_code"]
    assert editor_code(page) == template
    old = httpx.get(f"{engine.url}/code-sessions/{session}", timeout=10).json()
    assert old["source_code"] == PROGRAM
    assert httpx.get(f"{engine.url}/code-sessions/{fresh}", timeout=10).status_code == 200


def test_a_change_made_elsewhere_is_a_conflict_not_lost(page: WebDriver, engine: Engine) -> None:
    session = choose(page, engine, "Python")
    current = httpx.get(f"{engine.url}/code-sessions/{session}", timeout=10)
    # Another tab saves first.
    elsewhere = httpx.patch(
        f"{engine.url}/code-sessions/{session}",
        json={"source_code": "print('from elsewhere')"},
        headers={"If-Match": current.headers["ETag"]},
        timeout=10,
    )
    assert elsewhere.status_code == 200
    type_into_editor(page, "print('from this page')")
    alert = page.find_element(By.ID, "conflict")
    until("the conflict alert", alert.is_displayed)
    assert "changed elsewhere" in alert.text
    page.save_screenshot(str(ARTIFACTS / "playground-conflict.png"))
    assert "conflict" in text(page, "save-state")
    # Nothing was overwritten behind the user's back.
    kept = httpx.get(f"{engine.url}/code-sessions/{session}", timeout=10).json()
    assert kept["source_code"] == "print('from elsewhere')"

    page.find_element(By.ID, "keep-mine").click()
    until(
        "'All changes saved' after keeping mine",
        lambda: "All changes saved" in text(page, "save-state"),
    )
    assert not alert.is_displayed()
    mine = httpx.get(f"{engine.url}/code-sessions/{session}", timeout=10).json()
    assert mine["source_code"] == "print('from this page')"


def test_the_keyboard_alone_writes_runs_and_leaves_the_editor(
    page: WebDriver, engine: Engine
) -> None:
    choose(page, engine, "Python")
    type_into_editor(page, "if True:")
    editor = page.switch_to.active_element
    # Enter after a colon indents; Shift+Tab and Tab dedent and indent: a code editor.
    editor.send_keys(Keys.ENTER)
    assert editor_code(page) == "if True:\n    "
    editor.send_keys(Keys.SHIFT, Keys.TAB)
    assert editor_code(page) == "if True:\n"
    editor.send_keys(Keys.TAB, "print('indented')")
    assert editor_code(page) == "if True:\n    print('indented')"
    # Tab is the editor's; Esc then Tab moves on to the next control, standard input.
    editor.send_keys(Keys.ESCAPE, Keys.TAB)
    assert page.switch_to.active_element.get_attribute("id") == "stdin", (
        page.switch_to.active_element.get_attribute("outerHTML"),
        editor_code(page),
    )
    # Ctrl+Enter from anywhere saves and runs.
    page.switch_to.active_element.send_keys(Keys.CONTROL, Keys.ENTER)
    until("a verdict after Ctrl+Enter", lambda: text(page, "status") in VERDICTS, 60)
    assert text(page, "status") == "COMPLETED", (
        text(page, "verdict"),
        text(page, "output"),
    )
    assert text(page, "output") == "indented"
    assert "All changes saved" in text(page, "save-state")
    # A past run, chosen from the list, shows its result again.
    until(
        "the run in the list",
        lambda: len(page.find_elements(By.CSS_SELECTOR, "#runs button")) == 1,
    )
    type_into_editor(page, "print('again')")
    page.switch_to.active_element.send_keys(Keys.CONTROL, Keys.ENTER)
    until("the second run's output", lambda: text(page, "output") == "again", 60)
    until(
        "two runs in the list",
        lambda: len(page.find_elements(By.CSS_SELECTOR, "#runs button")) == 2,
    )
    older = page.find_elements(By.CSS_SELECTOR, "#runs button")[1]  # newest first
    older.send_keys(Keys.ENTER)
    until("the first run's output again", lambda: text(page, "output") == "indented")
    assert text(page, "status") == "COMPLETED"
