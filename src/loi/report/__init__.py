"""The HTML report of a run directory (``loi report RUN_DIR``).

>>> write_report("runs/quick")          # doctest: +SKIP  -> runs/quick/report.html
"""

from loi.report.html import REPORT_FILE, build_report, write_report

__all__ = ["REPORT_FILE", "build_report", "write_report"]
