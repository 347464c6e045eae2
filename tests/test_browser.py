"""The real browser: Debian's chromium, headless, driven by Selenium.

Every page opened first by its address after a fresh server start, inside the dashboard's
frame. Then one end-to-end run: start the app, start a one-epoch run from the Train page, wait for
its curve on Monitor, open Evaluate, predict on Submit, download the CSV and check it; upload an
image on Predict; then on Monitor tag the run, filter it out and back, archive it, show archived
runs, restore it and delete it. Skips where chromium is absent (.ci/run installs it). JULIA_SCREENSHOTS=DIR also saves
a screenshot of every page there.
"""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from selenium.webdriver.common.by import By

from julia_core.data.dataset import KaggleDataset
from julia_core.predict.submission import validate_submission

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def dashboard_servers(data: Path, runs: Path, folder: Path, count: int = 1):
    """`count` servers of `streamlit run dashboard.py` on free ports, as `make run` starts it,
    started together; yields their addresses."""
    env = dict(os.environ, JULIA_DATA=str(data), JULIA_RUNS=str(runs), JULIA_STATE=str(folder / "state.json"))
    servers = []
    for _ in range(count):
        port = free_port()
        log = folder / f"streamlit-{port}.log"
        servers.append((f"http://127.0.0.1:{port}", log, subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
             "--server.headless", "true"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))))
    try:
        for url, log, _ in servers:
            wait_healthy(url, log)
        yield [url for url, _, _ in servers]
    finally:
        for _, _, server in servers:
            server.terminate()
        for _, _, server in servers:
            server.wait(10)


def wait_healthy(url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the dashboard at {url} did not come up: " + log.read_text()[-2000:])


@pytest.fixture
def app_url(small_demo, tmp_path):
    with dashboard_servers(small_demo, tmp_path / "runs", tmp_path) as [url]:
        yield url


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1500,1900", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def wait_until(condition, timeout=60, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception:  # elements come and go while Streamlit reruns
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {message}")


def open_page(driver, url, path, title):
    driver.get(f"{url}/{path}")
    wait_for_page(driver, title)


def wait_for_page(driver, title):
    """The page with this title drawn, its spinners gone, no exception shown."""
    wait_until(lambda: any(h.text == title for h in driver.find_elements(By.TAG_NAME, "h1")), 60, f"the {title} page")
    wait_until(lambda: not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSpinner"]'), 60, "spinners")
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), f"{title}: an exception is shown"


def set_number(driver, label, value):
    from selenium.webdriver.common.keys import Keys
    # The title arrives before the rest of the page, and an expander's fields only take keys once it
    # has opened: wait for the field, then type again until it takes.
    def attempt():
        field = driver.find_element(By.CSS_SELECTOR, f'input[aria-label="{label}"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", field)
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(str(value), Keys.TAB)
        return True
    wait_until(attempt, 60, f"the {label} field")


def click_button(driver, text):
    click(driver, lambda: next(b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == text),
          f"the {text} button")


def click(driver, find, what):
    """Find and click, again until it takes: Streamlit may redraw the element between the two."""
    def attempt():
        element = find()
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()
        return True
    wait_until(attempt, 30, what)


def open_expander(driver, text):
    click(driver, lambda: next(e for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stExpander"] summary')
                               if text in e.text), f"the {text} expander")  # its text follows its icon's name


def type_into(driver, label, text, enter=True):
    """A text field or a multiselect's search box, found by its label; Enter adds a new option."""
    from selenium.webdriver.common.keys import Keys

    def attempt():
        for widget in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMultiSelect"], [data-testid="stTextInput"]'):
            if widget.find_element(By.TAG_NAME, "label").text.strip() == label:
                field = widget.find_element(By.TAG_NAME, "input")
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", field)
                field.click()
                field.send_keys(Keys.CONTROL, "a")
                field.send_keys(Keys.DELETE)  # not backspace: in a multiselect that takes off the last chosen item
                field.send_keys(text, *([Keys.ENTER] if enter else []))
                field.send_keys(Keys.ESCAPE)
                return True
    wait_until(attempt, 30, f"the {label} field")


def click_checkbox(driver, label):
    click(driver, lambda: next(e for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stCheckbox"] label')
                               if e.text.strip() == label), f"the {label} checkbox")


def screenshot(driver, name):
    folder = os.environ.get("JULIA_SCREENSHOTS")
    if folder:
        time.sleep(3)  # plotly draws after the page settles
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_train_monitor_evaluate_submit_in_a_browser(app_url, browser, small_demo, tmp_path):
    driver = browser
    open_page(driver, app_url, "", "Data")
    screenshot(driver, "data")

    open_page(driver, app_url, "train", "Train")
    set_number(driver, "Epochs", 1)
    open_expander(driver, "Advanced")
    set_number(driver, "Batch size", 32)
    click_button(driver, "Start")
    wait_until(lambda: "Started" in driver.find_element(By.CSS_SELECTOR, '[data-testid="stAlert"]').text, 30,
               "the Started message")
    screenshot(driver, "train")

    open_page(driver, app_url, "monitor", "Monitor")
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace")) >= 2, 180,
               "the run's curves on Monitor")
    wait_until(lambda: "finished" in driver.find_element(By.TAG_NAME, "body").text, 180, "the run to finish")
    screenshot(driver, "monitor")

    open_page(driver, app_url, "evaluate", "Evaluate")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .heatmaplayer, .js-plotly-plot image"),
               60, "the confusion matrix")
    screenshot(driver, "evaluate")

    open_page(driver, app_url, "submit", "Submit")
    click_button(driver, "Predict the test split")
    click_button(driver, "Download the CSV")
    csv = wait_until(lambda: next(iter(driver.downloads.glob("*.csv")), None), 60, "the downloaded CSV")
    screenshot(driver, "submit")
    rows = validate_submission(csv, KaggleDataset(small_demo).test_ids)
    assert len(rows) == 62

    open_page(driver, app_url, "predict", "Predict")
    upload = small_demo / "trainResized" / f"{KaggleDataset(small_demo).train_ids[0]}.Bmp"
    wait_until(lambda: driver.find_element(By.CSS_SELECTOR, 'input[type="file"]'), 30, "the upload box").send_keys(
        str(upload))
    wait_until(lambda: f"{upload.name}:" in driver.find_element(By.TAG_NAME, "body").text, 60, "the upload's verdict")
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")) >= 2, 60, "the heat map and top-5")
    screenshot(driver, "predict")

    records = runs_records(tmp_path / "runs")
    open_page(driver, app_url, "monitor", "Monitor")
    type_into(driver, "Tags", "keep")
    click_button(driver, "Save tags and note")
    wait_until(lambda: records()["tags"] == ["keep"], 30, "the tag saved in record.json")
    open_expander(driver, "Filter runs")
    type_into(driver, "Name", "no-such-run")
    wait_until(lambda: "0 of 1 runs pass the filter" in driver.find_element(By.TAG_NAME, "body").text, 30,
               "the filter leaving the run out")
    type_into(driver, "Name", "")
    wait_until(lambda: "pass the filter" not in driver.find_element(By.TAG_NAME, "body").text, 30, "the filter cleared")
    click_button(driver, "Archive")
    wait_until(lambda: records()["archived"], 30, "the run archived")
    click_checkbox(driver, "Show archived runs")
    click_button(driver, "Restore")
    wait_until(lambda: not records()["archived"], 30, "the run restored")
    click_button(driver, "Delete ...")
    click_button(driver, "Yes, delete")
    wait_until(lambda: not list((tmp_path / "runs").glob("2*")), 30, "the run folder deleted")
    wait_until(lambda: "No runs yet" in driver.find_element(By.TAG_NAME, "body").text, 30, "Monitor without runs")


def runs_records(root):
    """The record.json of the one run in root, read fresh each call."""
    import json

    def read():
        [run] = list(root.glob("2*"))
        return json.loads((run / "record.json").read_text())
    return read


def sidebar_navigation(driver) -> list[str]:
    """The sidebar's page links as they read (each link's text is its icon's name, then its title)."""
    return [link.text.split("\n")[-1].strip()
            for link in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a')]


def test_every_page_opened_first_by_its_address_is_inside_the_dashboard(demo_run, small_demo, browser, tmp_path):
    """Until st.navigation has run once in a server, Streamlit runs a pages/ file opened by its
    address on its own (issue 29): each page is opened first after a fresh start, with its query
    parameters, and must show the titled navigation, the wide layout and what the link asked for."""
    from julia_core.runs.launcher import list_runs
    from julia_core.views.curves import default_selection
    from julia_core.views.ui import PAGES
    runs = tmp_path / "runs"
    shutil.copytree(demo_run[0], runs)
    shutil.copytree(demo_run[1], runs / "20000101-000000-older")  # a second run, not Monitor's default
    [linked] = [run.name for run in list_runs(runs) if run.name not in default_selection(list_runs(runs))]
    query = {"monitor": f"?run={linked}", "train": f"?from={linked}", "evaluate": f"?run={linked}"}
    titles = [title for _, title, _ in PAGES]
    with dashboard_servers(small_demo, runs, tmp_path, count=len(PAGES)) as urls:  # a fresh server for each
        tabs = []
        for (name, _, _), url in zip(PAGES, urls):  # all opened at once: the servers start their pages together
            browser.switch_to.new_window("tab")
            browser.get(f"{url}/{name}{query.get(name, '')}")
            tabs.append(browser.current_window_handle)
        for (name, title, _), tab in zip(PAGES, tabs):
            browser.switch_to.window(tab)
            wait_for_page(browser, title)
            wait_until(lambda: sidebar_navigation(browser) == titles, 30, f"{title}: the titled navigation")
            main = browser.find_element(By.CSS_SELECTOR, '[data-testid="stMainBlockContainer"]')
            assert main.size["width"] > 1000, f"{title}: a narrow layout ({main.size['width']} px)"
            if name == "monitor":
                wait_until(lambda: chosen_runs(browser) == [linked], 30, f"Monitor: {linked} chosen")
            elif name in ("train", "evaluate"):
                label = "Copy the options of run ..." if name == "train" else "Run"
                wait_until(lambda: browser.find_element(By.CSS_SELECTOR, f'input[aria-label="{label}"]')
                           .get_attribute("value").startswith(linked), 30, f"{title}: {linked} chosen")


def chosen_runs(driver) -> list[str]:
    """The runs chosen in Monitor's Runs box."""
    box = next(box for box in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMultiSelect"]')
               if box.find_element(By.TAG_NAME, "label").text.strip() == "Runs")
    return [chip.get_attribute("aria-label") for chip in box.find_elements(By.CSS_SELECTOR, '[aria-label="Selected values"] [data-tag]')]
