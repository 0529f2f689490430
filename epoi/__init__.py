"""epoi: the state e-POI pipeline for X12 811 carrier reports."""

__version__ = "0.1.0"

__all__ = ["__version__"]
