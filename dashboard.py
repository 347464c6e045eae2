"""Entry point: `streamlit run dashboard.py` (or `make run`). The frame every page shares: layout,
demo set and navigation (julia_core.views.ui.frame), then the chosen page."""
from julia_core.views.ui import frame

frame().run()
