"""Hostile input and slow peers (issue 13): one test per reproduced case, against real local servers and files."""
