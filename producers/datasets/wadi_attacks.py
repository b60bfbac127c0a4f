"""The attacks of WADI A1 (9-11 October 2017) as published by iTrust, in Singapore time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ATTACKS", "SOURCE", "Attack"]

# Source: the attack description table that iTrust (SUTD) ships with the dataset,
# "WADI.A1_9 Oct 2017/table_WADI.pdf" ("WADI attack description"). It lists 15 attacks; 3 and 4
# ran together in one window, so there are 14 windows. The dataset is not on this machine, so
# the times were taken from two public reproductions of that table and checked against each
# other rather than against the PDF itself:
# - huankoh/CST-GL, generate_data/generate_wadi_data.ipynb: every start and end to the second;
#   it dates attack 9 on 10 Oct, which would fall inside attacks 3-4; it is 11 Oct here.
# - pwwl/ics-anomaly-attribution, data/WADI/process_WADI.py: row numbers of the attack file
#   (row 0 = 9 Oct 2017 18:00:00). For the windows it marks "unchanged" (2, 3-4, 5, 6, 15)
#   they give exactly the times below; it moved the other windows' ends by 1 to 39 seconds to fit
#   what it saw in the data, and it puts attack 9 on 11 Oct.
# So: dates and minutes are solid; where the two disagree, seconds follow CST-GL, i.e. the
# published table, not a relabelling. Ends are inclusive: the row at the end time is attacked.
SOURCE = "iTrust, SUTD: WADI.A1_9 Oct 2017, table_WADI.pdf (WADI attack description)"


@dataclass(frozen=True)
class Attack:
    """One attack window in local (Singapore) time, both ends inclusive."""

    number: str  # as in the table; "3-4" is two attacks in one window
    start: np.datetime64
    end: np.datetime64


def _attack(number: str, day: int, start: str, end: str) -> Attack:
    return Attack(
        number,
        np.datetime64(f"2017-10-{day:02d}T{start}", "s"),
        np.datetime64(f"2017-10-{day:02d}T{end}", "s"),
    )


ATTACKS: tuple[Attack, ...] = (
    _attack("1", 9, "19:25:00", "19:50:16"),
    _attack("2", 10, "10:24:10", "10:34:00"),
    _attack("3-4", 10, "10:55:00", "11:24:00"),
    _attack("5", 10, "11:30:40", "11:44:50"),
    _attack("6", 10, "13:39:30", "13:50:40"),
    _attack("7", 10, "14:48:17", "14:59:55"),
    _attack("8", 10, "17:40:00", "17:49:40"),
    _attack("9", 11, "10:55:00", "10:56:27"),
    _attack("10", 11, "11:17:54", "11:31:20"),
    _attack("11", 11, "11:36:31", "11:47:00"),
    _attack("12", 11, "11:59:00", "12:05:00"),
    _attack("13", 11, "12:07:30", "12:10:52"),
    _attack("14", 11, "12:16:00", "12:25:36"),
    _attack("15", 11, "15:26:30", "15:37:00"),
)
