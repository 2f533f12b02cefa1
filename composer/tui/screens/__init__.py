"""composer.tui.screens"""
