"""Definition tests share the root conftest's ``write`` fixture."""
