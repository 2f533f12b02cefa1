"""composer.io"""
