"""trade-monitor: an always-on daemon that watches trade and policy news and alerts."""

__version__ = "0.1.0"
