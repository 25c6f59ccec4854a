"""The examples of README.md and docs/*.md: found, classified and run as a reader would run them.

Every fenced block is one of three kinds, decided by its info string and an optional HTML comment on the line
right above the fence:

- run: ```bash (also sh, shell) runs with bash, ```python (also py) with this Python; each in a fresh folder;
- not run by nature: ```text, ```json, ```yaml, ```toml, ```mermaid (output samples, snippets, diagrams);
- not run on purpose: a runnable language under `<!-- not-run: why -->` (deploys to AWS, needs Docker, ...).

Anything else (no info string, another language, an indented code block) is an error, so that no example goes
untested without saying why. More comments on the same line or lines right above a fence say what a run must show:

    <!-- expect-file: cutout.png transparent -->   the block writes this image (transparent: RGBA with clear pixels)
    <!-- expect-output: "status": "completed" -->  its standard output contains this text
    <!-- allow-http-errors -->                     a curl answered 4xx/5xx is what the example shows

How an example runs (tests/e2e/test_doc_examples.py sets it up): `http://127.0.0.1:8000` (the address of
`make dev`) becomes the test's local stack and `https://example.com/` a local server of generated images; the
folder holds images named as the docs name them (portrait.jpg, ...); TOKEN (test_user's token) and TASK_ID (a
finished combo job of test_user) are set, as a reader who followed "Log in" and a submit has them; HOME is the
folder. Shell blocks run under `set -euo pipefail`, and curl fails on an HTTP error unless the block allows it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
SHELL = frozenset({"bash", "sh", "shell"})
PYTHON = frozenset({"python", "py"})
NOT_RUN_LANGUAGES = frozenset({"text", "json", "yaml", "toml", "mermaid"})
DIRECTIVES = frozenset({"not-run", "expect-file", "expect-output", "allow-http-errors"})
DOCS_URL = "http://127.0.0.1:8000"
IMAGES_URL = "https://example.com/"

_COMMENT = re.compile(r"<!--\s*([a-z-]+)\s*(?::\s*(.*?))?\s*-->", re.S)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    """One code block of a document, with the directives written right above it."""

    path: Path
    line: int  # 1-based, the fence's first line
    language: str  # the info string's first word; "" for none; "(indented)" for an indented code block
    code: str
    directives: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{_shown(self.path)}:{self.line}"

    def values(self, directive: str) -> list[str]:
        return [value for key, value in self.directives if key == directive]

    @property
    def not_run_reason(self) -> str | None:
        reasons = self.values("not-run")
        return reasons[0] if reasons else None

    @property
    def runs(self) -> bool:
        return self.language in SHELL | PYTHON and self.not_run_reason is None

    def problems(self) -> list[str]:
        """Why this block breaks the rules above (empty when it keeps them)."""
        found = []
        if self.language not in SHELL | PYTHON | NOT_RUN_LANGUAGES:
            found.append(f"{self.name}: a code block with info string {self.language or '(none)'!r} can be neither run "
                         f"nor left out: use bash or python (run), or one of {', '.join(sorted(NOT_RUN_LANGUAGES))}")
        for key, value in self.directives:
            if key not in DIRECTIVES:
                found.append(f"{self.name}: unknown directive <!-- {key} -->; known: {', '.join(sorted(DIRECTIVES))}")
            elif key in ("not-run", "expect-file", "expect-output") and not value:
                found.append(f"{self.name}: <!-- {key}: ... --> needs a value")
        if self.not_run_reason is not None and self.language not in SHELL | PYTHON:
            found.append(f"{self.name}: not-run on a {self.language!r} block, which is never run anyway")
        if self.not_run_reason is not None and len(self.directives) > 1:
            found.append(f"{self.name}: a not-run block cannot expect anything")
        for value in self.values("expect-file"):
            words = value.split()
            if len(words) not in (1, 2) or (len(words) == 2 and words[1] != "transparent"):
                found.append(f"{self.name}: expect-file takes a file name and optionally 'transparent': {value!r}")
        return found


@dataclass
class Document:
    path: Path
    blocks: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    text: str = ""


def parse(path: Path) -> Document:
    text = path.read_text(encoding="utf-8")
    document = Document(path, text=text)
    tokens = MarkdownIt("commonmark").parse(text)
    pending: list[tuple[str, str]] = []
    pending_end = -1  # the line after the directive comments; a fence must start right there
    pending_line = 0
    for token in tokens:
        if token.map is None:
            continue
        start, end = token.map
        if token.type == "html_block" and _COMMENT.search(token.content):
            if pending and pending_end != start:
                document.problems.append(f"{_shown(path)}:{pending_line + 1}: directive not followed by a "
                                         "code block on the next line")
                pending = []
            if not pending:
                pending_line = start
            pending += [(key, (value or "").strip()) for key, value in _COMMENT.findall(token.content)]
            pending_end = end
            continue
        if token.type in ("fence", "code_block"):
            language = (token.info.split() or [""])[0].lower() if token.type == "fence" else "(indented)"
            directives = tuple(pending) if pending and pending_end == start else ()
            if pending and not directives:
                document.problems.append(f"{_shown(path)}:{pending_line + 1}: directive not followed by a "
                                         "code block on the next line")
            document.blocks.append(Block(path, start + 1, language, token.content, directives))
            pending = []
            continue
        if token.nesting >= 0 and pending and token.level == 0:
            document.problems.append(f"{_shown(path)}:{pending_line + 1}: directive not followed by a "
                                     "code block on the next line")
            pending = []
    if pending:
        document.problems.append(f"{_shown(path)}:{pending_line + 1}: directive at the end of the document")
    for block in document.blocks:
        document.problems += block.problems()
    return document


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in parse(path).blocks]


def prepared(block: Block, stack_url: str, images_url: str) -> str:
    """The block's code as the test runs it: the local stack and the image server instead of the docs' addresses."""
    return block.code.replace(DOCS_URL, stack_url).replace(IMAGES_URL, images_url.rstrip("/") + "/")


SHELL_PRELUDE = "set -euo pipefail\n"
# An HTTP error answer is an error of the example (curl alone exits 0 on a 404).
FAIL_ON_HTTP_ERRORS = 'curl() { command curl --fail-with-body "$@"; }\n'


# -- links ---------------------------------------------------------------------------------------------------------

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (not - or _), spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _outside_fences(text: str) -> str:
    lines, in_fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            lines.append(line)
    return "\n".join(lines)


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    for line in _outside_fences(text).splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            base = slug(match.group(1))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(path: Path) -> list[str]:
    """Relative links of a document whose file or heading does not exist."""
    text = path.read_text(encoding="utf-8")
    problems = []
    for target in _LINK.findall(_outside_fences(text)):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{_shown(path)}: link to missing {target}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
            problems.append(f"{_shown(path)}: link to missing heading {target}")
    return problems
