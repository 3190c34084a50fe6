"""The web console served at ``/console``: login, dashboard, request explorer, extensible pages."""
