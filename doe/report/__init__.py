"""A campaign's progress for people: plain data, PNG plots and one HTML report.

``campaign_report`` is what ``doe status`` prints; ``report_html`` is the
self-contained page of ``doe report`` and of the service's report link;
``doe.report.plots`` draws the PNGs of both and of the lab page.
"""

from doe.report.data import STATES, Step, campaign_report
from doe.report.html import report_html

__all__ = ["STATES", "Step", "campaign_report", "report_html"]
