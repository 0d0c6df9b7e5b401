"""Getting data in and out: source importers, canonical file import/export, data-quality reports."""
