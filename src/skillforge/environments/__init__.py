"""Environments: recipes, their inference, and the resolver."""
