"""The code's structure keeps its rules: layers point one way, the map names what exists."""
