"""Figures: Plotly builders, data in and a new go.Figure out; imported by the UI only, never by the engine.

style (colours, the series table, layout), series (numpy maths on tick records), curves (training
curves and metrics), points (2-D data and D's surface), images (grids, PNG, GIF), progress (speed
and ETA text), charts (the registry of Monitor's charts).
"""
