"""The built-in checks, one module per section, and the generic organisation-specific kinds."""
