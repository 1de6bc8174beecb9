"""Writing a report: rendering, figures, the lean SVG, the search index, results.json, the folder."""
