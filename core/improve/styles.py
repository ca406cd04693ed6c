"""Prompt styles: markdown templates in `brain/prompts/*.md`, rendered into a run's prompt.

A style is an arm of the prompt experiment; its `name` is what a run records as
`prompt_variant`. Templates use `string.Template` placeholders (`$prompt`, `$title`,
`$plan_section`, `$lessons_section`, `$check_section`, `$verify`, `$repo`): no code runs
from a template the owner edits, and an unknown placeholder is refused when the file is
loaded, not at 3 a.m. when a run needs it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import safefs
from core.errors import InvalidInput, UnsafeFile
from core.frontmatter import scalar, split_front_matter
from core.models import Plan, Task
from core.store.db import ensure_private_dir

PLACEHOLDERS = frozenset(
    {"prompt", "title", "plan_section", "lessons_section", "check_section", "verify", "repo"}
)
DEFAULTS_DIR = Path(__file__).with_name("default_prompts")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_TEMPLATE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class PromptStyle:
    name: str
    description: str
    template: str
    path: str | None = None
    enabled: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "path": self.path,
                "enabled": self.enabled}


@dataclass
class StyleSet:
    """The styles found on disk, plus the files that could not be used and why."""

    styles: list[PromptStyle] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, what is wrong)

    def by_name(self, name: str) -> PromptStyle | None:
        return next((s for s in self.styles if s.name == name), None)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.styles]


def parse_style(file_name: str, text: str) -> PromptStyle:
    """One template file -> a style, or InvalidInput saying what to fix."""
    meta, body = split_front_matter(text.lstrip("\ufeff"))
    stem = Path(file_name).stem
    name = (scalar(meta, "name") or stem).strip().lower()
    if not _NAME.match(name):
        raise InvalidInput(
            f"style name {name!r} must be lowercase letters, digits, '.', '_' or '-' (max 64)"
        )
    if not body.strip():
        raise InvalidInput("the template body is empty")
    template = string.Template(body)
    if not template.is_valid():
        raise InvalidInput("the template has a stray '$' (write $$ for a literal dollar sign)")
    unknown = sorted(set(template.get_identifiers()) - PLACEHOLDERS)
    if unknown:
        raise InvalidInput(
            f"unknown placeholder{'s' if len(unknown) > 1 else ''} "
            + ", ".join("$" + u for u in unknown)
            + f" (known: {', '.join('$' + p for p in sorted(PLACEHOLDERS))})"
        )
    if "prompt" not in template.get_identifiers():
        raise InvalidInput("the template must contain $prompt, or the task would be lost")
    enabled = meta.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput(f"enabled must be true or false, not {enabled!r}")
    return PromptStyle(
        name=name,
        description=(scalar(meta, "description") or "").strip(),
        template=body,
        enabled=enabled,
    )


def default_styles() -> list[PromptStyle]:
    """The styles shipped with nightshift (the same files as the repo's `brain/prompts/`)."""
    out = []
    for path in sorted(DEFAULTS_DIR.glob("*.md")):
        style = parse_style(path.name, path.read_text(encoding="utf-8"))
        out.append(PromptStyle(style.name, style.description, style.template, str(path)))
    return out


def install_default_styles(prompts_dir: Path) -> list[Path]:
    """Copy the shipped styles into an empty prompts folder so the owner can read and edit them."""
    if prompts_dir.is_dir() and any(prompts_dir.glob("*.md")):
        return []
    ensure_private_dir(prompts_dir)
    written = []
    for source in sorted(DEFAULTS_DIR.glob("*.md")):
        target = prompts_dir / source.name
        safefs.create_new(target, source.read_bytes())
        written.append(target)
    return written


def load_styles(prompts_dir: Path) -> StyleSet:
    """Every usable style in `prompts_dir`; the shipped ones when none is usable.

    A broken file is reported in `problems` and skipped: one bad edit must not stop runs.
    """
    found = StyleSet()
    paths = sorted(prompts_dir.glob("*.md")) if prompts_dir.is_dir() else []
    for path in paths:
        try:
            raw = safefs.read_regular(path, limit_bytes=MAX_TEMPLATE_BYTES)
            style = parse_style(path.name, raw.decode("utf-8"))
        except UnsafeFile as exc:
            found.problems.append((path.name, f"file {exc.reason}"))
            continue
        except OSError as exc:
            found.problems.append((path.name, f"cannot be read: {exc.strerror or exc}"))
            continue
        except UnicodeDecodeError:
            found.problems.append((path.name, "file is not UTF-8 text"))
            continue
        except InvalidInput as exc:
            found.problems.append((path.name, exc.message))
            continue
        if found.by_name(style.name) is not None:
            found.problems.append((path.name, f"a second style named {style.name!r}; ignored"))
            continue
        found.styles.append(
            PromptStyle(style.name, style.description, style.template, str(path), style.enabled)
        )
    if not any(s.enabled for s in found.styles):
        have = {s.name for s in found.styles}
        found.styles.extend(s for s in default_styles() if s.name not in have)
    return found


def _section(heading: str, body: str) -> str:
    return f"## {heading}\n\n{body.strip()}\n"


def render_prompt(
    style: PromptStyle, task: Task, plan: Plan | None, lessons: list[str]
) -> str:
    """The text Claude gets for a run of `task` in `style`. Pure: same inputs, same prompt.

    The owner's prompt goes in byte for byte: only the template's own text and the sections
    generated around it are tidied (the runs of blank lines empty sections leave behind)."""
    check = task.check_cmd
    values = {
        "title": task.title.strip(),
        "repo": task.repo or "",
        "plan_section": _section(f"Approved plan (v{plan.version})", plan.body) if plan else "",
        "lessons_section": _section(
            "Lessons from earlier runs", "\n".join(f"- {lesson.strip()}" for lesson in lessons)
        ) if lessons else "",
        "check_section": _section(
            "Definition of done",
            f"`{check}` must pass in this worktree. Run it yourself before you finish and fix "
            "what it reports.",
        ) if check else "",
        "verify": (
            f"run `{check}` and make sure it passes." if check
            else "run the project's tests (and linters, if it has them) and make sure they pass."
        ),
    }
    # Around each $prompt: the template and the sections, substituted, then tidied.
    around: list[str] = [""]
    for literal, placeholder in _pieces(style.template):
        around[-1] += literal
        if placeholder == "prompt":
            around.append("")
        elif placeholder is not None:
            around[-1] += values.get(placeholder, "$" + placeholder)
    tidy = [_BLANK_RUNS.sub("\n\n", text) for text in around]
    tidy[0] = tidy[0].lstrip()
    tidy[-1] = tidy[-1].rstrip() + "\n"
    return task.prompt.join(tidy)


_BLANK_RUNS = re.compile(r"\n{3,}")


def _pieces(template: str) -> list[tuple[str, str | None]]:
    """The template as (literal text, placeholder name or None) pairs, with `$$` already a
    literal `$`, read with `string.Template`'s own pattern."""
    out: list[tuple[str, str | None]] = []
    start = 0
    for match in string.Template.pattern.finditer(template):
        literal = template[start:match.start()]
        start = match.end()
        if match.group("escaped") is not None:
            out.append((literal + string.Template.delimiter, None))
        elif match.group("named") or match.group("braced"):
            out.append((literal, match.group("named") or match.group("braced")))
        else:  # an invalid `$`: parse_style refuses those, keep it as text all the same
            out.append((literal + match.group(0), None))
    out.append((template[start:], None))
    return out
