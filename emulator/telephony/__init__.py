"""Telephony of the lab: the classic line's exchange, forwarding, registrar and call server."""
