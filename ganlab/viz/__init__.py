"""Figures: Plotly builders, data in and a new go.Figure out; imported by the UI only, never by the engine."""
