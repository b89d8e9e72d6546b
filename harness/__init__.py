"""The suite's library: services, drivers, DSL and reporting, in layers.

Data flows one way: feature -> step -> DSL -> driver -> platform -> services.
"""
