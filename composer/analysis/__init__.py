"""composer.analysis"""
