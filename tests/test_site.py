"""`tinyreason view`: the static site. Unit tests on the generated files (escaping, every run and question,
links that resolve), then a real browser: Debian's headless Chromium opens the site from disk, takes a
screenshot, runs the question filter, a question's view and the side-by-side page, with no JavaScript error.
The browser tests skip, saying why, where Chromium is absent; CI installs it (.ci/run) and must run them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runfab import generation, make_run, sample
from tinyreason.cli import app

EVIL = "<script>document.title='pwned'</script><b>bold?</b>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _runs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A baseline, a method run (one chain carries markup), and an SFT-like training folder."""
    base = make_run(tmp_path / "runs" / "greedy", [sample(i, str(i + 1), [generation(f"So #### {i + 1 if i % 2 else 999}")]) for i in range(6)])
    gens = lambda i: [generation(f"{EVIL} #### {i + 1}", "sample"), generation(f"#### {i + 1 if i % 2 == 0 else i + 2}", "sample")]  # noqa: E731
    rows = [sample(i, str(i + 1), gens(i)) for i in range(6)]
    for r in rows:
        r["question"] = f"Question {r['id']}: {EVIL}" if r["id"] == 3 else f"Question {r['id']}: how many apples?"
        r["truncated"] = r["id"] == 4
        r["extra"] = {"votes": [[str(r["id"] + 1), 1], [str(r["id"] + 2), 1]]}
    sc = make_run(tmp_path / "runs" / "sc", rows, method="sc", options={"n": 2})
    sft = tmp_path / "runs" / "sft"
    sft.mkdir()
    (sft / "train_report.json").write_text("{}")
    (sft / "loss.json").write_text(json.dumps([{"step": s, "loss": 1.0 / s} for s in range(1, 6)]))
    return base, sc, sft


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    base, sc, sft = _runs(tmp_path)
    res = CliRunner().invoke(app, ["view", str(base), str(sc), str(sft), str(tmp_path / "runs" / "missing"), "--out", str(tmp_path / "site")],
                             env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "skipped" in res.output and "missing" in res.output
    return tmp_path / "site"


def test_every_run_and_question_is_there_and_markup_from_a_model_is_never_markup(site: Path) -> None:
    index = (site / "index.html").read_text()
    assert 'href="run-greedy.html"' in index and 'href="run-sc.html"' in index and 'href="compare-greedy--sc.html"' in index
    assert "training.html" in index and "<svg" in (site / "training.html").read_text()
    data = (site / "data" / "sc.js").read_text()
    rows = json.loads(data.split("] = ", 1)[1].rstrip().rstrip(";"))["rows"]
    assert sorted(r["id"] for r in rows) == list(range(6))
    for page in site.glob("*.html"):
        assert EVIL not in page.read_text(), page  # pages never carry model text unescaped


def test_every_link_and_script_resolves_to_a_file(site: Path) -> None:
    for page in site.glob("*.html"):
        for ref in re.findall(r'(?:href|src)="([^"#]+)', page.read_text()):
            assert (site / ref).is_file(), f"{page.name} links to {ref}"


def _chromium(url: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")})


def _need_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: install Debian's chromium (.ci/run does)")
        pytest.skip("no chromium on this machine (apt-get install chromium); CI runs these")


def _no_js_error(proc: subprocess.CompletedProcess) -> None:
    errors = [line for line in proc.stderr.splitlines() if "Uncaught" in line or ("CONSOLE" in line and "error" in line.lower())]
    assert not errors, errors


def test_a_browser_opens_the_site_from_disk_and_it_is_not_blank(site: Path, tmp_path: Path) -> None:
    _need_chromium()
    shot = tmp_path / "index.png"
    proc = _chromium((site / "index.html").as_uri(), f"--screenshot={shot}", "--window-size=1200,800")
    assert shot.is_file(), proc.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.std() > 0.02  # not a blank page
    _no_js_error(proc)


def test_the_question_filter_the_question_view_and_the_side_by_side_page_work(site: Path) -> None:
    _need_chromium()
    wrong = _chromium((site / "run-sc.html").as_uri() + "#filter=wrong", "--dump-dom")
    _no_js_error(wrong)
    assert 'data-ready="1"' in wrong.stdout, wrong.stderr[-2000:]
    shown = re.findall(r'<tr data-id="(\d+)"', wrong.stdout)
    assert sorted(map(int, shown)) == [i for i in range(6) if not _right(site, i)] == [1, 3, 5]  # the right ones are filtered out
    one = _chromium((site / "run-sc.html").as_uri() + "#q=3", "--dump-dom")
    _no_js_error(one)
    assert "Question 3: &lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;b&gt;bold?&lt;/b&gt;" in one.stdout  # shown as text
    assert "<b>bold?</b>" not in one.stdout and "pwned</title>" not in one.stdout
    side = _chromium((site / "compare-greedy--sc.html").as_uri(), "--dump-dom")
    _no_js_error(side)
    assert 'data-ready="1"' in side.stdout and len(re.findall(r'class="pair" data-id="', side.stdout)) >= 1
    assert "greedy · question" in side.stdout and "sc · question" in side.stdout


def _right(site: Path, i: int) -> bool:
    data = (site / "data" / "sc.js").read_text()
    rows = json.loads(data.split("] = ", 1)[1].rstrip().rstrip(";"))["rows"]
    return next(r["ok"] for r in rows if r["id"] == i)


def test_serve_answers_on_loopback_only(site: Path, tmp_path: Path) -> None:
    import socket
    import sys
    import time
    import urllib.request

    base, sc, _ = (tmp_path / "runs" / n for n in ("greedy", "sc", "sft"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tinyreason", "view", str(base), str(sc), "--out", str(tmp_path / "served"), "--serve",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2) as r:
                    assert r.status == 200 and b"Leaderboard" in r.read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_compare_puts_any_two_runs_side_by_side(tmp_path: Path) -> None:
    base, sc, _ = _runs(tmp_path)
    res = CliRunner().invoke(app, ["view", str(base), str(sc), "--out", str(tmp_path / "s"), "--compare", str(sc), "--compare", str(base)])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "s" / "compare-sc--greedy.html").read_text()
    assert "greedy against sc" in page and 'data-ids="[' in page
    bad = CliRunner().invoke(app, ["view", str(base), "--out", str(tmp_path / "s2"), "--compare", str(sc), "--compare", str(base)])
    assert bad.exit_code != 0 and "both must be among the runs given" in bad.output


def test_the_index_compares_a_row_like_with_like_with_the_baselines_twin(tmp_path: Path) -> None:
    """sc under a better prompt beside greedy under that prompt: the index gives sc's Δ against that greedy too,
    linked to the two side by side; rows without a twin say so with a dash."""
    base, sc, _ = _runs(tmp_path)
    for path, prompt in ((sc, "good"), (make_run(tmp_path / "runs" / "greedy-good", [sample(i, str(i + 1), [generation(f"#### {i + 1}")]) for i in range(6)]), "good")):
        config = json.loads((path / "config.json").read_text())
        config["method"]["prompt"] = prompt
        (path / "config.json").write_text(json.dumps(config))
    res = CliRunner().invoke(app, ["view", str(base), str(sc), str(tmp_path / "runs" / "greedy-good"), "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    index = (tmp_path / "s" / "index.html").read_text()
    row = next(r for r in index.split("<tr") if 'href="run-sc.html"' in r)
    assert 'vs <a href="run-greedy-good.html">greedy-good</a>: <a href="compare-greedy-good--sc.html">' in row
    assert "<title>tinyreason · greedy-good vs sc</title>" in (tmp_path / "s" / "compare-greedy-good--sc.html").read_text()
    twin_row = next(r for r in index.split("<tr") if '<td><a href="run-greedy-good.html">' in r)
    assert "vs <a" not in twin_row  # the twin is not compared with itself


def test_the_index_reads_an_experiment_under_several_seeds_as_one_row(tmp_path: Path) -> None:
    """Three seeds of one experiment: a replicated row with mean, sd and range, each seed linked — not its best seed."""
    base, _, _ = _runs(tmp_path)
    seeds = [make_run(tmp_path / "runs" / f"grpo-eval-s{k}", [sample(i, str(i + 1), [generation(f"#### {i + 1 if i < right else 0}")]) for i in range(6)])
             for k, right in ((1, 2), (2, 4), (3, 6))]
    res = CliRunner().invoke(app, ["view", str(base), *map(str, seeds), "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    index = (tmp_path / "s" / "index.html").read_text()
    row = next(r for r in index.split("<tr") if "<b>grpo-eval</b>" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[1:5] == ["3", "66.7%", "33.3 pp", "33.3–100.0%"]
    assert all(f'<a href="run-grpo-eval-s{k}.html">grpo-eval-s{k}</a>' in cells[6] for k in (1, 2, 3))
