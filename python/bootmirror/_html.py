"""How bootmirror's objects look in Jupyter (``_repr_html_``): tables, a disk drawn to scale as an
SVG bar of its partitions, a boot menu, a folder tree. Presentation only: every number shown is
the engine's answer, read through the public API; nothing is decoded here.

Each helper escapes what it is given: names on disk (labels, file names, boot entry descriptions)
are untrusted and may hold markup.
"""

from __future__ import annotations

from . import _core

TYPE_CHECKING = False  # typing itself is not loaded at run time: fat imports this module
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

#: Fill colours by partition kind (gpt.Partition.kind, plus "free" for unpartitioned space).
KIND_COLOURS = {
    "efi": "#f4b942",
    "msr": "#9e9e9e",
    "basic": "#4a90d9",
    "ldm_metadata": "#8e44ad",
    "ldm_data": "#2e8b57",
    "other": "#d35400",
    "free": "#ffffff",
}

#: The bar's drawing size in pixels; a partition narrower than MIN_WIDTH (an MSR on a big disk)
#: is drawn MIN_WIDTH wide so it stays visible, and its label moves to the legend.
WIDTH, HEIGHT, MIN_WIDTH = 640, 34, 3


def printable(text: str) -> str:
    """`text` for display: a lone surrogate (which a name from disk may hold) as U+FFFD, as the
    engine prints it, so that HTML and reprs encode as UTF-8."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def escape(value: Any) -> str:
    """`value` as printable text safe inside HTML."""
    import html  # here: a module that only prints names (fat) imports this one without loading re

    return html.escape(printable(str(value)))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], caption: Optional[str] = None) -> str:
    """An HTML table; `rows` are sequences of cells (escaped) the length of `headers`."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<tr>{head}</tr>{body}</table>"


def facts(pairs: Iterable[Tuple[str, Any]], caption: Optional[str] = None) -> str:
    """A two-column table: one named fact per row."""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{title}{body}</table>"


def disk_bar(size: int, partitions: Sequence[Any]) -> str:
    """An SVG bar of a disk of `size` bytes, its partitions (gpt.Partition: offset, size, kind,
    number, name) drawn to scale in their kind's colour over the free space, with a legend."""
    if size <= 0:
        return ""
    scale = WIDTH / size
    shapes = [f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="{KIND_COLOURS["free"]}" '
              f'stroke="#444"><title>{escape(_core.describe_size(size))} disk</title></rect>']
    for p in partitions:
        x = min(p.offset * scale, WIDTH - MIN_WIDTH)
        w = max(p.size * scale, MIN_WIDTH)
        tip = f"Partition {p.number} {p.kind} {p.name}: {_core.describe_size(p.size)} at {p.offset:,}"
        shapes.append(f'<rect x="{x:.1f}" y="1" width="{w:.1f}" height="{HEIGHT - 2}" '
                      f'fill="{KIND_COLOURS.get(p.kind, KIND_COLOURS["other"])}" stroke="#222" stroke-width="0.5">'
                      f'<title>{escape(tip)}</title></rect>')
        if w >= 24:
            shapes.append(f'<text x="{x + w / 2:.1f}" y="{HEIGHT / 2 + 4:.0f}" font-size="11" text-anchor="middle" '
                          f'fill="#fff" font-family="sans-serif">{p.number}</text>')
    legend = " ".join(
        f'<span style="white-space:nowrap"><span style="display:inline-block;width:10px;height:10px;'
        f'background:{KIND_COLOURS.get(p.kind, KIND_COLOURS["other"])};border:1px solid #222"></span> '
        f'{p.number}: {escape(p.name or p.kind)} ({escape(_core.describe_size(p.size))})</span>'
        for p in partitions)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}">{"".join(shapes)}</svg>')
    return f"<div>{svg}<div style=\"font-size:smaller\">{legend or 'no partitions'}</div></div>"


def tree(scandir: Callable[[str], List[Any]], top: str = "", limit: int = 200, depth: int = 4) -> str:
    """A folder tree as nested HTML lists, folders collapsible (<details>), at most `limit`
    entries and `depth` levels shown (the rest counted, never read); `scandir(path)` lists a
    folder's entries (name, is_dir, size)."""
    shown = 0

    def folder(path: str, level: int) -> str:
        nonlocal shown
        entries = scandir(path)
        items: List[str] = []
        for i, e in enumerate(entries):
            if shown >= limit:
                items.append(f"<li><i>... {len(entries) - i} more</i></li>")
                break
            shown += 1
            child = f"{path}/{e.name}" if path else e.name
            if e.is_dir and level < depth:
                items.append(f"<li><details><summary>{escape(e.name)}/</summary>{folder(child, level + 1)}</details></li>")
            elif e.is_dir:
                items.append(f"<li>{escape(e.name)}/ ...</li>")
            else:
                items.append(f"<li>{escape(e.name)} <small>{e.size:,} bytes</small></li>")
        return f"<ul style=\"list-style:none;margin:0;padding-left:1.2em\">{''.join(items)}</ul>"

    return folder(top, 1)


def boot_menu(store: Any, ids: "Optional[Dict[int, int]]" = None, stale: Iterable[Any] = ()) -> str:
    """A firmware's boot menu: BootOrder's entries in order, then the Boot#### variables it leaves
    out; which one is running (BootCurrent) and next (BootNext), inactive ones, and `stale`
    entries (StaleBootEntry: number, reason) marked. `ids` maps a Boot#### number to bootcfg's ID."""
    entries = {e.number: e for e in store.boot_entries()}
    order = list(store.boot_order)
    reasons = {s.number: s.reason for s in stale}
    rows = []
    for place, number in enumerate(order + sorted(n for n in entries if n not in order), 1):
        entry = entries.get(number)
        marks = [mark for mark, on in (("running", number == store.boot_current), ("next boot", number == store.boot_next),
                                       ("not in BootOrder", place > len(order)), ("no such variable", entry is None),
                                       ("inactive", entry is not None and not entry.active)) if on]
        if number in reasons:
            marks.append(f"STALE: {reasons[number]}")
        where = entry.device_path if entry is not None else None
        rows.append(((ids or {}).get(number, place if place <= len(order) else ""), f"Boot{number:04X}",
                     entry.description if entry is not None else "", str(where) if where is not None else "",
                     "; ".join(marks)))
    timeout = store.timeout
    caption = f"Boot menu (Timeout {timeout if timeout is not None else 'unset'} s)"
    return table(("ID" if ids else "#", "variable", "description", "device path", "state"), rows, caption)
