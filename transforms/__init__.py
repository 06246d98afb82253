"""Pure transformations over Arrow tables: parsing, normalizing, deriving, pseudonymizing.

No I/O, no Airflow, no database: everything here takes tables/arrays and returns tables/arrays,
so it is unit-testable and reusable by every dataset.
"""
