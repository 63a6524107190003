"""The attention viewer in a real browser: JupyterLab serves a temporary copy of notebook 10b, Chromium
(driven by Playwright, using the system browser from tools/install_chromium.sh) runs every cell at the
notebook's test size (the viewer's wiring is under test here, not the training), then works the viewer's
controls as a reader would — a key press on the latent slider, a click on "scores", a tick on "every latent
at once", another head from the drop-down — and checks after each that the caption names the new selection
and that the picture itself changed (the PNG's bytes differ from every earlier frame's).

Skipped only on a machine without /usr/bin/chromium and without CI set; under CI it fails instead."""

import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import free_port, kill_leftovers

pytestmark = pytest.mark.slow  # minutes: kept out of the fast subset (pytest -m "not slow")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "10b_attention_viewer.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_S = 120  # JupyterLab's first start builds no assets, but a busy machine is slow
RUN_ALL_S = 600  # the notebook at its test size, with room for a very loaded CPU
STEP_S = 120  # every other wait: kernel start, one redraw
VIEWER = ".attention-viewer"
SETTINGS = {  # JupyterLab user settings: no news or update pop-ups, and every cell kept in the DOM
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const context = panel && panel.sessionContext;
    const kernel = context && context.session && context.session.kernel;
    return Boolean(kernel) && context.isReady && kernel.status === "idle";
}"""
SRC_CHANGED = """([selector, old]) => {
    const img = document.querySelector(selector);
    return img !== null && img.getAttribute("src") !== old;
}"""
RUN_ALL = """() => {
    window.__runAll = undefined;
    window.jupyterapp.commands.execute("notebook:run-all-cells").then(
        ok => { window.__runAll = ok === undefined ? true : ok; },
        error => { window.__runAll = "error: " + error; });
}"""


def _request(url, token, method="GET"):
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def _write_config(home):
    """Temporary Jupyter config, data, runtime, settings and workspace folders, so nothing in the repo is
    written."""
    folders = {
        name: home / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")
    }
    for folder in folders.values():
        folder.mkdir(parents=True)
    server = {"LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}
    (folders["config"] / "jupyter_server_config.json").write_text(json.dumps(server))
    for name, values in SETTINGS.items():
        path = folders["settings"] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folders


def _shutdown(server, base, token, runtime, log):
    "Shut kernels and server down politely, then by force; always close the log."
    try:
        if server.poll() is None:
            try:
                for kernel in _request(f"{base}/api/kernels", token) or []:
                    _request(f"{base}/api/kernels/{kernel['id']}", token, method="DELETE")
                _request(f"{base}/api/shutdown", token, method="POST")
                server.wait(timeout=30)
            except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    if server.poll() is None:
                        os.killpg(server.pid, sig)
                        try:
                            server.wait(timeout=15)
                        except subprocess.TimeoutExpired:
                            pass
        kill_leftovers(str(runtime))
    finally:
        log.close()


@pytest.fixture
def lab(tmp_path, request):
    "A JupyterLab server on a free local port, serving a copy of notebook 10b; shut down whatever happens."
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; run tools/install_chromium.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folders = _write_config(tmp_path / "jupyter")
    served = tmp_path / "notebooks"
    served.mkdir()
    shutil.copy(NOTEBOOK, served / NOTEBOOK.name)
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(folders["config"]),
        "JUPYTER_DATA_DIR": str(folders["data"]),
        "JUPYTER_RUNTIME_DIR": str(folders["runtime"]),
        "IPYTHONDIR": str(folders["ipython"]),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as a reader has it
    env["PERCEIVER_LITE_TEST_SIZE"] = "1"  # the notebook's test size: seconds of training, not minutes
    # One thread for these tiny models: barely slower on an idle machine, and immune to the
    # many-fold slow-down of two spinning OpenMP threads when other processes share the cores.
    env.setdefault("OMP_NUM_THREADS", "1")
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={served}",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={folders['settings']}",
        f"--LabApp.workspaces_dir={folders['workspaces']}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "jupyter.log", "w")
    server = subprocess.Popen(
        command, cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    request.addfinalizer(lambda: _shutdown(server, base, token, folders["runtime"], log))
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if server.poll() is not None:
            pytest.fail(
                "jupyter lab exited with "
                f"{server.returncode}:\n{(tmp_path / 'jupyter.log').read_text()[-3000:]}"
            )
        try:
            _request(f"{base}/api/status", token)
            break
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"jupyter lab did not answer in {SERVER_START_S} "
                    f"s:\n{(tmp_path / 'jupyter.log').read_text()[-3000:]}"
                )
            time.sleep(0.5)
    return SimpleNamespace(base=base, token=token, folder=tmp_path, log=tmp_path / "jupyter.log")


def _wait_idle(page, timeout_s=STEP_S):
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_s * 1000, polling=250)


def _error_output(page):
    "The text of the notebook's error outputs, for a failure message."
    errors = page.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    ).all_inner_texts()
    return "\n".join(errors)[-3000:] or "none shown"


def _redraw(page, viewer, action, caption):
    """Do `action`, then wait until the viewer shows `caption` and a new picture; returns the PNG's digest."""
    before = viewer.locator("img").get_attribute("src")
    action()
    viewer.get_by_text(caption).wait_for()
    _wait_idle(page)
    page.wait_for_function(SRC_CHANGED, arg=[f"{VIEWER} img", before])
    after = viewer.locator("img").get_attribute("src")
    assert after.startswith("data:image/png;base64,") and after != before
    return hashlib.sha256(base64.b64decode(after.split(",", 1)[1])).hexdigest()


def _run_all(page, first):
    "Run every cell; wait for the viewer's first caption and the end of the run, which must succeed."
    page.evaluate(RUN_ALL)
    page.wait_for_function(  # the viewer's caption, or the end of the run (a failed one ends early)
        "([selector, text]) => window.__runAll !== undefined || "
        "[...document.querySelectorAll(selector)].some(node => node.innerText.includes(text))",
        arg=[VIEWER, first],
        timeout=RUN_ALL_S * 1000,
        polling=500,
    )
    page.wait_for_function("() => window.__runAll !== undefined", timeout=STEP_S * 1000)
    ran = page.evaluate("window.__runAll")
    assert ran is True, f"running all cells failed ({ran}); error output: {_error_output(page)}"


def test_viewer_controls_redraw_the_picture(lab):
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    screenshot = lab.folder / "attention_viewer.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(STEP_S * 1000)
            page.goto(f"{lab.base}/lab/tree/{NOTEBOOK.name}?reset&token={lab.token}")
            _wait_idle(page)
            first = "showing example 0, cross-attend 0, head 0, latent 0: softmax weights"
            _run_all(page, first)
            viewer = page.locator(VIEWER)
            viewer.get_by_text(first).wait_for()
            _wait_idle(page)
            viewer.locator("img").wait_for()
            src = viewer.locator("img").get_attribute("src")
            digests = [hashlib.sha256(base64.b64decode(src.split(",", 1)[1])).hexdigest()]
            slider = viewer.locator(".widget-slider").filter(has_text="latent").locator(".noUi-handle")
            scores = "(log-weights centred per latent)"
            steps = [  # a real key press on the focused handle, clicks, a choice from the drop-down
                (lambda: slider.press("ArrowRight"), "head 0, latent 1: softmax weights"),
                (
                    lambda: viewer.locator(".widget-toggle-button", has_text="scores").click(),
                    f"head 0, latent 1: scores {scores}",
                ),
                (
                    lambda: viewer.locator(".widget-checkbox input[type=checkbox]").check(),
                    f"head 0, all 32 latents: scores {scores}",
                ),
                (
                    lambda: (
                        viewer.locator(".widget-dropdown")
                        .filter(has_text="head")
                        .locator("select")
                        .select_option(label="1")
                    ),
                    f"showing example 0, cross-attend 0, head 1, all 32 latents: scores {scores}",
                ),
            ]
            for action, caption in steps:
                digests.append(_redraw(page, viewer, action, caption))
            assert len(set(digests)) == len(digests), f"a control left the picture unchanged: {digests}"
            viewer.scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    print(f"\nscreenshot: {screenshot}\nbrowser test took {time.monotonic() - started:.1f} s")
