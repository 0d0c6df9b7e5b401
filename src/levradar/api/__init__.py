"""HTTP API and dashboard (``levradar serve``)."""
