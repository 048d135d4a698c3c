"""s3lineage: infer PostgreSQL → S3 → Snowflake lineage from logged SQL."""

__version__ = "0.1.0"
