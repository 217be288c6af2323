"""The names cross-bu-reporting's catalog declares and its tools use: a module of their own, so that loading
the catalog (every function does) does not load the tools' code (only the agents run it)."""

BU_A_SALES = "bu_a_sales"
BU_B_SALES = "bu_b_sales"
EXTERNAL_ID_SECRET = "bu_a_external_id"  # noqa: S105 (a secret's name)
