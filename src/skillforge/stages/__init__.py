"""The stages, in the order data flows: mine, analyze, facts, build, validate, export."""
