"""Lab scenarios and the runner that plays them; also the root `livebox` command."""
