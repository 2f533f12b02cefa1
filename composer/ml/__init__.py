"""composer.ml"""
