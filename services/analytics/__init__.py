"""Analytics: every event projected into DuckDB and the results CSV."""
