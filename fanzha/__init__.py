"""fanzha — an open anti-telecom-fraud center (反诈中心).

Capabilities live in sub-packages (response, tracing, numbers, warning, sim) over
``store`` (operations database), ``analytics`` (Parquet + DuckDB/PySpark) and
``contracts`` (the shapes of the data the center reads).
"""

__version__ = "0.1.0"
