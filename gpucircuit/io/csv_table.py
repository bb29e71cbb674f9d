"""CSV tables from rows (lists of dicts): numbers at full precision, NaN and None as empty cells,
booleans as true/false."""
from __future__ import annotations

import csv
import io
import math

import numpy as np


def rows_to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """CSV text of ``rows``; columns = ``columns`` or the union of the rows' keys in first-seen order.
    Floats are written with full precision, NaN / None as empty cells, booleans as true/false."""
    if columns is None:
        columns = []
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([csv_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def csv_cell(x, digits: int | None = None) -> str:
    """One value as a CSV cell: None and NaN empty, booleans true/false, ±inf as inf/-inf, floats
    at full precision (``repr``) or rounded to ``digits`` decimals. The one CSV number formatter."""
    if x is None:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x if digits is None else round(x, digits))
    if isinstance(x, np.integer):
        return str(int(x))
    return str(x)
