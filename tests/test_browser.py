"""One real-browser end-to-end run: Debian's chromium, headless, driven by Selenium.

Start the app, start a one-epoch run from the Train page, wait for its curve on Monitor, open
Evaluate, predict on Submit, download the CSV and check it. Skips where chromium is absent
(.ci/run installs it). JULIA_SCREENSHOTS=DIR also saves a screenshot of every page there.
"""
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

from julia_core.data.dataset import KaggleDataset
from julia_core.predict.submission import validate_submission

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_url(small_demo, tmp_path):
    port = free_port()
    env = dict(os.environ, JULIA_DATA=str(small_demo), JULIA_RUNS=str(tmp_path / "runs"),
               JULIA_STATE=str(tmp_path / "state.json"))
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
                               "--server.headless", "true"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "streamlit.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("the dashboard did not come up: " + (tmp_path / "streamlit.log").read_text()[-2000:])
    yield url
    server.terminate()
    server.wait(10)


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
    from selenium.webdriver.common.by import By
    driver.get(f"{url}/{path}")
    wait_until(lambda: any(h.text == title for h in driver.find_elements(By.TAG_NAME, "h1")), 60, f"the {title} page")
    wait_until(lambda: not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSpinner"]'), 60, "spinners")
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), f"{title}: an exception is shown"


def set_number(driver, label, value):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    # The title arrives before the rest of the page; wait for the field itself.
    field = wait_until(lambda: driver.find_element(By.CSS_SELECTOR, f'input[aria-label="{label}"]'), 60,
                       f"the {label} field")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(value), Keys.TAB)


def click_button(driver, text):
    from selenium.webdriver.common.by import By
    button = wait_until(lambda: next(b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == text),
                        30, f"the {text} button")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


def screenshot(driver, name):
    folder = os.environ.get("JULIA_SCREENSHOTS")
    if folder:
        time.sleep(3)  # plotly draws after the page settles
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_train_monitor_evaluate_submit_in_a_browser(app_url, browser, small_demo):
    from selenium.webdriver.common.by import By
    driver = browser
    open_page(driver, app_url, "", "Data")
    screenshot(driver, "data")

    open_page(driver, app_url, "train", "Train")
    set_number(driver, "Epochs", 1)
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
