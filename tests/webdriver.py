"""A headless Chromium driven through chromedriver's W3C WebDriver protocol (HTTP + JSON, stdlib only).

WebDriver is a W3C standard that chromedriver (Debian's chromium-driver, built with chromium)
speaks over loopback HTTP, so the few calls a page test needs (open a page, find an element,
type, set a file input, click, run a script) take urllib and no pinned client package.
Chromium gets the flags this closed-network machine needs: without the network ones it waits
on connections it cannot make.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths, or ("", reason) when they are not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        missing = " and ".join(n for n, p in (("chromium", browser), ("chromedriver", driver)) if not p)
        return "", f"{missing} not installed (apt-get install chromium chromium-driver; .ci/run installs them)"
    return browser, driver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser:
    """One chromedriver, one headless Chromium session; use as a context manager.

    Args:
        browser: the chromium binary.
        driver: the chromedriver binary.
        profile_dir: a fresh, empty folder for Chromium's --user-data-dir.
        log_path: where chromedriver writes its log (read it when a test fails).
        timeout: seconds any one WebDriver call or start-up step may take.
    """

    def __init__(self, browser: str, driver: str, profile_dir: str, log_path: str, timeout: float = 60.0):
        self.timeout = timeout
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "w", encoding="utf-8")
        # Its own process group: chromedriver's Chromium children go with it at the end.
        self._process = subprocess.Popen([driver, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
                                         stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.session = ""
        try:
            self._wait_ready()
            args = [*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--window-size=1200,900"]
            answer = self._call("POST", "/session", {"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "goog:chromeOptions": {"binary": browser, "args": args}}}})
            self.session = answer["sessionId"]
        except BaseException:
            self.close()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chromedriver exited with {self._process.returncode}; see {self._log.name}")
            try:
                if self._call("GET", "/status", timeout=2).get("ready"):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"chromedriver not ready within {self.timeout:.0f} s; see {self._log.name}")

    def _call(self, method: str, path: str, body=None, timeout=None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return json.loads(response.read() or b"{}").get("value") or {}
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read() or b"{}").get("value", {})
            raise RuntimeError(f"WebDriver {method} {path}: {detail.get('error')}: "
                               f"{str(detail.get('message', '')).splitlines()[0:1]}") from None

    def _session(self, method: str, path: str, body=None) -> dict:
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        return self._session("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def type(self, css: str, text: str) -> None:
        """Types into an element; on a file input, `text` is the path of the file to set."""
        self._session("POST", f"/element/{self.find(css)}/value", {"text": text})

    def clear(self, css: str) -> None:
        self._session("POST", f"/element/{self.find(css)}/clear", {})

    def click(self, css: str) -> None:
        self._session("POST", f"/element/{self.find(css)}/click", {})

    def script(self, source: str, *args):
        """Runs `source` as a function body in the page; returns what it returns."""
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": source, "args": list(args)})

    def wait_for(self, source: str, accept, timeout: float) -> object:
        """Polls `script(source)` until `accept(value)`; returns the value, or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.script(source)
            if accept(value):
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{source!r} still {value!r} after {timeout:.0f} s")

    def close(self) -> None:
        if self.session:
            try:
                self._call("DELETE", f"/session/{self.session}", timeout=20)
            except (OSError, RuntimeError):
                pass
            self.session = ""
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the group: chromedriver and any Chromium left
            try:
                os.killpg(self._process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self._process.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        self._log.close()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
