"""SIP for the emulator's telephony: message layer, transactions, registrar and call server."""
