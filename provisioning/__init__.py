"""Configure a Livebox pro, real or emulated, over its management interface."""
