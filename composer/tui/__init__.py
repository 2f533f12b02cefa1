"""composer.tui"""
