"""Apex: the reference AI-agent platform the acceptance suite runs against.

Real code on real Redis, PostgreSQL and ClickHouse. The suite reaches it through a driver
(in-process at L3, over the network at L4); a team with its own platform replaces the driver.
"""
