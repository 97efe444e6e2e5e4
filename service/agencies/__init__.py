"""Agencies a reporter can name, each routed to a compartment."""
