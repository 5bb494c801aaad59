"""Rules against articles: parse once, evaluate per article, report hits with spans."""

from monitor.match.engine import Hit
from monitor.match.rules import SEVERITIES, Match, Rule, RuleSet, load_rules

__all__ = ["SEVERITIES", "Hit", "Match", "Rule", "RuleSet", "load_rules"]
