"""composer.tui.widgets"""
