"""Views: what a person reads: the printed tables and notes, the plot, the report page."""
