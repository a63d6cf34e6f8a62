"""Undo what pasting does to a tool output before it is parsed.

People paste outputs with the shell prompt and the command line on top, inside
Markdown code fences, behind ``> `` quote marks (mail, GitHub replies), with
Windows line ends, colour codes (``inxi -c``, ``grep --color``), tabs and trailing
spaces, and cut off anywhere. :func:`clean_paste` removes those layers and keeps
the command lines it dropped, since a ``--query-gpu=name,memory.total`` there
names the columns of a CSV printed without a header.

Every pattern here is anchored or starts with a literal, so cleaning is linear
in the length of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# CSI sequences (colours, cursor moves), OSC titles, other two-byte escapes; IRC colour codes (inxi -c in IRC).
_ANSI = re.compile(
    r"\x1b\[[0-9;?]{0,64}[ -/]{0,4}[@-~]|\x1b\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)|\x1b[@-Z\\-_]"
)
_IRC = re.compile(r"\x03[0-9]{0,2}(?:,[0-9]{1,2})?|[\x02\x0f\x16\x1d\x1f]")
_FENCE = re.compile(r"[ \t]*(?:`{3,16}|~{3,16})[\w+-]{0,32}[ \t]*")
_QUOTE = re.compile(r"[ \t]{0,3}>[ \t]?")
# Tools whose command lines are recognised (after sudo, a path, or with .exe); the GPU tools also
# without a prompt when the line holds nothing but options.
GPU_TOOLS = ("nvidia-smi", "lspci", "lshw", "inxi", "hwinfo", "nvcc")
_TOOL_WORD = re.compile(
    r"(?:sudo[ \t]+(?:-\S{1,20}[ \t]+){0,4})?(?:[\w./\\:~-]{0,200}[/\\])?"
    r"(?P<tool>nvidia-smi|lspci|lshw|inxi|hwinfo|nvcc|cat|watch|grep|modinfo|docker|podman|kubectl|srun"
    r"|apptainer|singularity|wsl|dmesg|journalctl)(?:\.exe)?(?=\s|$|\|)"
)
# A prompt that is one for sure ("user@host:~$", "[root@host ~]#", "PS C:\\>", "C:\\Users\\me>"), with a
# conda "(base)" in front; any command after it is a command line.
_PROMPT = re.compile(
    r"(?:\([\w.-]{1,64}\)[ \t]*)?"
    r"(?:[\w.-]{1,64}@[\w.-]{1,64}(?::[^\s$#]{0,200})?[ \t]?[$#%]"
    r"|\[[^\]\n]{1,200}\][$#%]"
    r"|PS[ \t][^>\n]{1,200}>"
    r"|[A-Za-z]:\\[^>\n]{0,200}>)[ \t]*"
)
# A bare prompt sign: a command line only when a known tool follows.
_SIGN = re.compile(r"(?:\([\w.-]{1,64}\)[ \t]*)?(?:~[^\s$#%>]{0,200}[ \t]?)?[$#%>❯➜][ \t]*")


@dataclass(frozen=True)
class Paste:
    """The cleaned text, the command lines found on prompt lines, and what was undone."""

    text: str
    commands: tuple[str, ...] = ()
    undone: tuple[str, ...] = ()


def strip_ansi(text: str) -> str:
    """Terminal colour and cursor codes (and IRC colour codes) removed."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if any(c in text for c in "\x02\x03\x0f\x16\x1d\x1f"):
        text = _IRC.sub("", text)
    return text


def command_of(line: str) -> str | None:
    """The command typed on a prompt line (``user@box:~$ nvidia-smi -L`` -> ``nvidia-smi -L``), else None."""
    s = line.strip()
    p = _PROMPT.match(s)
    if p:
        return s[p.end() :]
    sign = _SIGN.match(s)
    rest = s[sign.end() :] if sign else s
    t = _TOOL_WORD.match(rest)
    if not t:
        return None
    if sign is None and (t.group("tool") not in GPU_TOOLS or not _looks_like_command(rest[t.end() :])):
        return None
    return rest


def _looks_like_command(args: str) -> bool:
    """What follows a tool name on a line without a prompt: options (each with at most one value), a pipe."""
    words = args.split("|", 1)[0].split()
    after_option = False
    for w in words[:16]:
        if w.startswith("-"):
            after_option = "=" not in w
        elif after_option:
            after_option = False
        else:
            return False
    return len(words) <= 16


def _unquote(lines: list[str]) -> tuple[list[str], bool]:
    """Drop ``> `` quote marks (any depth) when most non-blank lines carry them."""
    body = [ln for ln in lines if ln.strip()]
    quoted = [ln for ln in body if ln.lstrip().startswith(">")]
    if not body or len(quoted) * 10 < len(body) * 6:
        return lines, False
    out = []
    for ln in lines:
        for _ in range(8):
            m = _QUOTE.match(ln)
            if not m:
                break
            ln = ln[m.end() :]
        out.append(ln)
    return out, True


def clean_paste(text: str) -> Paste:
    """The tool output inside a paste (see the module docstring); the text itself when nothing was wrapped."""
    undone: list[str] = []
    if text.startswith("\ufeff"):
        text = text[1:]
    stripped = strip_ansi(text)
    if stripped != text:
        undone.append("colour codes")
    text = stripped.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines, unquoted = _unquote(text.split("\n"))
    if unquoted:
        undone.append("quote marks")
    commands: list[str] = []
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if not line:
            out.append(line)
            continue
        if _FENCE.fullmatch(line):
            undone.append("code fence")
            continue
        cmd = command_of(line) if len(line) < 4096 else None
        if cmd is not None:
            commands.append(cmd)
            continue
        out.append(line)
    return Paste("\n".join(out), tuple(commands), tuple(dict.fromkeys(undone)))


_QUERY = re.compile(r"--query-gpu[= ]['\"]?([\w.,]{1,2000})")
_FORMAT = re.compile(r"--format[= ](\S{1,100})")


def query_fields(commands: tuple[str, ...]) -> tuple[list[str], bool] | None:
    """The ``--query-gpu`` field list of the last command naming one, and whether ``noheader`` was asked."""
    for cmd in reversed(commands):
        q = _QUERY.search(cmd)
        if q:
            fields = [f.strip() for f in q.group(1).split(",") if f.strip()]
            fmt = _FORMAT.search(cmd)
            noheader = bool(fmt and "noheader" in fmt.group(1))
            return fields, noheader
    return None
