"""composer.live"""
