"""The dashboard's face: cached loaders and widgets, figures and tables the pages lay out."""
