"""The artificial actuator faults of the DAMADICS benchmark at the Lublin sugar factory, 2001."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAULTS", "FAULT_TYPES", "SOURCE", "Fault"]

# Source: the benchmark's description of the Lublin data ("damadics-lublin-data-description",
# with the benchmark definition, https://iair.mchtr.pw.edu.pl/Damadics), table of faults
# introduced on purpose in the plant; Bartys et al., "Introduction to the DAMADICS actuator
# FDI benchmark study", Control Engineering Practice 14 (2006). That table was not opened
# here: the rows below are as public code that loads these files reproduces them. One
# codebase lists all 19 rows; two others list the rows they use (every 9 and 17 November row;
# the start of 13 rows) and agree with it to the second. Sample numbers are seconds after
# midnight, the first column of a day file. Ends are taken as inclusive (one of those codebases
# slices them end-exclusive: one second of difference).
SOURCE = "DAMADICS benchmark, Lublin sugar factory data description (iair.mchtr.pw.edu.pl)"

FAULT_TYPES = {
    "f16": "positioner supply pressure drop",
    "f17": "unexpected pressure change across the valve",
    "f18": "fully or partly opened bypass valve",
    "f19": "flow rate sensor fault",
}


@dataclass(frozen=True)
class Fault:
    """One fault: its day file, the actuator (1-3) it was put on, and its seconds of day."""

    item: int  # row of the published table
    day: str  # DDMMYYYY, the day file's name
    actuator: int
    kind: str  # a key of FAULT_TYPES
    start: int
    end: int  # inclusive


FAULTS: tuple[Fault, ...] = (
    Fault(1, "30102001", 1, "f18", 58800, 59800),
    Fault(2, "09112001", 1, "f16", 57275, 57550),
    Fault(3, "09112001", 1, "f18", 58830, 58930),
    Fault(4, "09112001", 1, "f18", 58520, 58625),
    Fault(5, "17112001", 1, "f18", 54600, 54700),
    Fault(6, "17112001", 1, "f16", 56670, 56770),
    Fault(7, "20112001", 1, "f17", 37780, 38400),
    Fault(8, "17112001", 2, "f17", 53780, 53794),
    Fault(9, "17112001", 2, "f17", 54193, 54215),
    Fault(10, "17112001", 2, "f19", 55482, 55517),
    Fault(11, "17112001", 2, "f19", 55977, 56015),
    Fault(12, "17112001", 2, "f19", 57030, 57072),
    Fault(13, "20112001", 2, "f17", 44400, 86399),
    Fault(14, "30102001", 3, "f18", 57340, 57890),
    Fault(15, "09112001", 3, "f16", 60650, 60700),
    Fault(16, "09112001", 3, "f16", 60870, 60960),
    Fault(17, "17112001", 3, "f16", 57475, 57530),
    Fault(18, "17112001", 3, "f16", 57675, 57800),
    Fault(19, "17112001", 3, "f19", 58150, 58325),
)
