"""The Allure report as a reviewer opens it: built by ``./run report`` from a run of the real
features plus a deliberately failing fixture feature, served on localhost and read in headless
Chromium. Screenshots land in ``reports/report-*.png``."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from harness.waiting import eventually
from tests.behave_runner import FORMATTER, REPO, read_results

pytestmark = pytest.mark.slow

MAKE_REPORT = REPO / "tools" / "report" / "make-report"
FIXTURE = REPO / "tests" / "fixtures" / "report"
SCREENSHOTS = REPO / "reports"
FAILING = "The free tier is expected to admit a request beyond its quota"
FAILING_FEATURE = "Report self-test: a capability that loses revenue"
#: The tree's and the categories' name of a feature: capability, MRR in dollars, verdict.
FAILING_HEADING = f"{FAILING_FEATURE} · $150,000 MRR · at risk"
TIERS_HEADING = "Subscription tier enforcement · $347,000 MRR · protected"
#: The failure message, in the feature's words with the request ids (tiers DSL, _outcomes).
FAILURE = re.compile(
    r"expected 2 requests admitted, 1 were: request 1: \S+ was admitted; "
    r"request 2: \S+ was refused \(the monthly quota is used\)"
)
#: What code looks like on a page: a record's repr, an enum's repr.
CODE = re.compile(r"\b[A-Z]\w*\(\w+=|<\w+\.\w+: ")
PHASES = ("Phase 1: Revenue foundations", "Phase 2: Delivery and agent safety")
#: A phase whose features pass (the dead-letter queue): collapsed in the tree until clicked.
QUIET_PHASE = "Phase 3: Resilience and cost control"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
    "--window-size=1400,1600", "--remote-debugging-port=0",
)
#: Seconds the page may take to show what is awaited (it renders in well under one).
PAGE_TIMEOUT = 20.0


def _missing_node() -> str | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "Node.js 20+ with npm is not installed (README, 'Reading the report')"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    if int(version.lstrip("v").split(".")[0] or 0) < 20:
        return f"Node.js {version.strip()} is older than 20, which Allure 3 needs"
    return None


@dataclass
class BuiltReport:
    results_folder: Path
    folder: Path
    single_file: Path
    history: Path
    results: list[dict[str, Any]]
    summary: dict[str, Any]
    environment: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltReport:
    missing = _missing_node()
    if missing:
        pytest.skip(missing)
    work = tmp_path_factory.mktemp("report")
    results, reports = work / "results", work / "reports"
    # Run from a scratch folder: behave reads [tool.behave] from the working directory, and its
    # formatter there would add a second output into the developer's allure-results/.
    completed = subprocess.run(
        [sys.executable, "-m", "behave", str(REPO / "features"), str(FIXTURE),
         "-f", FORMATTER, "-o", str(results), "-f", "progress",
         "-D", f"allure_results={results}", "-D", f"reports_dir={reports}",
         "--junit", "--junit-directory", str(work / "junit"), "--no-skipped"],
        cwd=work, env={**os.environ, **_git_dir()}, capture_output=True, text=True, timeout=600,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, f"the fixture feature should fail the run:\n{output[-4000:]}"
    history = work / "history.jsonl"
    for _ in range(2):  # twice, so the history holds two runs
        generated = subprocess.run(
            [str(MAKE_REPORT), "--results", str(results), "--output", str(work / "report"),
             "--history", str(history)],
            capture_output=True, text=True, timeout=300,
        )
        assert generated.returncode == 0, generated.stdout + generated.stderr
    single = subprocess.run(
        [str(MAKE_REPORT), "--single-file", "--results", str(results), "--output",
         str(work / "single"), "--history", str(work / "single-history.jsonl")],
        capture_output=True, text=True, timeout=300,
    )
    assert single.returncode == 0, single.stdout + single.stderr
    return BuiltReport(
        results_folder=results,
        folder=work / "report",
        single_file=work / "single" / "index.html",
        history=history,
        results=read_results(results),
        summary=json.loads((reports / "revenue-summary.json").read_text()),
        environment=(results / "environment.properties").read_text(),
    )


def _git_dir() -> dict[str, str]:
    """GIT_DIR, so the run records the repository's commit although it starts elsewhere."""
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--absolute-git-dir"], capture_output=True,
        text=True,
    )
    return {"GIT_DIR": found.stdout.strip()} if found.returncode == 0 else {}


@pytest.fixture(scope="module")
def served(built: BuiltReport) -> Iterator[str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(built.folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Page:
    """One headless Chromium tab, driven over the DevTools protocol."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events arrive in between; the answer carries our id
            message = json.loads(self.socket.recv(timeout=PAGE_TIMEOUT))
            if message.get("id") == self.next_id:
                assert "error" not in message, f"{method}: {message['error']}"
                return dict(message["result"])

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in answer, answer["exceptionDetails"]
        return answer["result"].get("value")

    def text(self) -> str:
        """The visible text, that of same-origin frames included (markdown renders in one)."""
        return str(self.evaluate(
            "[document, ...[...document.querySelectorAll('iframe')].map(f => f.contentDocument)]"
            ".filter(d => d && d.body).map(d => d.body.innerText).join('\\n')"
        ))

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def shows(self, *needles: str) -> str:
        """Wait until the page's visible text holds every needle; return that text."""

        def check() -> str:
            text = self.text()
            missing = [n for n in needles if n not in text]
            assert not missing, f"missing {missing} in: {text[:1500]!r}"
            return text

        return eventually(check, timeout=PAGE_TIMEOUT, interval=0.1, what=f"page showing {needles}")

    def click(self, label: str) -> None:
        """Click the innermost element whose own text is ``label``."""
        found = self.evaluate(
            "(() => { const all = [...document.querySelectorAll('body *')].filter("
            f"e => e.innerText && e.innerText.trim() === {json.dumps(label)});"
            " const el = all[all.length - 1]; if (el) { el.click(); } return !!el; })()"
        )
        assert found, f"nothing to click labelled {label!r}"

    def click_all(self, label: str) -> None:
        """Click every innermost element whose own text is ``label`` (each panel's "Show
        more", say)."""
        clicked = self.evaluate(
            "(() => { const all = [...document.querySelectorAll('body *')].filter("
            f"e => e.innerText && e.innerText.trim() === {json.dumps(label)});"
            " const inner = all.filter(e => !all.some(o => o !== e && e.contains(o)));"
            " inner.forEach(e => e.click()); return inner.length; })()"
        )
        assert clicked, f"nothing to click labelled {label!r}"

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, served: str) -> Iterator[Page]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run does)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    browser = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        port = eventually(
            lambda: _devtools_port(profile, browser), timeout=30, interval=0.05,
            what="Chromium's DevTools port",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        tab = next(t for t in targets if t["type"] == "page")
        with connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as socket:
            yield Page(socket)
    finally:
        _stop(browser)


def _devtools_port(profile: Path, browser: subprocess.Popen[bytes]) -> int:
    assert browser.poll() is None, f"Chromium exited with {browser.returncode}"
    announced = profile / "DevToolsActivePort"
    assert announced.exists(), "Chromium has not announced its DevTools port yet"
    written = announced.read_text().split()  # empty while Chromium is still writing it
    assert written, "Chromium is announcing its DevTools port"
    return int(written[0])


def _stop(browser: subprocess.Popen[bytes]) -> None:
    if browser.poll() is None:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)  # its own session: Chromium and its helpers
            browser.wait(timeout=10)


def test_the_run_behind_the_report_has_the_fixture_failing_with_its_mrr(
    built: BuiltReport,
) -> None:
    fixture = [r for r in built.results if r["name"] == FAILING]
    assert [r["status"] for r in fixture] == ["failed"]
    assert {"name": "mrr", "value": "$150,000"} in fixture[0]["labels"]
    assert {"name": "feature", "value": FAILING_HEADING} in fixture[0]["labels"]
    assert {"name": "epic", "value": PHASES[1]} in fixture[0]["labels"]
    verdicts = {f["feature"]: f["verdict"] for f in built.summary["features"]}
    assert verdicts[FAILING_FEATURE] == "at_risk"
    assert built.summary["mrr"]["at_risk"] >= 150_000


def test_the_history_keeps_one_entry_per_generated_report(built: BuiltReport) -> None:
    assert len(built.history.read_text().splitlines()) == 2


def test_the_tree_by_mrr_keeps_features_of_the_same_mrr_apart(
    built: BuiltReport, tmp_path: Path
) -> None:
    generated = subprocess.run(
        [str(MAKE_REPORT), "--group-by", "mrr", "--results", str(built.results_folder),
         "--output", str(tmp_path / "by-mrr"), "--history", str(tmp_path / "history.jsonl")],
        capture_output=True, text=True, timeout=300,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    tree = json.loads((tmp_path / "by-mrr" / "widgets" / "default" / "tree.json").read_text())
    groups = tree["groupsById"]
    shown = {
        groups[top]["name"]: sorted(groups[inner]["name"] for inner in groups[top]["groups"])
        for top in tree["root"]["groups"]
    }
    expected: dict[str, list[str]] = {}
    for feature in built.summary["features"]:
        verdict = feature["verdict"].replace("_", " ")
        heading = f"{feature['feature']} · {usd(feature['mrr'])} MRR · {verdict}"
        expected.setdefault(usd(feature["mrr"]), []).append(heading)
    assert shown == {mrr: sorted(headings) for mrr, headings in expected.items()}
    assert len(shown["$200,000"]) == 2  # the agent runs and tenant configuration features


def test_the_report_calls_no_third_party_analytics(built: BuiltReport) -> None:
    for page_file in (built.folder / "index.html", built.single_file):
        html = page_file.read_text()
        assert "googletagmanager" not in html and "gtag(" not in html, page_file


def test_the_overview_shows_the_phases_the_revenue_figures_and_the_environment(
    built: BuiltReport, served: str, page: Page
) -> None:
    total = built.summary["mrr"]
    # The figures of this run's summary, as the overview's Variables show them.
    figures = [
        f"MRR at risk\n{usd(total['at_risk'])}", f"MRR protected\n{usd(total['protected'])}",
        f"MRR not run\n{usd(total['not_run'])}",
    ]
    for tag, phase in built.summary["phases"].items():
        number = tag.removeprefix("phase")
        figures.append(f"Phase {number} at risk\n{usd(phase['at_risk'])}")
        figures.append(f"Phase {number} protected\n{usd(phase['protected'])}")
    page.open(served)
    page.shows("Apex revenue acceptance", *PHASES, FAILING_HEADING, "MRR at risk")
    # The overview lists the first few variables and metadata; a run with three phases has more.
    page.click_all("Show more")
    page.shows(
        *figures, "service.mode", "service.redis", "service.postgresql", "service.clickhouse",
        "python", "behave", "git.commit", _property(built.environment, "git.commit"),
    )
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(SCREENSHOTS / "report-screenshot.png")


def test_the_tree_shows_each_feature_with_its_mrr_in_dollars_its_phase_and_its_verdict(
    built: BuiltReport, served: str, page: Page
) -> None:
    page.open(served)
    page.shows(PHASES[0], FAILING_HEADING)
    page.click(PHASES[0])  # a phase without failures starts collapsed
    page.click(QUIET_PHASE)  # and so does this one
    text = page.shows(TIERS_HEADING)
    for feature in built.summary["features"]:
        verdict = feature["verdict"].replace("_", " ")
        heading = f"{feature['feature']} · {usd(feature['mrr'])} MRR · {verdict}"
        assert heading in text, f"{heading!r} not in the tree:\n{text}"
    # Each feature under its phase: the tiers under phase 1, the fixture under phase 2.
    assert text.find(PHASES[0]) < text.find(TIERS_HEADING) < text.find(PHASES[1])
    assert text.find(PHASES[1]) < text.find(FAILING_HEADING)
    page.screenshot(SCREENSHOTS / "report-tree.png")


def test_the_failing_feature_is_listed_under_revenue_at_risk_with_its_mrr(
    served: str, page: Page
) -> None:
    page.open(served + "#categories")
    text = page.shows("Revenue at risk", FAILING_HEADING, FAILING)
    # In reading order: the category, the feature with its MRR in dollars, the failure in the
    # feature's words, then the failed scenario.
    at = -1
    for expected in ("Revenue at risk", FAILING_HEADING, "expected 2 requests admitted", FAILING):
        at = text.find(expected, at + 1)
        assert at >= 0, f"{expected!r} not found after the previous item in:\n{text}"
    assert FAILURE.search(text), text
    assert not re.search(r"mrr:? \$?\d", text), f"a raw MRR group in:\n{text}"
    assert not CODE.search(text), text
    for later in ("Product errors", "Test errors"):  # Allure's own catch-alls come last
        found = text.find(later)
        assert found == -1 or found > at, text
    page.screenshot(SCREENSHOTS / "report-categories.png")


def test_the_failed_scenario_says_what_went_wrong_in_words_and_its_step_tree_is_red(
    served: str, page: Page
) -> None:
    page.open(served)
    page.shows(FAILING)
    page.click(FAILING)
    text = page.shows("all 2 requests are admitted", "2 requests are admitted")
    assert FAILURE.search(text), text
    assert "AssertionError" not in text and not CODE.search(text), text
    # Every business step on the way to the failed check is shown failed, none passed.
    statuses = page.evaluate(STEP_STATUSES)
    page.screenshot(SCREENSHOTS / "report-failed-scenario.png")
    assert statuses, f"no steps found on the page:\n{text}"
    for name in ("Then all 2 requests are admitted", "all 2 requests are admitted",
                 "2 requests are admitted"):
        assert statuses.get(name) == "failed", f"{name!r}: {statuses}"


def test_the_revenue_summary_is_attached_to_the_run_with_a_row_per_feature(
    served: str, page: Page
) -> None:
    page.open(served + "#globalAttachments")
    page.shows("Revenue summary")
    page.click("Revenue summary")
    # The rendered tables: one row per phase, one per feature with its MRR and verdict.
    page.shows(
        "MRR at risk:", f"{PHASES[1]}\t", "Subscription tier enforcement\tphase1\t$347,000",
        f"{FAILING_FEATURE}\tphase2\t$150,000\tat risk\t0\t1",
    )
    page.screenshot(SCREENSHOTS / "report-summary.png")


def test_the_single_file_report_opens_from_disk(built: BuiltReport, page: Page) -> None:
    assert [p.name for p in built.single_file.parent.glob("*.js")] == []
    page.open(built.single_file.as_uri() + "#categories")
    page.shows("Apex revenue acceptance", "Revenue at risk", FAILING_HEADING, FAILING)


#: Each step's title on a result's page, with the status its icon shows.
STEP_STATUSES = """(() => {
  const found = {};
  for (const el of document.querySelectorAll('[data-testid="test-result-step"]')) {
    const title = el.querySelector('[data-testid="test-result-step-title"]');
    const icon = el.querySelector('[data-testid^="ts-status-icon"], [class*="status"]');
    const shown = (icon && (icon.getAttribute('data-testid') || String(icon.className))) || '';
    const status = shown.match(/passed|failed|broken|skipped|unknown/);
    if (title && !(title.innerText.trim() in found)) {
      found[title.innerText.trim()] = status ? status[0] : shown;
    }
  }
  return found;
})()"""


def usd(dollars: int) -> str:
    return f"${dollars:,}"


def _property(properties: str, key: str) -> str:
    for line in properties.splitlines():
        name, _, value = line.partition("=")
        if name == key:
            return value.replace("\\:", ":").replace("\\=", "=").replace("\\\\", "\\")
    raise AssertionError(f"{key} missing from environment.properties:\n{properties}")
