"""wirewatch: streaming news ingestion (feeds -> articles -> story clusters)."""

__version__ = "0.1.0"
