"""CI for ML code: quality gates (``gyre ci check``), the reuse plan of a change
(``gyre ci plan``) and training submitted per commit (``gyre ci submit``)."""
