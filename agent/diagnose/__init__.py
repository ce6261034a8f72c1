"""Diagnosis: the runbooks (what to read, which signals point to which cause, what to do about it), the
predicate language their signals are written in, the offline scoring of every applicable runbook against the
evidence, and Claude's bounded tool-use loop that must answer in the same validated structure."""
