"""The names compliance-review's catalog declares and its tools use: a module of their own, so that loading
the catalog (every function does) does not load the tools' code (only the agents run it)."""

DOCUMENTS = "review_documents"
REPORTS = "compliance_reports"
