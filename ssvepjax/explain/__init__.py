"""Explanations: class-activation maps restricted to selected filters, filter selection, localisation metrics."""
