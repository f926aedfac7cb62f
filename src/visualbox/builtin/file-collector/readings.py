"""Reading one day file: timestamped rows of CSV or whitespace columns.

    layout = Layout(time_column="0", value_column="", delimiter="auto", time_format="auto")
    parsed = read_rows(text, layout)      # parsed.rows: [(t_ms, (value,)), ...]

A row is a timestamp and one value, or two (latitude, longitude) for a position
file. Empty lines and ``#`` comments are skipped; lines before the first row whose
timestamp does not parse are header lines (the last one names the columns); a
line after that which does not parse is a *bad line*: counted, a few quoted,
never fatal.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

Row = tuple[int, tuple[float, ...]]

DELIMITERS: dict[str, str | None] = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "whitespace": None,
}
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
TIME_ONLY = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}:?\d{2})?")
MS_FROM = 1e11
"""Unix times at or above this are milliseconds (1e11 seconds is the year 5138)."""
LAT_NAMES = ("lat", "latitude")
LON_NAMES = ("lon", "lng", "long", "longitude")
EXAMPLES = 3
"""How many bad lines a file's report quotes."""


@dataclass(frozen=True)
class Layout:
    """How the columns of a day file are read (the module's config)."""

    time_column: str = "0"
    value_column: str = ""
    delimiter: str = "auto"
    time_format: str = "auto"
    position: bool = False


@dataclass
class Parsed:
    rows: list[Row] = field(default_factory=list)
    bad: int = 0
    examples: list[str] = field(default_factory=list)
    error: str | None = None
    """A problem with the whole file (a named column it lacks)."""

    def problem(self) -> str | None:
        """One line describing what went wrong, or None."""
        if self.error:
            return self.error
        if not self.bad:
            return None
        noun = "bad line" if self.bad == 1 else "bad lines"
        return f"{self.bad} {noun} skipped (" + "; ".join(self.examples) + ")"


def candidates(line: str) -> list[str | None]:
    """Separators to try on a line, most specific first; whitespace last."""
    found: list[str | None] = [sep for sep in (";", "\t", ",") if sep in line]
    return [*found, None]


def split(line: str, sep: str | None) -> list[str]:
    if sep is None:
        return line.split()
    try:
        cells = next(csv.reader([line], delimiter=sep))
    except csv.Error:  # a stray line break in a field: a bad line, not a crash
        cells = line.split(sep)
    return [cell.strip() for cell in cells]


def number(cell: str, sep: str | None) -> float | None:
    """A finite number, accepting a decimal comma outside comma-separated files."""
    text = cell.strip()
    if sep != "," and "," in text and "." not in text:
        text = text.replace(",", ".", 1)
    if not NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_time(text: str, time_format: str) -> int | None:
    """Epoch milliseconds of ``text``, or None. Times without a zone are UTC."""
    text = text.strip()
    if time_format in ("auto", "unix", "unix_ms"):
        if NUMBER.fullmatch(text):
            value = float(text)
            if not math.isfinite(value):
                return None
            if time_format == "unix_ms" or (time_format == "auto" and abs(value) >= MS_FROM):
                return round(value)
            return round(value * 1000)
        if time_format != "auto":
            return None
    try:
        if time_format in ("auto", "iso"):
            moment = datetime.fromisoformat(text)
        else:
            moment = datetime.strptime(text, time_format)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


class _Reader:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.sep: str | None = None
        self.sniffed = layout.delimiter != "auto"
        if self.sniffed:
            self.sep = DELIMITERS.get(layout.delimiter)
        self.header: dict[str, int] | None = None

    def column(self, spec: str, cells: list[str]) -> int:
        """The index named by ``spec`` (a number, negative from the end, or a header name)."""
        spec = spec.strip()
        if re.fullmatch(r"-?\d+", spec):
            index = int(spec)
            return index + len(cells) if index < 0 else index
        if self.header is None:
            raise LookupError(f'column "{spec}" not found: the file has no header line')
        if spec.lower() not in self.header:
            names = ", ".join(self.header)
            raise LookupError(f'column "{spec}" not found in the header ({names})')
        return self.header[spec.lower()]

    def time(self, cells: list[str]) -> tuple[int | None, int]:
        """The row's time and the index just past its cells."""
        index = self.column(self.layout.time_column, cells)
        if not 0 <= index < len(cells):
            return None, 0
        fmt = self.layout.time_format
        span = fmt.count(" ") + 1 if self.sep is None and "%" in fmt else 1
        text = " ".join(cells[index : index + span])
        if (
            fmt in ("auto", "iso")
            and DATE_ONLY.fullmatch(text)
            and index + 1 < len(cells)
            and TIME_ONLY.fullmatch(cells[index + 1])
        ):
            text, span = f"{text}T{cells[index + 1]}", 2
        return parse_time(text, fmt), index + span

    def values(self, cells: list[str], after: int) -> tuple[float, ...] | None:
        if self.layout.position:
            lat, lon = self.named(LAT_NAMES), self.named(LON_NAMES)
            if lat is None or lon is None:
                lat, lon = after, after + 1
            wanted = [lat, lon]
        elif self.layout.value_column.strip():
            wanted = [self.column(self.layout.value_column, cells)]
        else:
            wanted = [after]
        found = []
        for index in wanted:
            value = number(cells[index], self.sep) if 0 <= index < len(cells) else None
            if value is None:
                return None
            found.append(value)
        if self.layout.position and not (-90 <= found[0] <= 90 and -180 <= found[1] <= 180):
            return None
        return tuple(found)

    def row(self, line: str) -> tuple[list[str], int | None, tuple[float, ...] | None]:
        """The cells of ``line`` and, for a data row, its time and values.

        Until a data row was seen (``delimiter`` auto), each separator found in the
        line is tried; the first that reads the line as a row is kept for the file.
        """
        tried = [self.sep] if self.sniffed else candidates(line)
        failure: LookupError | None = None
        for sep in tried:
            self.sep = sep
            cells = split(line, sep)
            try:
                moment, after = self.time(cells)
                values = self.values(cells, after) if moment is not None else None
            except LookupError as error:  # a named column: this line may be the header
                failure = failure or error
                continue
            if moment is not None and values is not None or len(tried) == 1:
                return cells, moment, values
        if failure is not None:
            raise failure
        self.sep = tried[0]
        cells = split(line, self.sep)
        return cells, self.time(cells)[0], None

    def named(self, names: tuple[str, ...]) -> int | None:
        for name in names:
            if self.header and name in self.header:
                return self.header[name]
        return None


def read_rows(text: str, layout: Layout) -> Parsed:
    """The rows of one file's ``text``, sorted by time (the last row of a time wins)."""
    reader = _Reader(layout)
    parsed = Parsed()
    by_time: dict[int, tuple[float, ...]] = {}
    started = False
    lookup_error: str | None = None
    for count, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        moment: int | None = None
        values: tuple[float, ...] | None = None
        try:
            cells, moment, values = reader.row(line)
        except LookupError as error:
            lookup_error = str(error)
            cells = split(line, reader.sep)
        if moment is not None and values is not None:
            by_time[moment] = values
            started = reader.sniffed = True
        elif not started and moment is None:
            reader.header = {cell.strip().lower(): i for i, cell in enumerate(cells)}
        else:
            parsed.bad += 1
            if len(parsed.examples) < EXAMPLES:
                quoted = line if len(line) <= 60 else line[:57] + "..."
                parsed.examples.append(f"line {count}: {quoted!r}")
    if not started and lookup_error:
        parsed.error = lookup_error
    parsed.rows = sorted(by_time.items())
    return parsed
