"""Rules against articles: parse once, evaluate per article, report hits with spans."""

from monitor.match.engine import Hit
from monitor.match.loading import load_rules
from monitor.match.rules import Match, Rule, RuleSet
from monitor.match.schema import SEVERITIES

__all__ = ["SEVERITIES", "Hit", "Match", "Rule", "RuleSet", "load_rules"]
