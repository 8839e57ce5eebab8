"""Template filters of the strangler's pages."""
