"""Reading lab files (CSV or XLSX) whose headers may carry units: ``name [unit]``.

Rows are numbered as a person counts them in a spreadsheet: the header is row 1,
the first data row is row 2, and blank rows keep their numbers.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doe.cli._common import CliUsageError
from doe.exceptions import DoeError

__all__ = ["Column", "Sheet", "is_missing", "parse_header", "read_sheet"]

_HEADER = re.compile(r"^(?P<name>[^\[\]]*?)\s*(?:\[(?P<unit>[^\[\]]*)\])?\s*$")
SUFFIXES = (".csv", ".xlsx")


def parse_header(text: str) -> tuple[str, str | None]:
    """Split ``"name [unit]"`` into ``("name", "unit")``; no brackets: unit ``None``.

    Example:
        >>> parse_header("specific_energy_wh_kg [Wh/kg]")
        ('specific_energy_wh_kg', 'Wh/kg')
    """
    match = _HEADER.match(text.strip())
    if match is None:
        return text.strip(), None
    unit = match.group("unit")
    unit = unit.strip() if unit is not None else None
    return match.group("name").strip(), unit or None


def is_missing(value: Any) -> bool:
    """An empty cell: ``None``, blank text or NaN."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class Column:
    """One column of a lab file.

    Attributes:
        header: The header as written, e.g. ``retention_pct [%]``.
        name: The name without the unit.
        unit: The unit in brackets, or ``None``.
    """

    header: str
    name: str
    unit: str | None


@dataclass(frozen=True)
class Sheet:
    """The contents of a lab file.

    Attributes:
        label: How messages name the file (the path as given).
        columns: The columns, in order.
        rows: ``(row number, {column name: cell})`` for every non-blank data row.
    """

    label: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[int, dict[str, Any]], ...]

    @property
    def names(self) -> list[str]:
        """Column names without units."""
        return [c.name for c in self.columns]

    def where(self, row: int) -> str:
        """Context for messages, e.g. ``" in results.csv row 3"``."""
        return f" in {self.label} row {row}"

    def check_columns(
        self,
        *,
        campaign: str,
        known: Sequence[str],
        units: Mapping[str, str],
        error: type[DoeError],
    ) -> None:
        """Refuse unknown columns and units that differ from the campaign's.

        Args:
            campaign: The campaign's name, for messages.
            known: Every column name the file may hold.
            units: The campaign's unit of each knob or outcome.
            error: The error class to raise (a usage error).

        Raises:
            DoeError: ``error`` naming the column, the unit found and the expected.
        """
        from doe.space import closest_name

        for col in self.columns:
            if col.name not in known:
                raise error(
                    f"Column {col.header!r} of {self.label} is not known to campaign "
                    f"{campaign!r}.{closest_name(col.name, known)} "
                    f"Allowed columns: {', '.join(known)}."
                )
            expected = units.get(col.name)
            if col.unit is not None and expected is not None and col.unit != expected:
                raise error(
                    f"Column {col.header!r} of {self.label} is in {col.unit!r}, but "
                    f"campaign {campaign!r} records {col.name!r} in {expected!r}. "
                    f"Convert the values and write the header as "
                    f"'{col.name} [{expected}]'."
                )

    def require(
        self, names: Iterable[str], *, what: str, error: type[DoeError]
    ) -> None:
        """Raise ``error`` when a required column is absent."""
        missing = [n for n in names if n not in self.names]
        if missing:
            raise error(
                f"{self.label} lacks the column(s) {', '.join(map(repr, missing))}; "
                f"{what}. Its columns: {', '.join(c.header for c in self.columns)}."
            )


def read_sheet(path: str | Path) -> Sheet:
    """Read a ``.csv`` or ``.xlsx`` file (first sheet) with a header row.

    Raises:
        CliUsageError: The file is missing, of another type, empty, or its header
            is blank or repeats a column.
    """
    label = str(path)
    path = Path(path)
    if not path.is_file():
        raise CliUsageError(f"File {label!r} does not exist; check the path.")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise CliUsageError(
            f"{label} is a {suffix or 'suffix-less'} file; use a .csv or .xlsx file."
        )
    raw = _read_csv(path) if suffix == ".csv" else _read_xlsx(path)
    return _to_sheet(label, raw)


def _read_csv(path: Path) -> list[list[Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CliUsageError(
            f"{path} is not UTF-8 text ({exc.reason}); save it as CSV UTF-8."
        ) from exc
    first = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first:
        delimiter = ";" if ";" in first else "\t" if "\t" in first else ","
    return [
        list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    ]


def _read_xlsx(path: Path) -> list[list[Any]]:
    from openpyxl import load_workbook

    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions it ignores; data are unaffected
        warnings.simplefilter("ignore")
        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # zipfile/openpyxl raise many kinds for bad files
            raise CliUsageError(
                f"{path} is not a readable .xlsx workbook ({type(exc).__name__}: {exc})."
            ) from exc
        try:
            sheet = book.worksheets[0]
            return [list(r) for r in sheet.iter_rows(min_row=1, values_only=True)]
        finally:
            book.close()


def _to_sheet(label: str, raw: list[list[Any]]) -> Sheet:
    if not raw or all(is_missing(v) for v in raw[0]):
        raise CliUsageError(
            f"{label} has no header in row 1; the first row must name the columns."
        )
    header = raw[0]
    while header and is_missing(header[-1]):
        header = header[:-1]
    columns = []
    for i, cell in enumerate(header):
        if is_missing(cell):
            raise CliUsageError(
                f"Column {i + 1} of {label} has no header; name it or delete it."
            )
        name, unit = parse_header(str(cell))
        columns.append(Column(str(cell).strip(), name, unit))
    names = [c.name for c in columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CliUsageError(f"{label} repeats the column(s) {dupes}; keep one of each.")
    rows = []
    for number, cells in enumerate(raw[1:], start=2):
        if all(is_missing(v) for v in cells):
            continue
        if any(not is_missing(v) for v in cells[len(columns) :]):
            raise CliUsageError(
                f"{label} row {number} has more cells than the header has columns."
            )
        padded = [*cells, *([None] * (len(columns) - len(cells)))]
        rows.append(
            (number, {c.name: v for c, v in zip(columns, padded, strict=False)})
        )
    if not rows:
        raise CliUsageError(f"{label} has a header but no data rows.")
    return Sheet(label, tuple(columns), tuple(rows))
