"""The tutorial's view: a folder's content listing as CSV, in the background."""

from netsight.asynchronous import BaseAsyncView
from Products.CMFCore.utils import getToolByName

import csv
import io


class ExportListing(BaseAsyncView):
    """GET: the form (export_form.pt). POST: the CSV, made in the background."""

    header = ("Title", "URL", "Type", "State", "Modified")
    delimiters = {"comma": ",", "semicolon": ";"}

    def __run__(self, process_id, delimiter="comma"):
        delimiter = self.delimiters.get(delimiter, ",")
        catalog = getToolByName(self.context, "portal_catalog")
        folder = "/".join(self.context.getPhysicalPath())
        brains = catalog(
            path={"query": folder, "depth": 1}, sort_on="getObjPositionInParent"
        )
        total = len(brains)

        response = self.request.response
        response.setHeader("Content-Type", "text/csv; charset=utf-8")
        response.setHeader(
            "Content-Disposition", 'attachment; filename="listing.csv"'
        )
        response.write(self.line(self.header, delimiter))
        for done, brain in enumerate(brains, 1):
            response.write(self.line(self.values(brain), delimiter))
            self.set_progress(
                process_id,
                100 * done / total,
                message=f"Exported {done} of {total} items",
            )
        return None  # the body is what was written

    def values(self, brain):
        """One item's columns, from the catalog's metadata."""
        return (
            brain.Title,
            brain.getURL(),
            brain.portal_type,
            brain.review_state or "",
            brain.modified.ISO8601(),
        )

    def line(self, values, delimiter):
        """One line of CSV, as bytes: ``response.write`` takes bytes."""
        text = io.StringIO()
        csv.writer(text, delimiter=delimiter).writerow(values)
        return text.getvalue().encode("utf-8")
