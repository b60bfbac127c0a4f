"""Writers of small files laid out as SWaT, WADI and DAMADICS ship them, for the loader tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import openpyxl

# Text files end lines with \r\n, as files saved on Windows do; the loaders read \n alike.

# --- SWaT 2015 ---------------------------------------------------------------------------
SWAT_TAGS = (
    *("FIT101", "LIT101", "MV101", "P101", "P102"),
    *("AIT201", "AIT202", "AIT203", "FIT201", "MV201", "P201", "P202", "P203", "P204", "P205"),
    *("P206", "DPIT301", "FIT301", "LIT301", "MV301", "MV302", "MV303", "MV304", "P301", "P302"),
    *("AIT401", "AIT402", "FIT401", "LIT401", "P401", "P402", "P403", "P404", "UV401"),
    *("AIT501", "AIT502", "AIT503", "AIT504", "FIT501", "FIT502", "FIT503", "FIT504"),
    *("P501", "P502", "PIT501", "PIT502", "PIT503", "FIT601", "P601", "P602", "P603"),
)
# The names SWaT's header pads with a leading space, as " Timestamp" is.
SWAT_PADDED = {"MV101", "AIT201", "MV201", "P201", "P202", "P204", "MV303"}
SWAT_HEADER = (
    " Timestamp",
    *(f" {t}" if t in SWAT_PADDED else t for t in SWAT_TAGS),
    "Normal/Attack",
)


def swat_stamp(time: datetime) -> str:
    """SWaT's text timestamp: leading space, day first, no zero padding, 12-hour clock."""
    hour = time.hour % 12 or 12
    half = "AM" if time.hour < 12 else "PM"
    return f" {time.day}/{time.month}/{time.year} {hour}:{time.minute:02d}:{time.second:02d} {half}"


def swat_value(row: int, channel: int) -> float:
    """Row and channel can be read back from the value."""
    return channel + row / 1000


def _swat_rows(times: Sequence[datetime], labels: Sequence[str]) -> list[list[object]]:
    rows: list[list[object]] = []
    for r, (time, label) in enumerate(zip(times, labels, strict=True)):
        rows.append([swat_stamp(time), *(swat_value(r, c) for c in range(len(SWAT_TAGS))), label])
    return rows


def write_swat_csv(
    path: Path, times: Sequence[datetime], labels: Sequence[str], *, note_line: bool
) -> Path:
    """SWaT as CSV (Windows line ends); `note_line` puts the normal run's empty first line."""
    lines = ["," * (len(SWAT_HEADER) - 1)] * note_line + [",".join(SWAT_HEADER)]
    for row in _swat_rows(times, labels):
        lines.append(",".join(f"{c:g}" if isinstance(c, float) else str(c) for c in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def write_swat_xlsx(
    path: Path, times: Sequence[datetime], labels: Sequence[str], *, note_line: bool
) -> Path:
    """SWaT as the .xlsx iTrust ships: text timestamps, numbers as numbers."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    if note_line:
        sheet.append([None, None])  # an empty first row: openpyxl writes nothing for it
    sheet.append(list(SWAT_HEADER))
    for row in _swat_rows(times, labels):
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def set_xlsx_cell(path: Path, row: int, column: int, value: str | float | datetime) -> None:
    """Overwrite one cell (1-based, as a spreadsheet numbers them)."""
    book = openpyxl.load_workbook(path)
    sheet = book.active
    assert sheet is not None
    sheet.cell(row=row, column=column, value=value)
    book.save(path)


def replace_line(path: Path, number: int, text: str) -> None:
    """Replace line `number` (1-based) of a text file, keeping its line ends."""
    raw = path.read_bytes()
    end = b"\r\n" if b"\r\n" in raw else b"\n"
    lines = raw.split(end)
    lines[number - 1] = text.encode()
    path.write_bytes(end.join(lines))


def line_of(path: Path, number: int) -> str:
    return path.read_bytes().decode().splitlines()[number - 1]


# --- WADI A1 -----------------------------------------------------------------------------
WADI_PREFIX = "\\\\WIN-25J4RO10SBF\\LOG_DATA\\SUTD_WADI\\LOG_DATA\\"
WADI_TAGS = (
    *(f"1_AIT_00{i}_PV" for i in range(1, 6)),
    *("1_FIT_001_PV", "1_LS_001_AL", "1_LS_002_AL", "1_LT_001_PV"),
    *(f"1_MV_00{i}_STATUS" for i in range(1, 5)),
    *(f"1_P_00{i}_STATUS" for i in range(1, 7)),
    "2_DPIT_001_PV",
    *(f"2_FIC_{n}01_{k}" for n in range(1, 7) for k in ("CO", "PV", "SP")),
    *("2_FIT_001_PV", "2_FIT_002_PV", "2_FIT_003_PV"),
    *(f"2_FQ_{n}01_PV" for n in range(1, 7)),
    *("2_LS_001_AL", "2_LS_002_AL"),
    *(f"2_LS_{n}01_{k}" for n in range(1, 7) for k in ("AH", "AL")),
    *("2_LT_001_PV", "2_LT_002_PV", "2_MCV_007_CO"),
    *(f"2_MCV_{n}01_CO" for n in range(1, 7)),
    *(f"2_MV_00{i}_STATUS" for i in (1, 2, 3, 4, 5, 6, 9)),
    *(f"2_MV_{n}01_STATUS" for n in range(1, 7)),
    *("2_P_001_STATUS", "2_P_002_STATUS", "2_P_003_SPEED", "2_P_003_STATUS"),
    *("2_P_004_SPEED", "2_P_004_STATUS", "2_PIC_003_CO", "2_PIC_003_PV", "2_PIC_003_SP"),
    *("2_PIT_001_PV", "2_PIT_002_PV", "2_PIT_003_PV"),
    *(f"2_SV_{n}01_STATUS" for n in range(1, 7)),
    *(f"2A_AIT_00{i}_PV" for i in range(1, 5)),
    *(f"2B_AIT_00{i}_PV" for i in range(1, 5)),
    *(f"3_AIT_00{i}_PV" for i in range(1, 6)),
    *("3_FIT_001_PV", "3_LS_001_AL", "3_LT_001_PV"),
    *(f"3_MV_00{i}_STATUS" for i in range(1, 4)),
    *(f"3_P_00{i}_STATUS" for i in range(1, 5)),
    *("LEAK_DIFF_PRESSURE", "PLANT_START_STOP_LOG", "TOTAL_CONS_REQUIRED_FLOW"),
)
WADI_EMPTY = ("2_LS_001_AL", "2_LS_002_AL", "2_P_001_STATUS", "2_P_002_STATUS")
WADI_HEADER = ("Row", "Date", "Time", *(WADI_PREFIX + tag for tag in WADI_TAGS))
# What the 14-day file says above its header is not known here; three lines of notes it is.
WADI_NOTES = (
    "Data from WADI testbed (SUTD iTrust),,",
    "Logging interval: 1 s,,",
    "Start: 9/25/2017 6:00:00.000 PM,,",
)


def wadi_date(time: datetime) -> str:
    return f"{time.month}/{time.day}/{time.year}"


def wadi_time(time: datetime) -> str:
    hour = time.hour % 12 or 12
    half = "AM" if time.hour < 12 else "PM"
    return f"{hour}:{time.minute:02d}:{time.second:02d}.000 {half}"


def wadi_value(row: int, tag: int) -> float:
    return tag + row / 1000


def write_wadi(
    path: Path, times: Iterable[datetime], *, notes: bool, padding_rows: int = 0
) -> Path:
    """A WADI CSV: optional notes, the prefixed header, rows (the empty tags blank), padding."""
    lines = [*WADI_NOTES] * notes + [",".join(WADI_HEADER)]
    for r, time in enumerate(times):
        cells = [
            "" if tag in WADI_EMPTY else f"{wadi_value(r, c):g}" for c, tag in enumerate(WADI_TAGS)
        ]
        lines.append(",".join([str(r + 1), wadi_date(time), wadi_time(time), *cells]))
    lines += ["," * (len(WADI_HEADER) - 1)] * padding_rows
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


# --- DAMADICS ----------------------------------------------------------------------------
DAMADICS_TRAIN_DAYS = ("31102001", *(f"{d:02d}112001" for d in range(1, 9)))
DAMADICS_TEST_DAYS = ("09112001", "17112001", "20112001")
DAMADICS_WIDTH = 33


def damadics_value(second: int, column: int) -> float:
    """Column (1-32) and second of day can be read back from the value."""
    return column * 100 + second / 100_000


def write_damadics_day(path: Path, seconds: Iterable[int]) -> Path:
    """One day file: no header, tab-separated, seconds of day then 32 values."""
    lines = [
        "\t".join([str(s), *(f"{damadics_value(s, c):.5f}" for c in range(1, DAMADICS_WIDTH))])
        for s in seconds
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def write_damadics(folder: Path, seconds: dict[str, Sequence[int]] | None = None) -> Path:
    """Every day the loader reads: three rows from midnight, unless `seconds` says otherwise."""
    for day in DAMADICS_TRAIN_DAYS + DAMADICS_TEST_DAYS:
        write_damadics_day(folder / f"{day}.txt", (seconds or {}).get(day, range(3)))
    return folder
