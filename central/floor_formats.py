"""Reading a floor plan from a file: JSON, CSV or SVG (see :mod:`central.floors` for the
formats). :func:`parse_floor` gives a :class:`FloorPlan` or raises :class:`FloorError`
with a one-line reason; nothing here touches the database.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_IMAGE_BYTES",
    "FloorError",
    "FloorPlan",
    "Place",
    "check_png",
    "out_number",
    "parse_floor",
]

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_PLACES = 5000
_PNG = b"\x89PNG\r\n\x1a\n"
_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*(px)?\s*$")
_ROTATE = re.compile(
    r"^\s*rotate\(\s*([-+]?[\d.]+)(?:[\s,]+[-+]?[\d.]+[\s,]+[-+]?[\d.]+)?\s*\)\s*$"
)


class FloorError(ValueError):
    """A floor plan that cannot be imported; ``str()`` is a one-line reason."""


@dataclass(frozen=True, slots=True)
class Place:
    kind: str  # "desk" or "room"
    id: str
    x: float
    y: float
    w: float
    h: float
    rotation: float = 0.0
    neighbourhood: str | None = None
    """A desk's team (``None``: leave the desk's neighbourhood as it is)."""


@dataclass(slots=True)
class FloorPlan:
    name: str
    width: float
    height: float
    outline: list[list[float]] = field(default_factory=list)
    image_png: bytes | None = None
    places: list[Place] = field(default_factory=list)


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FloorError(f"{what} must be a number")
    if isinstance(value, str):
        if not _NUMBER.match(value):
            raise FloorError(f"{what} must be a plain number, not {value[:20]!r}")
        value = value.strip().removesuffix("px")
    number = float(value)
    if not math.isfinite(number):
        raise FloorError(f"{what} must be a finite number")
    return number


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise FloorError(f"{what} must be printable text of at most {limit} characters")
    return value


def _place(kind: str, pid: Any, x: Any, y: Any, w: Any, h: Any, rot: Any, hood: Any) -> Place:
    if kind not in ("desk", "room"):
        raise FloorError(f"kind must be desk or room, not {str(kind)[:20]!r}")
    pid = _text(pid, f"a {kind}'s id", 64).strip()
    if not pid:
        raise FloorError(f"a {kind} has an empty id")
    what = f"{kind} {pid}"
    rotation = 0.0 if rot in (None, "") else _num(rot, f"{what}: rotation")
    if kind == "room" and rotation:
        raise FloorError(f"{what}: rooms cannot be rotated")
    return Place(
        kind,
        pid,
        _num(x, f"{what}: x"),
        _num(y, f"{what}: y"),
        _num(w, f"{what}: w"),
        _num(h, f"{what}: h"),
        rotation,
        None if hood is None else _text(hood, f"{what}: neighbourhood", 80).strip(),
    )


def _json(data: bytes) -> FloorPlan:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FloorError(f"not JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise FloorError("the JSON must be an object (one floor)")
    plan = FloorPlan(
        _text(doc.get("name", ""), "name", 80),
        _num(doc.get("width"), "width"),
        _num(doc.get("height"), "height"),
    )
    outline = doc.get("outline")
    if outline is not None:
        if not isinstance(outline, list) or not all(
            isinstance(p, list) and len(p) == 2 for p in outline
        ):
            raise FloorError("outline must be a list of [x, y] points")
        plan.outline = [[_num(a, "outline x"), _num(b, "outline y")] for a, b in outline]
    plan.image_png = _image(doc.get("image"))
    for kind in ("desk", "room"):
        entries = doc.get(f"{kind}s", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise FloorError(f"{kind}s must be a list of objects")
        for e in entries:
            plan.places.append(
                _place(
                    kind,
                    e.get("id"),
                    e.get("x"),
                    e.get("y"),
                    e.get("w"),
                    e.get("h"),
                    e.get("rotation"),
                    e.get("neighbourhood"),
                )
            )
    return plan


def _image(image: Any) -> bytes | None:
    if image is None:
        return None
    if not isinstance(image, dict) or not isinstance(image.get("png_b64"), str):
        raise FloorError('image must be null or {"png_b64": "...", "sha256": "..."}')
    try:
        png = base64.b64decode(image["png_b64"], validate=True)
    except (binascii.Error, ValueError):
        raise FloorError("image.png_b64 is not base64") from None
    if not png.startswith(_PNG):
        raise FloorError("image.png_b64 is not a PNG")
    check_png(png)
    digest = image.get("sha256")
    if digest is not None and digest != hashlib.sha256(png).hexdigest():
        raise FloorError("image.sha256 does not match the image")
    return png


def check_png(png: bytes) -> bytes:
    """``png`` when it starts as a PNG does and is at most :data:`MAX_IMAGE_BYTES`
    (kiosks decode it). Raises :class:`FloorError` otherwise."""
    if not png.startswith(_PNG):
        raise FloorError("the image is not a PNG")
    if len(png) > MAX_IMAGE_BYTES:
        raise FloorError(f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
    return png


def _csv(data: bytes) -> list[Place]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FloorError("the CSV is not UTF-8") from None
    places = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() == "kind":
            continue
        if not 6 <= len(cells) <= 8:
            raise FloorError(f"line {number}: expected kind,id,x,y,w,h[,rotation[,neighbourhood]]")
        hood = cells[7] if len(cells) == 8 else None
        cells += [""] * (7 - len(cells))
        kind, pid, x, y, w, h, rotation = cells[:7]
        try:
            places.append(_place(kind, pid, x, y, w, h, rotation, hood))
        except FloorError as exc:
            raise FloorError(f"line {number}: {exc}") from None
    return places


def _xml_root(data: bytes) -> Any:
    try:
        from defusedxml import ElementTree as SafeTree
    except ImportError:  # refuse what could expand or fetch anything ourselves
        import xml.etree.ElementTree as Tree

        if re.search(rb"<!(DOCTYPE|ENTITY)", data, re.IGNORECASE):
            raise FloorError("the SVG has a DOCTYPE or entities, which are not allowed") from None
        try:
            return Tree.fromstring(data)
        except Tree.ParseError as exc:
            raise FloorError(f"not XML: {exc}") from None
    from defusedxml import DefusedXmlException

    try:
        return SafeTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise FloorError("the SVG has a DOCTYPE or entities, which are not allowed") from None
    except SafeTree.ParseError as exc:
        raise FloorError(f"not XML: {exc}") from None


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _svg(data: bytes) -> FloorPlan:
    root = _xml_root(data)
    if _local(root.tag) != "svg":
        raise FloorError("the file is not an SVG (its root is not <svg>)")
    box = root.get("viewBox")
    if box:
        parts = re.split(r"[\s,]+", box.strip())
        if len(parts) != 4:
            raise FloorError("viewBox must be four numbers")
        x0, y0, width, height = (_num(p, "viewBox") for p in parts)
        if x0 or y0:
            raise FloorError("the viewBox must start at 0 0")
    else:
        width, height = _num(root.get("width"), "width"), _num(root.get("height"), "height")
    plan = FloorPlan("", width, height)
    for element in root.iter():
        tag, eid = _local(element.tag), element.get("id") or ""
        if (
            tag == "g"
            and element.get("transform")
            and any((c.get("id") or "").startswith(("desk:", "room:")) for c in element.iter())
        ):
            raise FloorError("desks and rooms must not be inside a transformed group")
        if tag == "polygon" and eid == "outline":
            nums = [
                _num(n, "outline") for n in re.split(r"[\s,]+", element.get("points", "").strip())
            ]
            if len(nums) % 2 or len(nums) < 6:
                raise FloorError("the outline polygon needs at least three x,y points")
            plan.outline = [[nums[i], nums[i + 1]] for i in range(0, len(nums), 2)]
        if tag != "rect" or not eid.startswith(("desk:", "room:")):
            continue
        kind, _, pid = eid.partition(":")
        rotation: str | None = None
        transform = element.get("transform")
        if transform:
            match = _ROTATE.match(transform)
            if match is None:
                raise FloorError(f'{eid}: only transform="rotate(a)" is understood')
            rotation = match.group(1)
        plan.places.append(
            _place(
                kind,
                pid,
                element.get("x", "0"),
                element.get("y", "0"),
                element.get("width"),
                element.get("height"),
                rotation,
                element.get("data-neighbourhood"),
            )
        )
    return plan


def parse_floor(
    data: bytes,
    filename: str,
    *,
    width: float | None = None,
    height: float | None = None,
    name: str | None = None,
    image: bytes | None = None,
) -> FloorPlan:
    """A floor plan from a file's bytes; the format from its suffix (.json, .csv, .svg).

    ``width``/``height``/``name`` override the file's (a CSV needs width and height);
    ``image`` (a PNG's bytes) is the floor's background image, for any format (a JSON's
    own ``image`` is replaced by it). Raises :class:`FloorError` for a malformed file, a
    place outside the floor, or an image that is not a PNG of at most 2 MiB.
    """
    if len(data) > MAX_FILE_BYTES:
        raise FloorError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix == "json":
        plan = _json(data)
    elif suffix == "svg":
        plan = _svg(data)
    elif suffix == "csv":
        if width is None or height is None:
            raise FloorError("a CSV floor plan needs --width and --height")
        plan = FloorPlan("", width, height, places=_csv(data))
    else:
        raise FloorError("the file must end in .json, .csv or .svg")
    plan.width = plan.width if width is None else width
    plan.height = plan.height if height is None else height
    plan.name = (plan.name if name is None else name).strip()
    if image is not None:
        plan.image_png = check_png(image)
    _check_bounds(plan)
    return plan


def _check_bounds(plan: FloorPlan) -> None:
    if not (0 < plan.width <= 100_000 and 0 < plan.height <= 100_000):
        raise FloorError("width and height must be more than 0 and at most 100000")
    if len(plan.places) > MAX_PLACES:
        raise FloorError(f"more than {MAX_PLACES} desks and rooms")
    if not plan.outline:
        plan.outline = [[0, 0], [plan.width, 0], [plan.width, plan.height], [0, plan.height]]
    if len(plan.outline) < 3:
        raise FloorError("the outline needs at least three points")
    for x, y in plan.outline:
        if not (0 <= x <= plan.width and 0 <= y <= plan.height):
            raise FloorError(f"outline point {out_number(x)},{out_number(y)} is outside the floor")
    seen: set[tuple[str, str]] = set()
    for p in plan.places:
        if (p.kind, p.id) in seen:
            raise FloorError(f"{p.kind} {p.id} is placed twice")
        seen.add((p.kind, p.id))
        if p.w <= 0 or p.h <= 0:
            raise FloorError(f"{p.kind} {p.id}: w and h must be more than 0")
        if p.x < 0 or p.y < 0 or p.x + p.w > plan.width or p.y + p.h > plan.height:
            raise FloorError(
                f"{p.kind} {p.id} at {out_number(p.x)},{out_number(p.y)}"
                f" size {out_number(p.w)}x{out_number(p.h)}"
                f" is outside the {out_number(plan.width)}x{out_number(plan.height)} floor"
            )
        if not -360 < p.rotation < 360:
            raise FloorError(f"{p.kind} {p.id}: rotation must be between -360 and 360")


def out_number(value: float) -> int | float:
    """A number as JSON shows it: an integer when it is one."""
    return int(value) if float(value).is_integer() else value
