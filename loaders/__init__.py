"""Writing results: staging store (SQLAlchemy), curated Parquet, quarantine zone, batch ledger."""
