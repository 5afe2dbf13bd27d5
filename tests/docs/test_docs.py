"""The README is a front page and every topic is one link away; links resolve; figures agree."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from tests.bench import report

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
DOCS = [README, REPO / "CHANGELOG.md", *PAGES]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(doc: Path) -> str:
    """The page without its code blocks, whose brackets are code, not links."""
    return FENCE.sub("", doc.read_text())


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.cache  # a page is linked many times
def anchors(doc: Path) -> set[str]:
    return {anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", prose(doc), re.MULTILINE)}


def relative_links(doc: Path) -> list[str]:
    return [link for link in LINK.findall(prose(doc)) if not re.match(r"[a-z]+:", link)]


def test_the_readme_is_a_front_page_of_at_most_200_lines() -> None:
    assert len(README.read_text().splitlines()) <= 200


def test_the_quickstart_is_on_the_first_screen() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:40])
    assert "## Quickstart" in first_screen
    assert "make invoke" in first_screen and "make test" in first_screen


def test_the_readme_names_the_fast_loop_under_develop() -> None:
    develop = README.read_text().split("## Develop\n", 1)[1].split("\n## ", 1)[0]
    assert "make unit" in develop and "make test" in develop


def test_every_topic_is_one_link_away_from_the_readme() -> None:
    linked = {(README.parent / link.split("#")[0]).resolve() for link in relative_links(README)}
    for page in [*PAGES, REPO / "docs" / "openapi.yaml", REPO / "CHANGELOG.md"]:
        assert page.resolve() in linked, f"the README does not link {page.relative_to(REPO)}"


def test_every_relative_link_resolves_to_a_file_and_heading() -> None:
    checked = 0
    for doc in DOCS:
        for link in relative_links(doc):
            path, _, fragment = link.partition("#")
            target = (doc.parent / path).resolve() if path else doc
            assert target.exists(), f"{doc.relative_to(REPO)} links a missing {link}"
            if fragment:
                assert fragment in anchors(target), f"{doc.relative_to(REPO)}: no heading for {link}"
            checked += 1
    assert checked > 20  # the pages do link each other


def test_the_performance_page_shows_the_recorded_run() -> None:
    results = json.loads(report.RECORDED_RUN.read_text())
    assert report.generated_part() == report.section(results), "run make bench, or undo a hand edit"


def test_the_http_overhead_is_quoted_once_and_as_measured() -> None:
    """The newcomer found three different figures: each quote must be the recorded run's."""
    added = json.loads(report.RECORDED_RUN.read_text())["http_through_make_serve"]["added_p50_ms"]
    quotes = [(doc.name, q) for doc in DOCS for q in re.findall(r"\(\+(\d+\.\d+) ms\)", doc.read_text())]
    assert quotes == [("performance.md", f"{added:.2f}")]


def test_code_sizes_are_stated_on_the_performance_page_only() -> None:
    for doc in DOCS:
        if doc != report.PAGE:
            assert not re.search(r"\d+ KiB \(\d+ KiB zipped\)", doc.read_text()), doc.name


def test_the_configuration_page_names_each_settings_variable_beside_its_parameter() -> None:
    from broker.config import SETTINGS

    page = (REPO / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| (?:`(\w+)`)? *\| (?:`(\w+)`)? *\|", page, re.MULTILINE)
    variable_of = {parameter or variable: variable for parameter, variable in rows}
    for setting in SETTINGS.values():
        assert variable_of.get(setting.parameter or setting.variable) == setting.variable, setting.variable


def test_every_aws_command_in_the_docs_names_its_region() -> None:
    """A command without --region runs in whatever region the reader's profile says (a review found one)."""
    for doc in DOCS:
        for command in re.findall(
            r"^aws [a-z-]+ [a-z-]+.*?(?<!\\)$", doc.read_text(), re.MULTILINE | re.DOTALL
        ):
            whole = re.sub(r"\\\n", " ", command)
            assert "--region" in whole, f"{doc.name}: {whole[:80]}"


def test_the_regions_in_the_docs_are_the_readmes() -> None:
    """The README sets up eu-west-1: a page that then says us-east-1 sends the reader elsewhere."""
    for doc in (README, REPO / "docs" / "deploying.md", REPO / "docs" / "clients.md"):
        assert not re.search(r"--region us-east-1|REGION=us-east-1", doc.read_text()), doc.name


def test_the_ios_dev_build_allows_the_addresses_the_project_prints() -> None:
    """make serve prints 127.0.0.1 (and a LAN address): ATS's NSExceptionDomains cannot name an address;
    NSAllowsLocalNetworking allows them."""
    page = (REPO / "docs" / "clients.md").read_text()
    assert "NSAllowsLocalNetworking" in page
    assert "Info.plist for `localhost`" not in page


def test_what_needs_node_says_so() -> None:
    """make demo compiles the page with the TypeScript compiler from npm, as make test does."""
    for doc in (README, REPO / "docs" / "local-development.md"):
        assert re.search(
            r"`make test` and `make demo`\s+also need Node\.js|for `make test` and `make demo`, Node\.js",
            doc.read_text(),
        ), doc.name


def test_no_sentence_of_the_deploy_page_starts_mid_way() -> None:
    page = (REPO / "docs" / "deploying.md").read_text()
    assert not re.search(r"^[A-Z][^\n(]*\):$", page, re.MULTILINE)  # "...; the guard tells you):" alone


def test_the_parameter_table_says_what_the_template_and_config_py_say() -> None:
    """Each parameter's meaning, default and bounds live in template.yaml, its variable in SETTINGS: the
    page's table is made from them (`make docs`), not written a second time."""
    from ops.parameter_table import current, table

    assert current() == table(), "run `make docs`"
