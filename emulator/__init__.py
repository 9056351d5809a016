"""The emulated Livebox pro, its DSL line, its phone lines and the operator network around it."""
